package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mailprobe/mailprobe/pkg/smtpclient"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

// sendClientFlags are smtp send's swaks-style flags (docs/smtp-send.md
// maps each swaks option to one of them): stop points, protocol,
// transport, TLS control, AUTH, envelope extensions, output habits.
type sendClientFlags struct {
	QuitAfter, DropAfter string
	Protocol             string
	Socket, Pipe         string
	Proxy                string
	ProxySource          string
	ProxyDest            string
	XClient              []string
	XClientForce         bool

	TLSCert, TLSKey string
	TLSMin, TLSMax  string
	TLSCiphers      string
	SNI             string
	Fingerprints    []string
	PeerChain       bool

	AuthOptional   bool
	OAuthTokenEnv  string
	OAuthTokenFile string
	OAuthTokenCmd  string

	DSNRet, DSNEnvID, DSNNotify string
	DSNORcpt                    bool
	BodyType                    string
	SMTPUTF8                    bool
	RequireTLSExt               bool
	BDAT                        bool
	PipelineOn, PipelineForce   bool
	PipelineOff                 bool

	Silent int
	Dump   bool
}

func addSendClientFlags(c *cobra.Command, s *sendClientFlags) {
	f := c.Flags()
	stops := strings.Join(smtpprobe.StopStages, ", ")
	f.StringVar(&s.QuitAfter, "quit-after", "", "stop after this stage and say QUIT: "+stops+" (data: after DATA's 354, closing since nothing else may follow it)")
	f.StringVar(&s.DropAfter, "drop-after", "", "stop after this stage and close the connection without QUIT: "+stops+" (data: right after the message's final dot, without reading the reply)")
	completeValues(c, "quit-after", smtpprobe.StopStages...)
	completeValues(c, "drop-after", smtpprobe.StopStages...)
	f.StringVar(&s.Protocol, "protocol", "esmtp", "esmtp (EHLO, HELO when refused), smtp (HELO only) or lmtp (LHLO, a reply per recipient; default port 24)")
	completeValues(c, "protocol", "esmtp", "smtp", "lmtp")
	f.StringVar(&s.Socket, "socket", "", "connect to this UNIX socket instead of HOST:PORT (e.g. Dovecot's LMTP socket)")
	f.StringVar(&s.Pipe, "pipe", "", "run this command (with /bin/sh -c) and speak SMTP on its stdin/stdout, e.g. \"/usr/sbin/sendmail -bs\"")
	f.StringVar(&s.Proxy, "proxy", "", "send a PROXY protocol header first: v1 or v2")
	f.StringVar(&s.ProxySource, "proxy-source", "", "client address in the PROXY header, IP:PORT (default: this connection's)")
	f.StringVar(&s.ProxyDest, "proxy-dest", "", "server address in the PROXY header, IP:PORT (default: this connection's)")
	f.StringArrayVar(&s.XClient, "xclient", nil, "Postfix XCLIENT attribute ATTR=VALUE (repeatable: ADDR=, NAME=, HELO=, LOGIN=, PROTO=...); sent only when offered")
	f.BoolVar(&s.XClientForce, "xclient-force", false, "send XCLIENT even when the server does not offer it")

	f.StringVar(&s.TLSCert, "tls-cert", "", "PEM client certificate to present (with --tls-key)")
	f.StringVar(&s.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&s.TLSMin, "tls-min", "", "lowest TLS version to offer: 1.0, 1.1, 1.2 or 1.3")
	f.StringVar(&s.TLSMax, "tls-max", "", "highest TLS version to offer: 1.0, 1.1, 1.2 or 1.3")
	f.StringVar(&s.TLSCiphers, "tls-cipher", "", "comma-separated TLS 1.0–1.2 cipher suites to offer (Go or IANA names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)")
	f.StringVar(&s.SNI, "sni", "", "server name to send in the TLS ClientHello when it differs from the name the certificate is checked against")
	f.StringArrayVar(&s.Fingerprints, "tls-fingerprint", nil, "trust exactly the certificate with this SHA-256 fingerprint, sha256:HEX (repeatable; any other is refused)")
	f.BoolVar(&s.PeerChain, "tls-get-peer-cert", false, "report the negotiated TLS details and the server's certificate chain (PEM included)")

	f.BoolVar(&s.AuthOptional, "auth-optional", false, "try AUTH, but send without it when it fails or is not offered")
	f.StringVar(&s.OAuthTokenEnv, "oauth2-token-env", "", "OAuth 2.0 access token from this environment variable (AUTH OAUTHBEARER or XOAUTH2)")
	f.StringVar(&s.OAuthTokenFile, "oauth2-token-file", "", "OAuth 2.0 access token from the first line of this file")
	f.StringVar(&s.OAuthTokenCmd, "oauth2-token-cmd", "", "OAuth 2.0 access token printed by this command (run with /bin/sh -c, 30 s at most), e.g. \"gcloud auth print-access-token\"")

	f.StringVar(&s.DSNRet, "dsn-ret", "", "DSN RET=: full or hdrs (RFC 3461; only when DSN is offered)")
	f.StringVar(&s.DSNEnvID, "dsn-envid", "", "DSN ENVID= envelope id")
	f.StringVar(&s.DSNNotify, "dsn-notify", "", "DSN NOTIFY= for every recipient: never, or a comma list of success, failure, delay")
	f.BoolVar(&s.DSNORcpt, "dsn-orcpt", false, "DSN ORCPT=rfc822;ADDRESS for every recipient")
	f.StringVar(&s.BodyType, "body-type", "", "MAIL BODY=: 7bit, 8bitmime or binarymime (binarymime sends with BDAT; each only when offered)")
	f.BoolVar(&s.SMTPUTF8, "smtputf8", false, "send SMTPUTF8 even when the addresses are ASCII (it is sent for non-ASCII addresses whenever offered)")
	f.BoolVar(&s.RequireTLSExt, "requiretls", false, "the REQUIRETLS MAIL parameter (RFC 8689): the message must travel over TLS all the way; not sent when not offered")
	f.BoolVar(&s.BDAT, "bdat", false, "send the message with BDAT (CHUNKING, RFC 3030) when offered, instead of DATA")
	// PIPELINING is used whenever offered; these change that.
	f.BoolVar(&s.PipelineOn, "pipeline", false, "require PIPELINING: without it the message is not sent (MAIL, RCPT and DATA go in one write)")
	f.BoolVar(&s.PipelineForce, "force-pipeline", false, "pipeline MAIL, RCPT and DATA even when PIPELINING is not offered")
	f.BoolVar(&s.PipelineOff, "no-pipeline", false, "never pipeline: one command, one reply")

	f.CountVar(&s.Silent, "silent", "--silent: print the report only when the exit code is not 0; --silent=2: print nothing (the exit code says it)")
	f.BoolVar(&s.Dump, "dump", false, "print the effective options (secrets masked) and exit without connecting")
}

