package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/net/idna"

	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// dns: the whole mail posture of a domain, and the helpers the DNS
// commands share (spf.go, dkim.go and dmarc.go hold the others). Engines
// live in pkg/dnsauth; the resolver flags in flags.go.

// dnsProgress shows, on a terminal only, how many queries a run has made
// once it takes longer than a second; it returns the function that clears
// the line.
// runDNS is the end of every DNS command: the resolver from the flags, the
// run's deadline, the progress line (when progress names what is checked),
// the engine, the report. The engine's error is returned as it is.
func runDNS(ctx context.Context, env *Env, g *Global, rf *resolverFlags, progress string, engine func(context.Context, *resolver.Resolver) (*report.Report, error)) error {
	r, err := rf.resolver(env, g)
	if err != nil {
		return err
	}
	ctx, cancel := g.context(ctx)
	defer cancel()
	stop := func() {}
	if progress != "" {
		stop = dnsProgress(env, g, r, progress)
	}
	rep, err := engine(ctx, r)
	stop()
	if err != nil {
		return err
	}
	return g.emit(env, rep)
}

func dnsProgress(env *Env, g *Global, r *resolver.Resolver, what string) func() {
	p := newProgress(env, g.format)
	p.Tick(func() string { return fmt.Sprintf("mailprobe: checking %s (%d DNS queries)", what, r.Stats().Queries) })
	return p.Done
}

// domainArg validates a DOMAIN argument; an internationalized name is
// asked in its ASCII (punycode) form, as DNS holds it.
func domainArg(s string) (string, error) {
	if err := checkDomainName(s); err != nil { // names.go: lengths (issue 15)
		return "", err
	}
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

type dnsOptions struct {
	Global
	resolverFlags
	Domain     string
	Selectors  []string
	DKIMSweep  bool
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
	f.BoolVar(&o.DKIMSweep, "dkim-sweep", true, "without --selector, look for DKIM keys at a list of common selectors (batch turns this off)")
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
		Selectors: cleanSelectors(o.Selectors), NoDKIMSweep: !o.DKIMSweep, IP: ip, Sender: o.Sender, Helo: o.Helo,
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
	return runDNS(cmd.Context(), env, &o.Global, &o.resolverFlags, domain, func(ctx context.Context, r *resolver.Resolver) (*report.Report, error) {
		ao.Resolver, ao.Domain = r, domain
		return dnsauth.Audit(ctx, ao)
	})
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
