package cli

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/tlsprobe"
)

type tlsOptions struct {
	Global
	tlsFlags
	tlsModeFlags
	resolverFlags
	Target string
	// startTLSProto is the old --starttls PROTO (smtp, imap, pop3, auto
	// or none), kept for one release.
	startTLSProto string
	Quick         bool
	NoVulns       bool
	CertWarnDays  int
	Profile       string
	Parallel      int
	Role          string
	Helo          string
	LocalAddr     string
}

func newTLSCmd(env *Env) *cobra.Command {
	o := &tlsOptions{}
	c := &cobra.Command{
		Use:   "tls HOST[:PORT]",
		Short: "Audit the TLS of a mail port: protocols, cipher suites, key exchange, certificate, STARTTLS injection",
		Long: `Audit the TLS of an SMTP, IMAP or POP3 port.

Every protocol version from SSL 3.0 to TLS 1.3 and every registered cipher
suite is tried with hand-built ClientHellos, so suites Go itself cannot speak
(RC4, 3DES, export, NULL, anonymous, DHE...) are found and named by their IANA
and OpenSSL names. Also reported: the server's cipher order, its key exchange
groups and DH size, the certificate, and whether commands pipelined after
STARTTLS leak into the TLS session (CVE-2011-0411).

--tls auto picks by port (25, 587, 2525: SMTP STARTTLS; 143: IMAP; 110:
POP3; 465, 993, 995: implicit TLS) and otherwise by what the server does (a
greeting, or silence and a TLS handshake). --tls starttls on another port
speaks the protocol of --role (mx and submission: SMTP), else the one the
greeting shows; --tls implicit starts with the handshake. The port (or
--role) also sets how strict the grading is: on a port-25 MX, TLS is
opportunistic and old protocols or suites are information; on submission,
IMAP and POP3, where passwords travel, they are warnings and failures.`,
		Example: `  mailprobe tls mail.example.com:993
  mailprobe tls mail.example.com:587 --quick
  mailprobe tls mx.example.com            # port 25, graded as an MX
  mailprobe tls 192.0.2.10:10143 --tls starttls --role imap --servername mail.example.com
  mailprobe tls mail.example.com:995 --format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Target = args[0]
			opts, err := o.engineOptions(env)
			if err != nil {
				return err
			}
			if env.inspected(opts) {
				return nil
			}
			ctx, cancel := o.Global.context(cmd.Context())
			defer cancel()
			p := newProgress(env, o.Global.format)
			tlsProgress(p, &opts)
			rep, err := tlsprobe.Scan(ctx, opts)
			p.Done()
			if err != nil {
				return &exitError{code: report.ExitIncomplete, err: err}
			}
			return o.Global.emit(env, rep)
		},
	}
	addGlobalFlags(c, &o.Global)
	addTLSFlags(c, &o.tlsFlags)
	addTLSModeFlags(c, &o.tlsModeFlags, false)
	addResolverFlags(c, &o.resolverFlags)
	addRoleFlag(c, &o.Role, netx.RoleMX, netx.RoleSubmission, netx.RoleIMAP, netx.RolePOP3)
	f := c.Flags()
	f.BoolVar(&o.Quick, "quick", false, "one handshake: negotiated protocol and suite, certificate, STARTTLS behaviour; no enumeration")
	f.BoolVar(&o.NoVulns, "no-vulns", false, "skip the vulnerability checks (Heartbleed, CCS injection, compression, TLS_FALLBACK_SCSV, renegotiation, Ticketbleed, DROWN)")
	f.StringVar(&o.Profile, "profile", "", "also grade the port under a guideline: internet.nl (NCSC-NL good/sufficient/phase out/insufficient) or bsi (TR-03108-1)")
	f.IntVar(&o.CertWarnDays, "cert-warn-days", 21, "warn when the certificate expires within this many days (a failure within 7, or within this many when fewer)")
	f.IntVar(&o.Parallel, "parallel", tlsprobe.DefaultParallel, "connections at once (1-32); mail servers rate-limit clients, so keep it small")
	deprecate(c, env, "starttls", "use --tls starttls (with --role imap or pop3 for those protocols) or --tls implicit", false, func(v string) error {
		if _, err := tlsprobe.ParseProto(v); err != nil {
			return err
		}
		o.startTLSProto = v
		return nil
	})
	f.StringVar(&o.Helo, "helo", "", "name to send in EHLO (default: this machine's name if it is fully qualified)")
	f.StringVar(&o.LocalAddr, "local-addr", "", "source IP address to connect from")
	return c
}

// proto is what the scan speaks before TLS: --tls implicit none at all,
// --tls starttls the protocol of --role when it names one, auto the port's
// or the greeting's. The old --starttls PROTO, when given, says it itself.
func (o *tlsOptions) proto(role netx.Role) (tlsprobe.Proto, error) {
	if o.startTLSProto != "" {
		return tlsprobe.ParseProto(o.startTLSProto)
	}
	mode, err := o.tlsModeFlags.mode()
	if err != nil {
		return "", err
	}
	switch mode {
	case netx.TLSNone:
		return "", usageErrorf("--tls none: a TLS audit needs TLS (auto, starttls or implicit)")
	case netx.TLSImplicit:
		return tlsprobe.ProtoNone, nil
	case netx.TLSStartTLS:
		switch role {
		case netx.RoleIMAP:
			return tlsprobe.ProtoIMAP, nil
		case netx.RolePOP3:
			return tlsprobe.ProtoPOP3, nil
		case netx.RoleMX, netx.RoleSubmission:
			return tlsprobe.ProtoSMTP, nil
		}
	}
	return tlsprobe.ProtoAuto, nil
}

// defaultTLSPort is the port when HOST has none: the STARTTLS port of
// the protocol, 25 for auto (the MX a domain's mail arrives on).
func defaultTLSPort(p tlsprobe.Proto) int {
	switch p {
	case tlsprobe.ProtoIMAP:
		return 143
	case tlsprobe.ProtoPOP3:
		return 110
	}
	return 25
}

func (o *tlsOptions) engineOptions(env *Env) (tlsprobe.Options, error) {
	var opts tlsprobe.Options
	if err := o.Global.validate(); err != nil {
		return opts, err
	}
	nrole, err := parseRoleFlag(o.Role, netx.RoleMX, netx.RoleSubmission, netx.RoleIMAP, netx.RolePOP3)
	if err != nil {
		return opts, err
	}
	proto, err := o.proto(nrole)
	if err != nil {
		return opts, err
	}
	host, port, err := netx.SplitHostPort(o.Target, 0)
	if err != nil {
		return opts, usageErrorf("%v", err)
	}
	if port == 0 {
		if proto == tlsprobe.ProtoNone {
			return opts, usageErrorf("--tls implicit needs a port in %s (465, 993, 995...)", o.Target)
		}
		port = defaultTLSPort(proto)
	}
	role := tlsprobe.Role(nrole)
	if o.Parallel < 1 || o.Parallel > 32 {
		return opts, usageErrorf("--parallel must be between 1 and 32, not %d", o.Parallel)
	}
	pool, err := o.tlsFlags.pool()
	if err != nil {
		return opts, err
	}
	n, err := o.resolverFlags.network(env, &o.Global, o.LocalAddr)
	if err != nil {
		return opts, err
	}
	return tlsprobe.Options{
		Host: host, Port: port, StartTLS: proto, Role: role,
		ServerName: o.ServerName, RootCAs: pool, Insecure: o.Insecure, Helo: heloName(o.Helo),
		Quick: o.Quick, NoVulns: o.NoVulns, Parallel: o.Parallel, CertWarnDays: o.CertWarnDays, Profile: o.Profile,
		Dial: n.Dial, Timeouts: netx.Timeouts{Total: o.Global.Timeout}, Now: env.Now,
	}, nil
}

// tlsProgress counts a scan's handshakes on the progress line, at most
// ten times a second (a full scan makes hundreds).
func tlsProgress(p *progress, opts *tlsprobe.Options) {
	if p == nil {
		return
	}
	target := netx.HostPort(opts.Host, opts.Port)
	var mu sync.Mutex
	var last time.Time
	opts.Progress = func(pr tlsprobe.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); now.Sub(last) >= 100*time.Millisecond {
			last = now
			p.Set(fmt.Sprintf("%s: %d handshakes (%s)", target, pr.Handshakes, strings.TrimSpace(pr.Phase)))
		}
	}
}