var tlsVersions = map[string]uint16{"1.0": tls.VersionTLS10, "1.1": tls.VersionTLS11, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13,
	"tls1": tls.VersionTLS10, "tls1.0": tls.VersionTLS10, "tlsv1": tls.VersionTLS10, "tls1.1": tls.VersionTLS11, "tlsv1.1": tls.VersionTLS11,
	"tls1.2": tls.VersionTLS12, "tlsv1.2": tls.VersionTLS12, "tls1.3": tls.VersionTLS13, "tlsv1.3": tls.VersionTLS13}

// clientOptions validates the flags and builds the engine's options.
func (s *sendClientFlags) clientOptions(env *Env, ctx context.Context) (smtpprobe.ClientOptions, error) {
	var o smtpprobe.ClientOptions
	for _, p := range []struct{ flag, v string }{{"--quit-after", s.QuitAfter}, {"--drop-after", s.DropAfter}} {
		if p.v != "" && !contains(smtpprobe.StopStages, strings.ToLower(p.v)) {
			return o, usageErrorf("%s must be one of %s, not %q", p.flag, strings.Join(smtpprobe.StopStages, ", "), p.v)
		}
	}
	if s.QuitAfter != "" && s.DropAfter != "" {
		return o, usageErrorf("give --quit-after or --drop-after, not both")
	}
	o.QuitAfter, o.DropAfter = strings.ToLower(s.QuitAfter), strings.ToLower(s.DropAfter)
	switch p := strings.ToLower(s.Protocol); p {
	case "esmtp", "":
	case "smtp", "lmtp":
		o.Protocol = p
	default:
		return o, usageErrorf("--protocol must be esmtp, smtp or lmtp, not %q", s.Protocol)
	}
	if s.Socket != "" && s.Pipe != "" {
		return o, usageErrorf("give --socket or --pipe, not both")
	}
	o.Socket, o.Pipe = s.Socket, s.Pipe
	if s.Proxy != "" {
		h := smtpclient.ProxyHeader{}
		switch strings.ToLower(s.Proxy) {
		case "v1", "1":
			h.Version = 1
		case "v2", "2":
			h.Version = 2
		default:
			return o, usageErrorf("--proxy must be v1 or v2, not %q", s.Proxy)
		}
		var err error
		if h.Source, err = parseAddrPort("--proxy-source", s.ProxySource); err != nil {
			return o, err
		}
		if h.Dst, err = parseAddrPort("--proxy-dest", s.ProxyDest); err != nil {
			return o, err
		}
		o.Proxy = &h
	} else if s.ProxySource != "" || s.ProxyDest != "" {
		return o, usageErrorf("--proxy-source and --proxy-dest need --proxy v1 or v2")
	}
	for _, a := range s.XClient {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" || strings.ContainsAny(a, " \t\r\n") || v == "" {
			return o, usageErrorf("--xclient %q: want ATTR=VALUE without spaces (xtext-encode a value that needs them)", a)
		}
		o.XClient = append(o.XClient, strings.ToUpper(k)+"="+v)
	}
	o.XClientForce = s.XClientForce
	if s.XClientForce && len(s.XClient) == 0 {
		return o, usageErrorf("--xclient-force needs --xclient ATTR=VALUE")
	}

	if (s.TLSCert == "") != (s.TLSKey == "") {
		return o, usageErrorf("--tls-cert and --tls-key go together")
	}
	if s.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey)
		if err != nil {
			return o, usageErrorf("--tls-cert/--tls-key: %v", err)
		}
		o.ClientCert = &cert
	}
	for _, p := range []struct {
		flag, v string
		dst     *uint16
	}{{"--tls-min", s.TLSMin, &o.MinVersion}, {"--tls-max", s.TLSMax, &o.MaxVersion}} {
		if p.v == "" {
			continue
		}
		v, ok := tlsVersions[strings.ToLower(p.v)]
		if !ok {
			return o, usageErrorf("%s must be 1.0, 1.1, 1.2 or 1.3, not %q", p.flag, p.v)
		}
		*p.dst = v
	}
	if o.MinVersion != 0 && o.MaxVersion != 0 && o.MinVersion > o.MaxVersion {
		return o, usageErrorf("--tls-min is above --tls-max")
	}
	if s.TLSCiphers != "" {
		ids, err := parseCiphers(s.TLSCiphers)
		if err != nil {
			return o, err
		}
		o.CipherSuites = ids
	}
	o.SNI = s.SNI
	for _, fp := range s.Fingerprints {
		h := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(fp, "sha256:"), "SHA256:"))
		h = strings.NewReplacer(":", "", " ", "").Replace(h)
		if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
			return o, usageErrorf("--tls-fingerprint %q: want sha256: and 64 hex digits (openssl x509 -noout -fingerprint -sha256)", fp)
		}
		o.Fingerprints = append(o.Fingerprints, h)
	}
	o.PeerChain = s.PeerChain
	o.AuthOptional = s.AuthOptional

	switch strings.ToLower(s.DSNRet) {
	case "", "full", "hdrs":
		o.DSNRet = strings.ToUpper(s.DSNRet)
	default:
		return o, usageErrorf("--dsn-ret must be full or hdrs, not %q", s.DSNRet)
	}
	if strings.ContainsAny(s.DSNEnvID, " \t\r\n") || len(s.DSNEnvID) > 100 {
		return o, usageErrorf("--dsn-envid: at most 100 characters, no spaces")
	}
	o.DSNEnvID = s.DSNEnvID
	if s.DSNNotify != "" {
		parts := strings.Split(strings.ToUpper(s.DSNNotify), ",")
		for _, p := range parts {
			if !contains([]string{"NEVER", "SUCCESS", "FAILURE", "DELAY"}, p) || (p == "NEVER" && len(parts) > 1) {
				return o, usageErrorf("--dsn-notify must be never, or a comma list of success, failure and delay, not %q", s.DSNNotify)
			}
		}
		o.DSNNotify = strings.Join(parts, ",")
	}
	o.DSNORcpt = s.DSNORcpt
	switch b := strings.ToUpper(s.BodyType); b {
	case "", "7BIT", "8BITMIME", "BINARYMIME":
		o.Body = b
	default:
		return o, usageErrorf("--body-type must be 7bit, 8bitmime or binarymime, not %q", s.BodyType)
	}
	o.SMTPUTF8, o.RequireTLS, o.Chunking = s.SMTPUTF8, s.RequireTLSExt, s.BDAT
	n := 0
	for _, p := range []struct {
		set  bool
		mode string
	}{{s.PipelineOn, "on"}, {s.PipelineForce, "force"}, {s.PipelineOff, "off"}} {
		if p.set {
			o.Pipeline = p.mode
			n++
		}
	}
	if n > 1 {
		return o, usageErrorf("give one of --pipeline, --force-pipeline and --no-pipeline")
	}
	if s.Silent < 0 || s.Silent > 3 {
		return o, usageErrorf("--silent must be 1, 2 or 3")
	}
	return o, nil
}

