package cli

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/net/idna"

	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// The DNS mail authentication commands: dns (the whole posture), spf,
// dkim check|verify|keygen, dmarc. Engines live in pkg/dnsauth; the
// resolver in pkg/resolver.

// resolverFlags choose and tune the DNS resolver.
type resolverFlags struct {
	Resolver   string
	DNSTimeout time.Duration
	Retries    int
}

func addResolverFlags(c *cobra.Command, rf *resolverFlags) {
	f := c.Flags()
	f.StringVar(&rf.Resolver, "resolver", "", "DNS server to ask, HOST[:PORT]; every name is then resolved there and nowhere else (default: the operating system's configuration)")
	f.DurationVar(&rf.DNSTimeout, "dns-timeout", 2*time.Second, "deadline of one DNS query attempt")
	f.IntVar(&rf.Retries, "dns-retries", 1, "times a timed-out DNS query is sent again")
}

// resolver builds the run's resolver. A bad --resolver is a usage error;
// an unreadable resolv.conf means nothing can run (exit 3).
func (rf *resolverFlags) resolver(env *Env, g *Global) (*resolver.Resolver, error) {
	if rf.DNSTimeout <= 0 {
		return nil, usageErrorf("--dns-timeout must be positive")
	}
	if rf.Retries < 0 || rf.Retries > 5 {
		return nil, usageErrorf("--dns-retries must be between 0 and 5")
	}
	if rf.Resolver != "" {
		// Checked first and on its own: a typo here must not become a
		// page of DNS failures (or, worse, a lookup of the typo).
		if _, err := resolver.ParseServer(rf.Resolver); err != nil {
			return nil, &exitError{code: report.ExitUsage, err: fmt.Errorf("--resolver: %v", err), oneLine: true}
		}
	}
	retries := rf.Retries
	if retries == 0 {
		retries = -1 // resolver.Options: negative means none
	}
	o := resolver.Options{Server: rf.Resolver, Timeout: rf.DNSTimeout, Retries: retries, Dial: env.Dial}
	if g.Timeout > 0 && g.Timeout < netx.DefaultTimeouts.DNS {
		o.QueryTimeout = g.Timeout
	}
	r, err := resolver.New(o)
	if err != nil {
		if rf.Resolver != "" {
			return nil, usageErrorf("%v", err)
		}
		return nil, &exitError{code: report.ExitIncomplete, err: err}
	}
	return r, nil
}

// dnsProgress shows, on a terminal only, how many queries a run has made
// once it takes longer than a second; it returns the function that clears
// the line.
func dnsProgress(env *Env, g *Global, r *resolver.Resolver, what string) func() {
	p := newProgress(env, g.format)
	p.Tick(func() string { return fmt.Sprintf("mailprobe: checking %s (%d DNS queries)", what, r.Stats().Queries) })
	return p.Done
}

// domainArg validates a DOMAIN argument; an internationalized name is
// asked in its ASCII (punycode) form, as DNS holds it.
func domainArg(s string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if a, err := idna.Lookup.ToASCII(d); err == nil {
		d = a
	} else if strings.ContainsFunc(d, func(r rune) bool { return r > 0x7f }) {
		return "", usageErrorf("%q is not a valid internationalized domain name: %v", s, err)
	}
	if d == "" || strings.ContainsAny(d, " /@:[]") || strings.Contains(d, "..") {
		return "", usageErrorf("%q is not a domain name", s)
	}
	return d, nil
}

func ipFlag(s, flag string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	ip, ok := resolver.ParseIP(s)
	if !ok {
		return netip.Addr{}, usageErrorf("%s %q is not an IP address", flag, s)
	}
	return ip, nil
}

// ---------------------------------------------------------------- dns

type dnsOptions struct {
	Global
	resolverFlags
	Domain     string
	Selectors  []string
	IP         string
	Sender     string
	Helo       string
	DNSBL      bool
	DNSBLLists []string
	Connect    bool
	DANEPort   int
	CAFile     string
	MTASTSURL  string
}

