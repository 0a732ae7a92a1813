package cli

import (
	"net/netip"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/net/publicsuffix"

	"github.com/mailprobe/mailprobe/pkg/audit"
	"github.com/mailprobe/mailprobe/pkg/imapaudit"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
)

type serverAuditOptions struct {
	Global
	tlsFlags
	credFlags
	resolverFlags
	Ports        []string
	Parallel     int
	ScanParallel int
	Helo         string
	LocalAddr    string
	NoTLSScan    bool
	NoVulns      bool
	NoPTR        bool
	DefaultCreds bool
	Accounts     []string
	Domain       string
}

// newServerAuditCmd is `mailprobe audit HOST`: every mail port of a
// server in one report (pkg/audit).
func newServerAuditCmd(env *Env) *cobra.Command {
	o := &serverAuditOptions{}
	c := &cobra.Command{
		Use:   "audit HOST",
		Short: "The whole mail server in one report: every mail port, its TLS, plaintext logins, exposure",
		Long: `Audit every mail port of HOST in one report: which of 25, 465, 587, 143,
993, 110, 995 and 4190 (ManageSieve) accept connections, then on each open
port the check its role calls for — smtp check and the TLS scan on SMTP
ports, imap audit and pop3 audit (with theirs) on the mailbox ports, a
ManageSieve check on 4190 — and the exposure a security review asks
about: a mailbox port that takes passwords in the clear, submission
without TLS, POP3 enabled, ManageSieve offering PLAIN before TLS.

The report starts with the port table (one stage per port: protocol,
TLS, whether a password can be sent before TLS, TLS versions, disclosed
software, the port's worst finding), then the findings, worst first,
each named by its port ("imap:143/greeting"). One exit code for the
whole server: 1 when any port has a finding at --fail-on, 3 when a port
could not be checked.

--port PORT/SERVICE audits other ports (2525/submission, 10993/imaps);
services: ` + audit.ServiceNames + `.
Nothing intrusive runs by default: no lockout test, no relay or smuggling
probe, and a password is tried only with --user, over TLS.

--default-credentials tries a short list of default and lab passwords
(docs/audit.md) on one mailbox port, over TLS only, for the accounts
--accounts allows (globs such as 'test@example.org' or '*@example.org';
the local part is tried as LOCAL@--domain), and stops at the first sign
of rate limiting or lockout. A pair that logs in is a failure; the
password is never printed.`,
		Example: `  mailprobe audit mail.example.com
  mailprobe audit mail.example.com --port 25 --port 587 --port 993
  mailprobe audit mail.example.com --port 2525/submission --format sarif > audit.sarif`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := o.options(env, args[0])
			if err != nil {
				return err
			}
			if env.inspected(opts) {
				return nil
			}
			ctx, cancel := o.Global.context(cmd.Context())
			defer cancel()
			p := newProgress(env, o.Global.format)
			opts.Progress = p.Ticking("audit "+opts.Host, "probing ports")
			rep, err := audit.Audit(ctx, opts)
			p.Done()
			if err != nil {
				return &exitError{code: report.ExitUsage, err: err}
			}
			return o.Global.emit(env, rep)
		},
	}
	addGlobalFlags(c, &o.Global)
	addTLSFlags(c, &o.tlsFlags)
	addCredFlags(c, &o.credFlags)
	addResolverFlags(c, &o.resolverFlags)
	f := c.Flags()
	f.StringSliceVarP(&o.Ports, "port", "p", nil, "PORT or PORT/SERVICE to audit (repeatable; default 25, 465, 587, 143, 993, 110, 995, 4190)")
	f.IntVar(&o.Parallel, "parallel", audit.DefaultParallel, "ports checked at once (each opens connections of its own)")
	f.IntVar(&o.ScanParallel, "scan-parallel", 2, "connections of each port's TLS scan")
	f.StringVar(&o.Helo, "helo", "", "EHLO name on the SMTP ports (default: this machine's name when fully qualified)")
	f.StringVar(&o.LocalAddr, "local-addr", "", "source IP address to connect from")
	f.BoolVar(&o.NoTLSScan, "no-tls-scan", false, "skip the enumeration of TLS versions and cipher suites on each port")
	f.BoolVar(&o.NoVulns, "no-vulns", false, "skip the TLS vulnerability checks on the SMTP ports")
	f.BoolVar(&o.NoPTR, "no-ptr", false, "skip the reverse DNS check of the SMTP server")
	f.BoolVar(&o.DefaultCreds, "default-credentials", false, "try the short list of default passwords (docs/audit.md) for the accounts --accounts allows, over TLS")
	f.StringSliceVar(&o.Accounts, "accounts", nil, "accounts --default-credentials may try, as globs (repeatable): 'test@example.org', '*@example.org'")
	f.StringVar(&o.Domain, "domain", "", "mail domain of the accounts --default-credentials tries (default: HOST's registrable domain, mail.example.org → example.org)")
	return c
}