func parseAddrPort(flag, v string) (netip.AddrPort, error) {
	if v == "" {
		return netip.AddrPort{}, nil
	}
	ap, err := netip.ParseAddrPort(v)
	if err != nil {
		return ap, usageErrorf("%s %q: want IP:PORT ([v6]:PORT)", flag, v)
	}
	return ap, nil
}

// parseCiphers reads a comma list of cipher suite names, Go's
// (tls.CipherSuites and the insecure ones) being IANA's.
func parseCiphers(list string) ([]uint16, error) {
	known := map[string]uint16{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		known[cs.Name] = cs.ID
	}
	var ids []uint16
	for _, n := range strings.Split(list, ",") {
		n = strings.ToUpper(strings.TrimSpace(n))
		id, ok := known[n]
		if !ok {
			names := make([]string, 0, len(known))
			for k := range known {
				names = append(names, k)
			}
			sort.Strings(names)
			return nil, usageErrorf("--tls-cipher: unknown cipher suite %q; known: %s", n, strings.Join(names, ", "))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// oauthToken reads the OAuth 2.0 access token from the one source given;
// "" when none was. The token is registered as a secret before anything
// else can print it; a command's output and error text never reach the
// user (only its exit status does).
func (s *sendClientFlags) oauthToken(ctx context.Context, env *Env, user string) (string, error) {
	n := 0
	for _, v := range []string{s.OAuthTokenEnv, s.OAuthTokenFile, s.OAuthTokenCmd} {
		if v != "" {
			n++
		}
	}
	if n == 0 {
		return "", nil
	}
	if n > 1 {
		return "", usageErrorf("give only one of --oauth2-token-env, --oauth2-token-file and --oauth2-token-cmd")
	}
	tok, err := OAuthToken(ctx, env, s.OAuthTokenEnv, s.OAuthTokenFile, s.OAuthTokenCmd)
	if err != nil {
		return "", err
	}
	env.addSecret(user, tok)
	return tok, nil
}

// OAuthToken reads a token from an environment variable, a file's first
// line, or a command's first line of output (run with /bin/sh -c, 30 s at
// most, 64 KiB of output read at most, stderr discarded: a cloud CLI's
// chatter is not the token).
func OAuthToken(ctx context.Context, env *Env, varName, file, command string) (string, error) {
	var tok string
	switch {
	case varName != "":
		tok = env.IO.Getenv(varName)
		if tok == "" {
			return "", usageErrorf("--oauth2-token-env %s: the variable is empty or not set", varName)
		}
	case file != "":
		cf := credFlags{User: "token", PasswordFile: file}
		t, err := cf.read(env)
		if err != nil {
			return "", usageErrorf("--oauth2-token-file: %v", strings.TrimPrefix(err.Error(), "--password-file"))
		}
		tok = t
	case command != "":
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, "/bin/sh", "-c", command)
		var out bytes.Buffer
		cmd.Stdout = &limitedWriter{w: &out, n: 64 << 10}
		cmd.Stderr = io.Discard
		cmd.WaitDelay = time.Second
		err := cmd.Run()
		if cctx.Err() == context.DeadlineExceeded {
			return "", usageErrorf("--oauth2-token-cmd: the command did not finish within 30 s")
		}
		if err != nil {
			// Its output may hold a token: say only how it ended.
			return "", usageErrorf("--oauth2-token-cmd: the command failed (%v)", exitStatus(err))
		}
		tok, _, _ = strings.Cut(out.String(), "\n")
		tok = strings.TrimSpace(tok)
		if tok == "" {
			return "", usageErrorf("--oauth2-token-cmd: the command printed no token")
		}
	}
	if strings.ContainsAny(tok, " \t\x00\x01") {
		return "", usageErrorf("the OAuth 2.0 token contains spaces or control characters: it is not a bearer token")
	}
	return tok, nil
}

func exitStatus(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	return "could not run it"
}

// limitedWriter keeps the first n bytes and drops the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	k := len(p)
	if l.n <= 0 {
		return k, nil
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	l.n -= len(p)
	_, err := l.w.Write(p)
	return k, err
}

// dumpOptions prints every flag of c with its effective value, secrets
// masked, one per line (swaks' --dump).
func dumpOptions(w io.Writer, c *cobra.Command, extra [][2]string) error {
	var b strings.Builder
	b.WriteString("mailprobe smtp send: effective options (nothing was sent)\n")
	for _, kv := range extra {
		fmt.Fprintf(&b, "  %-22s %s\n", kv[0], kv[1])
	}
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" {
			return
		}
		v := f.Value.String()
		if isSecretFlag("--"+f.Name) && f.Changed {
			v = "********"
		}
		if v == "" || v == "[]" {
			v = "-"
		}
		mark := ""
		if f.Changed {
			mark = " (set)"
		}
		fmt.Fprintf(&b, "  --%-20s %s%s\n", f.Name, v, mark)
	})
	_, err := io.WriteString(w, b.String())
	return err
}