func newDNSCmd(env *Env) *cobra.Command {
	o := &dnsOptions{}
	c := &cobra.Command{
		Use:   "dns DOMAIN",
		Short: "The mail posture of a domain: MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, DANE, BIMI, reverse DNS",
		Long: `Check everything DNS says about a domain's mail, at once, and report it
worst first, grouped by area:

  mx       MX records (null MX, CNAME targets, address literals, addresses)
  spf      the SPF record and its include tree, with the lookups each branch costs
  dkim     DKIM keys at --selector, or at a list of common selectors
  dmarc    policy discovery (RFC 9989 tree walk), tags, report destinations
  ptr      forward-confirmed reverse DNS of the MX addresses (and --ip)
  dnsbl    blocklists, only with --dnsbl
  mta-sts  the _mta-sts record and the HTTPS policy, matched against the MX
  tls-rpt  the _smtp._tls reporting record
  dane     TLSA records of each MX (and with --connect, the certificate served
           at every address of each MX; --dane-port for an MX on another port)
  dnssec   whether answers carry the AD bit of a validating resolver
  bimi     the default._bimi record

Every question is asked once, however many checks need it. With --ip the
SPF policy is also evaluated for that address. DNS failures (SERVFAIL,
timeouts) make the run incomplete: exit code 3.

Every name is resolved by mailprobe's resolver (--resolver), including the
MTA-STS policy host (mta-sts.DOMAIN) and the MX addresses --connect dials;
-v prints the STARTTLS dialogues of --connect.`,
		Example: `  mailprobe dns example.com
  mailprobe dns example.com --resolver 127.0.0.1:5353 --selector s1 --selector s2
  mailprobe dns example.com --ip 203.0.113.7 --dnsbl
  mailprobe dns example.com --connect            # also match DANE TLSA against each MX
  mailprobe dns example.com --connect --dane-port 2525 -v   # an MX on port 2525, with the dialogues
  mailprobe dns example.com --format json | jq '.findings[] | select(.severity=="fail")'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Domain = args[0]
			return o.run(cmd, env)
		},
	}
	addGlobalFlags(c, &o.Global)
	addResolverFlags(c, &o.resolverFlags)
	f := c.Flags()
	f.StringSliceVarP(&o.Selectors, "selector", "s", nil, "DKIM selector to check (repeat or comma-separate; default: a list of common selectors)")
	f.StringVar(&o.IP, "ip", "", "a sending IP: evaluate SPF for it and check its reverse DNS (and blocklists with --dnsbl)")
	f.StringVar(&o.Sender, "from", "", "MAIL FROM address for the SPF evaluation with --ip (default postmaster@DOMAIN)")
	alias(c, env, "sender", "from")
	f.StringVar(&o.Helo, "helo", "", "HELO name for the SPF evaluation with --ip")
	f.BoolVar(&o.DNSBL, "dnsbl", false, "look the MX addresses (and --ip) up in DNS blocklists (sends them to the list operators)")
	f.StringSliceVar(&o.DNSBLLists, "dnsbl-list", nil, "blocklist zones to ask with --dnsbl (default: "+strings.Join(dnsauth.DefaultDNSBLs, ", ")+")")
	f.BoolVar(&o.Connect, "connect", false, "connect to every address of each MX (port 25, or --dane-port), STARTTLS, and match the certificate against its TLSA records")
	f.IntVar(&o.DANEPort, "dane-port", 25, "SMTP port of the MX hosts for DANE: TLSA records are looked up at _PORT._tcp.MX and --connect dials it")
	f.StringVar(&o.CAFile, "ca-file", "", "PEM CA certificates to trust for the MTA-STS policy fetch instead of the system roots")
	f.StringVar(&o.MTASTSURL, "mta-sts-url", "", "fetch the MTA-STS policy from this URL instead of https://mta-sts.DOMAIN/.well-known/mta-sts.txt ({domain} is replaced), to test a policy before publishing it")
	return c
}

func (o *dnsOptions) options(env *Env) (dnsauth.AuditOptions, error) {
	var ao dnsauth.AuditOptions
	ip, err := ipFlag(o.IP, "--ip")
	if err != nil {
		return ao, err
	}
	if (o.Sender != "" || o.Helo != "") && !ip.IsValid() {
		return ao, usageErrorf("--from and --helo need --ip")
	}
	if len(o.DNSBLLists) > 0 && !o.DNSBL {
		return ao, usageErrorf("--dnsbl-list needs --dnsbl")
	}
	for _, l := range o.DNSBLLists {
		if _, err := domainArg(l); err != nil {
			return ao, usageErrorf("--dnsbl-list: %q is not a zone name", l)
		}
	}
	if o.DANEPort < 1 || o.DANEPort > 65535 {
		return ao, usageErrorf("--dane-port must be between 1 and 65535")
	}
	httpOpts, err := httpOptions(o.CAFile, o.MTASTSURL, o.Timeout)
	if err != nil {
		return ao, err
	}
	httpOpts.Dial = env.Dial
	ao = dnsauth.AuditOptions{
		Selectors: cleanSelectors(o.Selectors), IP: ip, Sender: o.Sender, Helo: o.Helo,
		DNSBL: o.DNSBL, DNSBLLists: o.DNSBLLists, HTTP: httpOpts, Now: env.Now,
		DANE: dnsauth.DANEOptions{Connect: o.Connect, Port: o.DANEPort, Dial: env.Dial, Helo: o.Helo, Now: env.Now,
			Timeouts: netx.Timeouts{Total: o.Timeout}},
	}
	return ao, nil
}

func (o *dnsOptions) run(cmd *cobra.Command, env *Env) error {
	if err := o.Global.validate(); err != nil {
		return err
	}
	domain, err := domainArg(o.Domain)
	if err != nil {
		return err
	}
	ao, err := o.options(env)
	if err != nil {
		return err
	}
	if env.inspected(ao) {
		return nil
	}
	r, err := o.resolverFlags.resolver(env, &o.Global)
	if err != nil {
		return err
	}
	ctx, cancel := o.Global.context(cmd.Context())
	defer cancel()
	stop := dnsProgress(env, &o.Global, r, domain)
	ao.Resolver, ao.Domain = r, domain
	rep, err := dnsauth.Audit(ctx, ao)
	stop()
	if err != nil {
		return err
	}
	return o.Global.emit(env, rep)
}

func cleanSelectors(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// httpOptions builds the HTTPS client of the MTA-STS fetch.
func httpOptions(caFile, urlTemplate string, timeout time.Duration) (dnsauth.HTTPOptions, error) {
	var o dnsauth.HTTPOptions
	if timeout > 0 && timeout < 10*time.Second {
		o.Timeout = timeout
	}
	if caFile != "" {
		tf := tlsFlags{CAFile: caFile}
		pool, err := tf.pool()
		if err != nil {
			return o, err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig.RootCAs = pool
		o.Client = &http.Client{Transport: tr}
	}
	if urlTemplate != "" {
		if !strings.HasPrefix(urlTemplate, "https://") {
			return o, usageErrorf("--mta-sts-url must be an https:// URL: MTA-STS policies are only served over HTTPS")
		}
		o.PolicyURL = func(domain string) string { return strings.ReplaceAll(urlTemplate, "{domain}", domain) }
	}
	return o, nil
}

// ---------------------------------------------------------------- spf

type spfOptions struct {
	Global
	resolverFlags
	Domain string
	IP     string
	Sender string
	Helo   string
}

func newSPFCmd(env *Env) *cobra.Command {
	o := &spfOptions{}
	c := &cobra.Command{
		Use:   "spf DOMAIN",
		Short: "Check an SPF policy: the include tree and its lookups, or evaluate it for an IP",
		Long: `Check the SPF record of DOMAIN the way a receiver evaluates it (RFC 7208):
every include and redirect is followed, the DNS lookups are counted per branch,
and the term that makes the 11th lookup (a permerror at every receiver) is
named. Also reported: +all, ?all or no all, the deprecated ptr mechanism, void
lookups, include loops, records that are missing or duplicated.

With --ip, check_host() itself runs for that address: the result (pass, fail,
softfail, neutral, none, permerror, temperror), the term that decided and the
explanation. The identity is --from (default postmaster@DOMAIN); --helo
feeds the %{h} macro.`,
		Example: `  mailprobe spf example.com
  mailprobe spf example.com --ip 203.0.113.7
  mailprobe spf example.com --ip 2001:db8::25 --from bounce@example.com --helo mail.example.com
  mailprobe spf example.com --format json | jq .facts.spf.tree`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Domain = args[0]
			if err := o.Global.validate(); err != nil {
				return err
			}
			domain, err := domainArg(o.Domain)
			if err != nil {
				return err
			}
			ip, err := ipFlag(o.IP, "--ip")
			if err != nil {
				return err
			}
			if (o.Sender != "" || o.Helo != "") && !ip.IsValid() {
				return usageErrorf("--from and --helo need --ip")
			}
			so := dnsauth.SPFOptions{Domain: domain, IP: ip, Sender: o.Sender, Helo: o.Helo, Now: env.Now}
			if env.inspected(so) {
				return nil
			}
			r, err := o.resolverFlags.resolver(env, &o.Global)
			if err != nil {
				return err
			}
			ctx, cancel := o.Global.context(cmd.Context())
			defer cancel()
			stop := dnsProgress(env, &o.Global, r, domain)
			so.Resolver = r
			rep, err := dnsauth.SPFReport(ctx, so)
			stop()
			if err != nil {
				return err
			}
			return o.Global.emit(env, rep)
		},
	}
	addGlobalFlags(c, &o.Global)
	addResolverFlags(c, &o.resolverFlags)
	f := c.Flags()
	f.StringVar(&o.IP, "ip", "", "evaluate check_host() for this client IP")
	f.StringVar(&o.Sender, "from", "", "MAIL FROM address (default postmaster@DOMAIN)")
	alias(c, env, "sender", "from")
	f.StringVar(&o.Helo, "helo", "", "HELO/EHLO name (for the %{h} macro)")
	return c
}

// ---------------------------------------------------------------- dkim

func newDKIMCmd(env *Env) *cobra.Command {
	c := group(&cobra.Command{
		Use:   "dkim",
		Short: "Check DKIM keys, verify signed messages, generate keys",
	})
	c.AddCommand(newDKIMCheckCmd(env), newDKIMVerifyCmd(env), newDKIMKeygenCmd(env))
	return c
}

type dkimCheckOptions struct {
	Global
	resolverFlags
	Domain    string
	Selectors []string
}

func newDKIMCheckCmd(env *Env) *cobra.Command {
	o := &dkimCheckOptions{}
	c := &cobra.Command{
		Use:   "check DOMAIN",
		Short: "Fetch and judge the DKIM keys of a domain",
		Long: `Fetch the DKIM key records at SELECTOR._domainkey.DOMAIN and judge them:
key type and size (RSA under 1024 bits fails, under 2048 warns; ed25519),
testing mode (t=y), revoked keys (empty p=), syntax.

Without --selector a list of common selectors is tried concurrently; DKIM
selectors cannot be listed, so a key that is not found there may still
exist: take the selector from the s= of a DKIM-Signature header.`,
		Example: `  mailprobe dkim check example.com --selector google
  mailprobe dkim check example.com -s selector1,selector2
  mailprobe dkim check example.com`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Global.validate(); err != nil {
				return err
			}
			domain, err := domainArg(args[0])
			if err != nil {
				return err
			}
			sels := cleanSelectors(o.Selectors)
			for _, s := range sels {
				if strings.ContainsAny(s, " /@:") {
					return usageErrorf("--selector %q is not a selector", s)
				}
			}
			r, err := o.resolverFlags.resolver(env, &o.Global)
			if err != nil {
				return err
			}
			ctx, cancel := o.Global.context(cmd.Context())
			defer cancel()
			rep, err := dnsauth.DKIMCheckReport(ctx, dnsauth.DKIMCheckOptions{Resolver: r, Domain: domain, Selectors: sels, Now: env.Now})
			if err != nil {
				return err
			}
			return o.Global.emit(env, rep)
		},
	}
	addGlobalFlags(c, &o.Global)
	addResolverFlags(c, &o.resolverFlags)
	c.Flags().StringSliceVarP(&o.Selectors, "selector", "s", nil, "selector to check (repeat or comma-separate; default: common selectors)")
	return c
}

type dkimVerifyOptions struct {
	Global
	resolverFlags
}

func newDKIMVerifyCmd(env *Env) *cobra.Command {
	o := &dkimVerifyOptions{}
	c := &cobra.Command{
		Use:   "verify FILE.eml",
		Short: "Verify every DKIM signature of a message, with the reason for each failure",
		Long: `Verify every DKIM-Signature of a message (RFC 6376, with RFC 8301: rsa-sha1
and RSA keys under 1024 bits do not verify; RFC 8463 ed25519). Each
signature is reported with its domain, selector, algorithm, key and result:
pass, fail (the message changed after signing, or the key does not match),
permerror (unusable signature or key), temperror (key lookup failed).

FILE may be "-" for standard input. Files with LF line ends (as saved by
most mail programs) are read as the CRLF message that was signed.`,
		Example: `  mailprobe dkim verify message.eml
  mailprobe dkim verify - < message.eml --format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Global.validate(); err != nil {
				return err
			}
			msg, err := readMessage(env, args[0])
			if err != nil {
				return err
			}
			r, err := o.resolverFlags.resolver(env, &o.Global)
			if err != nil {
				return err
			}
			ctx, cancel := o.Global.context(cmd.Context())
			defer cancel()
			rep, err := dnsauth.DKIMVerifyReport(ctx, dnsauth.DKIMVerifyOptions{Resolver: r, Name: args[0], Message: msg, Now: env.Now})
			if err != nil {
				return usageErrorf("%s: %v", args[0], err)
			}
			return o.Global.emit(env, rep)
		},
	}
	addGlobalFlags(c, &o.Global)
	addResolverFlags(c, &o.resolverFlags)
	return c
}