func (o *serverAuditOptions) options(env *Env, target string) (audit.Options, error) {
	var opts audit.Options
	if err := o.Global.validate(); err != nil {
		return opts, err
	}
	host, port, err := netx.SplitHostPort(target, 0)
	if err != nil {
		return opts, usageErrorf("%v", err)
	}
	if port != 0 {
		return opts, usageErrorf("audit takes a host, not a port (%s): name ports with --port", target)
	}
	var svcs []audit.Service
	seen := map[int]bool{}
	for _, v := range o.Ports {
		s, err := audit.ParseService(v)
		if err != nil {
			return opts, usageErrorf("%v", err)
		}
		if seen[s.Port] {
			return opts, usageErrorf("--port %d given twice", s.Port)
		}
		seen[s.Port] = true
		svcs = append(svcs, s)
	}
	if o.Parallel < 1 || o.Parallel > 16 {
		return opts, usageErrorf("--parallel must be between 1 and 16")
	}
	if o.ScanParallel < 1 || o.ScanParallel > 16 {
		return opts, usageErrorf("--scan-parallel must be between 1 and 16")
	}
	pool, err := o.tlsFlags.pool()
	if err != nil {
		return opts, err
	}
	password, err := o.credFlags.resolve(env)
	if err != nil {
		return opts, err
	}
	n, err := o.resolverFlags.network(env, &o.Global, o.LocalAddr)
	if err != nil {
		return opts, err
	}
	var creds []imapaudit.Credential
	switch {
	case o.DefaultCreds && len(o.Accounts) == 0:
		return opts, usageErrorf("--default-credentials needs --accounts: the accounts (yours) it may try, e.g. --accounts '*@example.org'")
	case !o.DefaultCreds && len(o.Accounts) > 0:
		return opts, usageErrorf("--accounts is for --default-credentials")
	case o.DefaultCreds:
		domain := o.Domain
		if domain == "" {
			domain = parentDomain(host)
		}
		if creds, err = audit.DefaultCredentials(o.Accounts, domain); err != nil {
			return opts, usageErrorf("%v", err)
		}
		if len(creds) == 0 {
			return opts, usageErrorf("--accounts %s allows none of the default accounts (%s)", strings.Join(o.Accounts, ","), defaultAccounts(domain))
		}
	}
	opts = audit.Options{
		Host: host, Services: svcs, Parallel: o.Parallel, ScanParallel: o.ScanParallel,
		ServerName: o.ServerName, RootCAs: pool, Insecure: o.Insecure, Helo: heloName(o.Helo),
		User: o.User, Password: password, NoTLSScan: o.NoTLSScan, NoVulns: o.NoVulns, DefaultCredentials: creds,
		Dial: n.Dial, LookupIP: n.lookupIP(), Timeouts: netx.Timeouts{Total: o.Global.Timeout}, Now: env.Now,
	}
	if !o.NoPTR && n.Resolver != nil {
		opts.Resolver = n.Resolver
	}
	return opts, nil
}

// parentDomain is the mail domain guessed from a server name: its
// registrable domain under the Public Suffix List (mail.example.org and
// mx1.eu.example.org → example.org, mail.example.co.uk →
// example.co.uk), the same organizational domain DMARC uses; "" for an
// IP address or a name that is itself a public suffix (localhost).
func parentDomain(host string) string {
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return ""
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	od, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return ""
	}
	return od
}

// defaultAccounts lists the accounts the default pairs would be tried
// as, for the error that names none.
func defaultAccounts(domain string) string {
	seen := map[string]bool{}
	var out []string
	for _, p := range audit.DefaultPairs {
		a := p.Local
		if domain != "" {
			a += "@" + domain
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return strings.Join(out, ", ")
}