// oauthFlags take an OAuth 2.0 access token for a login, from one of an
// environment variable, a file or a command (prefix "" for the main
// login, "imap-" for reset send's mailbox).
type oauthFlags struct {
	Env, File, Cmd string
	Mech           string
	prefix         string
}

func addOAuthFlags(c *cobra.Command, o *oauthFlags, prefix, what string) {
	o.prefix = prefix
	f := c.Flags()
	f.StringVar(&o.Env, prefix+"oauth2-token-env", "", "OAuth 2.0 access token for "+what+" from this environment variable (instead of a password)")
	f.StringVar(&o.File, prefix+"oauth2-token-file", "", "OAuth 2.0 access token for "+what+" from the first line of this file")
	f.StringVar(&o.Cmd, prefix+"oauth2-token-cmd", "", "OAuth 2.0 access token for "+what+" printed by this command (/bin/sh -c, 30 s at most), e.g. \"gcloud auth print-access-token\"")
	f.StringVar(&o.Mech, prefix+"oauth2-mech", "", "XOAUTH2 or OAUTHBEARER (default: OAUTHBEARER when offered, else XOAUTH2)")
}

// token resolves the token (registered as a secret), "" when no flag was
// given; hasPassword says a password flag was given too, which is a
// usage error.
func (o *oauthFlags) token(ctx context.Context, env *Env, user string, hasPassword bool) (string, error) {
	n := 0
	for _, v := range []string{o.Env, o.File, o.Cmd} {
		if v != "" {
			n++
		}
	}
	p := "--" + o.prefix
	switch {
	case n == 0:
		if o.Mech != "" {
			return "", usageErrorf("%soauth2-mech needs a token (%soauth2-token-env, -file or -cmd)", p, p)
		}
		return "", nil
	case n > 1:
		return "", usageErrorf("give only one of %soauth2-token-env, %soauth2-token-file and %soauth2-token-cmd", p, p, p)
	case hasPassword:
		return "", usageErrorf("give a password or an OAuth 2.0 token, not both")
	case user == "":
		return "", usageErrorf("an OAuth 2.0 token needs the user it was issued for (%suser)", p)
	}
	if m := strings.ToUpper(o.Mech); m != "" && !smtpclient.IsOAuth(m) {
		return "", usageErrorf("%soauth2-mech must be XOAUTH2 or OAUTHBEARER, not %q", p, o.Mech)
	}
	o.Mech = strings.ToUpper(o.Mech)
	tok, err := OAuthToken(ctx, env, o.Env, o.File, o.Cmd)
	if err != nil {
		return "", err
	}
	env.addSecret(user, tok)
	return tok, nil
}