// maxMessageSize bounds a message read for verification.
const maxMessageSize = 64 << 20

func readMessage(env *Env, name string) ([]byte, error) {
	var rd io.Reader
	if name == "-" {
		rd = env.IO.In
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		defer f.Close()
		rd = f
	}
	b, err := io.ReadAll(io.LimitReader(rd, maxMessageSize+1))
	if err != nil {
		return nil, usageErrorf("reading %s: %v", name, err)
	}
	if len(b) > maxMessageSize {
		return nil, usageErrorf("%s is larger than %d MiB", name, maxMessageSize>>20)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, usageErrorf("%s is empty", name)
	}
	return b, nil
}

type dkimKeygenOptions struct {
	Type     string
	Bits     int
	Selector string
	Domain   string
	Out      string
	Format   string
}

func newDKIMKeygenCmd(env *Env) *cobra.Command {
	o := &dkimKeygenOptions{}
	c := &cobra.Command{
		Use:   "keygen",
		Short: "Generate a DKIM key pair and print the DNS record to publish",
		Long: `Generate a DKIM signing key (RSA, 2048 bits by default, or ed25519),
write the private key as PKCS#8 PEM to --out (mode 0600, never overwritten),
and print the TXT record to publish at SELECTOR._domainkey.DOMAIN, split into
strings of at most 255 octets as DNS requires.

The key file is what --dkim-key of smtp send and reset send read. ed25519
(RFC 8463) is not yet verified by every receiver: sign with RSA too.`,
		Example: `  mailprobe dkim keygen --selector s2024 --domain example.com
  mailprobe dkim keygen --type ed25519 --selector ed2024 --domain example.com --out ed2024.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(env) },
	}
	f := c.Flags()
	f.StringVar(&o.Type, "type", "rsa", "key type: rsa or ed25519")
	f.IntVar(&o.Bits, "bits", 2048, "RSA key size (2048 to 4096; RFC 8301 asks for at least 2048)")
	f.StringVar(&o.Selector, "selector", "mailprobe", "selector (s=) the key is published under")
	f.StringVar(&o.Domain, "domain", "example.com", "signing domain (d=)")
	f.StringVar(&o.Out, "out", "", "private key file (default SELECTOR.pem)")
	f.StringVar(&o.Format, "format", "text", "output: text (the zone-file line) or json")
	return c
}

func (o *dkimKeygenOptions) run(env *Env) error {
	if o.Format != "text" && o.Format != "json" {
		return usageErrorf("--format must be text or json for keygen")
	}
	domain, err := domainArg(o.Domain)
	if err != nil {
		return err
	}
	if o.Selector == "" || strings.ContainsAny(o.Selector, " /@:") {
		return usageErrorf("--selector %q is not a selector", o.Selector)
	}
	var key crypto.Signer
	var pubTag string
	switch o.Type {
	case "rsa":
		if o.Bits < 2048 || o.Bits > 4096 {
			return usageErrorf("--bits must be between 2048 and 4096 (RFC 8301 §3.2 asks for at least 2048)")
		}
		k, err := rsa.GenerateKey(rand.Reader, o.Bits)
		if err != nil {
			return &exitError{code: report.ExitIncomplete, err: err}
		}
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return &exitError{code: report.ExitIncomplete, err: err}
		}
		key, pubTag = k, "v=DKIM1; k=rsa; p="+base64.StdEncoding.EncodeToString(der)
	case "ed25519":
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return &exitError{code: report.ExitIncomplete, err: err}
		}
		// RFC 8463 §4.2: the bare 32-octet key, not SubjectPublicKeyInfo.
		key, pubTag = priv, "v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(pub)
	default:
		return usageErrorf("--type must be rsa or ed25519")
	}
	// The record must parse as what it claims to be.
	if _, err := dnsauth.ParseDKIMKey(pubTag); err != nil {
		return &exitError{code: report.ExitIncomplete, err: fmt.Errorf("generated record does not parse: %v", err)}
	}
	out := o.Out
	if out == "" {
		out = o.Selector + ".pem"
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return &exitError{code: report.ExitIncomplete, err: err}
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return usageErrorf("%s exists; choose another --out (a key file is never overwritten)", out)
		}
		return usageErrorf("%v", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return &exitError{code: report.ExitIncomplete, err: err}
	}
	if err := f.Close(); err != nil {
		return &exitError{code: report.ExitIncomplete, err: err}
	}
	// The key must load the way the signing commands load it.
	if _, err := loadDKIMSigner(out); err != nil {
		return &exitError{code: report.ExitIncomplete, err: fmt.Errorf("the written key does not load: %v", err)}
	}
	name := o.Selector + "._domainkey." + domain
	if o.Format == "json" {
		enc := json.NewEncoder(env.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]string{"name": name, "type": "TXT", "record": pubTag, "zone_line": zoneLine(name, pubTag), "private_key_file": out, "selector": o.Selector, "domain": domain, "key_type": o.Type})
	}
	fmt.Fprintf(env.IO.Out, "; publish this record, then sign with --dkim-key %s --dkim-selector %s --dkim-domain %s\n", out, o.Selector, domain)
	fmt.Fprintln(env.IO.Out, zoneLine(name, pubTag))
	fmt.Fprintf(env.IO.ErrOut, "mailprobe: private key written to %s (keep it secret)\n", out)
	return nil
}

// zoneLine writes a TXT record in zone-file syntax, its text split into
// character-strings of at most 255 octets.
func zoneLine(name, txt string) string {
	var parts []string
	for len(txt) > 255 {
		parts = append(parts, `"`+txt[:255]+`"`)
		txt = txt[255:]
	}
	parts = append(parts, `"`+txt+`"`)
	return name + ". IN TXT ( " + strings.Join(parts, " ") + " )"
}

// ---------------------------------------------------------------- dmarc

type dmarcOptions struct {
	Global
	resolverFlags
	Message  string
	IP       string
	MailFrom string
	Helo     string
}

func newDMARCCmd(env *Env) *cobra.Command {
	o := &dmarcOptions{}
	c := &cobra.Command{
		Use:   "dmarc [DOMAIN]",
		Short: "Check a DMARC policy, or evaluate DMARC for a message",
		Long: `Discover the DMARC policy of DOMAIN (RFC 9989's DNS tree walk, which
replaced RFC 7489's public suffix list; the PSL answer is compared) and check
every tag, the policy's strength (p=none without reports is a warning),
sp/np, t=y, pct, alignment modes, and that external report addresses
authorize the domain (RFC 7489 §7.1).

With --message, the message's DKIM signatures are verified and DMARC is
evaluated for its From domain (DOMAIN may then be omitted): aligned or not,
and what the policy asks the receiver to do. Add --ip (and --from) to
include SPF in the evaluation.`,
		Example: `  mailprobe dmarc example.com
  mailprobe dmarc --message received.eml
  mailprobe dmarc --message received.eml --ip 203.0.113.7 --from bounce@example.com`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Global.validate(); err != nil {
				return err
			}
			domain := ""
			if len(args) == 1 {
				d, err := domainArg(args[0])
				if err != nil {
					return err
				}
				domain = d
			} else if o.Message == "" {
				return usageErrorf("give a DOMAIN, or --message FILE")
			}
			ip, err := ipFlag(o.IP, "--ip")
			if err != nil {
				return err
			}
			if (ip.IsValid() || o.MailFrom != "" || o.Helo != "") && o.Message == "" {
				return usageErrorf("--ip, --from and --helo go with --message")
			}
			if o.MailFrom != "" && !ip.IsValid() {
				return usageErrorf("--from needs --ip")
			}
			if ip.IsValid() && o.MailFrom == "" && o.Helo == "" {
				return usageErrorf("--ip needs --from (or --helo for a bounce) to know which SPF policy to evaluate")
			}
			dopts := dnsauth.DMARCOptions{IP: ip, MailFrom: o.MailFrom, Helo: o.Helo, Now: env.Now}
			if o.Message != "" {
				if dopts.Message, err = readMessage(env, o.Message); err != nil {
					return err
				}
			}
			if env.inspected(dopts) {
				return nil
			}
			r, err := o.resolverFlags.resolver(env, &o.Global)
			if err != nil {
				return err
			}
			ctx, cancel := o.Global.context(cmd.Context())
			defer cancel()
			dopts.Resolver, dopts.Domain = r, domain
			rep, err := dnsauth.DMARCReport(ctx, dopts)
			if err != nil {
				return usageErrorf("%s: %v", o.Message, err)
			}
			return o.Global.emit(env, rep)
		},
	}
	addGlobalFlags(c, &o.Global)
	addResolverFlags(c, &o.resolverFlags)
	f := c.Flags()
	f.StringVar(&o.Message, "message", "", "evaluate DMARC for this message (FILE.eml, or - for stdin)")
	f.StringVar(&o.IP, "ip", "", "with --message: the IP the message came from, to evaluate SPF")
	f.StringVar(&o.MailFrom, "from", "", "with --ip: the MAIL FROM address (default: the HELO identity)")
	alias(c, env, "mail-from", "from")
	f.StringVar(&o.Helo, "helo", "", "with --ip: the HELO name")
	return c
}
