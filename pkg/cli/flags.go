package cli

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/render"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/suite"
)

// This file is the one place where flags are named, in PRODUCT.md's
// vocabulary (its "Flag vocabulary" table): one name for one thing on
// every command that has the thing. Old spellings live here too, as
// hidden aliases that say once what replaces them.

// envelopeFlags are the envelope of a command that sends or probes one:
// --from and --to (repeatable).
type envelopeFlags struct {
	From string
	To   []string
}

// addEnvelopeFlags adds --from and --to with the command's own wording of
// what they do there.
func addEnvelopeFlags(c *cobra.Command, e *envelopeFlags, fromUsage, toUsage string) {
	f := c.Flags()
	f.StringVar(&e.From, "from", "", fromUsage)
	if toUsage != "" {
		f.StringSliceVar(&e.To, "to", nil, toUsage)
	}
}

// tlsModeFlags are --tls auto|starttls|implicit|none and --require-tls.
type tlsModeFlags struct {
	TLS        string
	RequireTLS bool
}

const tlsModeUsage = "how the connection gets TLS: auto (from the port, then from what the server does), starttls, implicit or none"

// addTLSModeFlags adds --tls, and --require-tls where the engine can
// refuse to go on without TLS (withRequire).
func addTLSModeFlags(c *cobra.Command, t *tlsModeFlags, withRequire bool) {
	f := c.Flags()
	f.StringVar(&t.TLS, "tls", string(netx.TLSAuto), tlsModeUsage)
	completeValues(c, "tls", netx.TLSModes...)
	if withRequire {
		f.BoolVar(&t.RequireTLS, "require-tls", false, "stop rather than go on without TLS (no AUTH, no message)")
	}
}

// mode parses --tls.
func (t *tlsModeFlags) mode() (netx.TLSMode, error) {
	return parseTLSModeFlag("--tls", t.TLS)
}

func parseTLSModeFlag(flag, v string) (netx.TLSMode, error) {
	m, err := netx.ParseTLSMode(v)
	if err != nil {
		return "", usageErrorf("%s: %v", flag, err)
	}
	return m, nil
}

// addRoleFlag adds --role with the roles that make sense for the command.
func addRoleFlag(c *cobra.Command, role *string, roles ...netx.Role) {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	c.Flags().StringVar(role, "role", "", "what the port is for: "+orList(names)+" (default: from the port)")
	completeValues(c, "role", names...)
}

// parseRoleFlag reads --role and checks it is one the command knows.
func parseRoleFlag(v string, roles ...netx.Role) (netx.Role, error) {
	r, err := netx.ParseRole(v)
	if err != nil {
		return "", usageErrorf("--role: %v", err)
	}
	if r == "" {
		return r, nil
	}
	names := make([]string, len(roles))
	for i, ok := range roles {
		if r == ok {
			return r, nil
		}
		names[i] = string(ok)
	}
	return "", usageErrorf("--role must be %s here, not %q", orList(names), v)
}

func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// completeValues makes the shell complete a flag's value from a fixed
// list. The list is kept on the flag (an annotation) and registered with
// cobra by completeFlagValues, only for the tree that may complete.
func completeValues(c *cobra.Command, flag string, values ...string) {
	_ = c.Flags().SetAnnotation(flag, valuesAnnotation, values)
}

const valuesAnnotation = "mailprobe_values"

// addGlobalFlags adds the output and exit-code flags every check command has.
func addGlobalFlags(c *cobra.Command, g *Global) {
	f := c.Flags()
	f.StringVar(&g.Format, "format", "text", "output format: text, json, junit or sarif")
	f.StringVar(&g.FailOn, "fail-on", "fail", "lowest severity that makes the exit code 1: info, warn or fail")
	f.DurationVar(&g.Timeout, "timeout", 0, "overall deadline for the whole run (0: only the per-stage deadlines)")
	f.BoolVarP(&g.Transcript, "transcript", "v", false, "print the protocol transcript (credentials are always redacted)")
	f.BoolVar(&g.NoColor, "no-color", false, "never style the output (NO_COLOR is honoured too)")
	f.StringVar(&g.SARIFBaseline, "sarif-baseline", "", "a previous run's SARIF file: --format sarif marks each result new, unchanged or updated against it")
	completeValues(c, "format", string(render.Text), string(render.JSON), string(render.JUnit), string(render.SARIF))
	completeValues(c, "fail-on", "info", "warn", "fail")
}

// ---------------------------------------------------------------- old spellings

// deprecatedFlag is a hidden old spelling: setting it runs set (which
// writes what the new flag would) and prints the notice once.
type deprecatedFlag struct {
	typ    string
	value  string
	set    func(string) error
	notice func()
}

func (d *deprecatedFlag) String() string { return d.value }
func (d *deprecatedFlag) Type() string   { return d.typ }
func (d *deprecatedFlag) Set(s string) error {
	d.notice()
	d.value = s
	return d.set(s)
}

// deprecate adds old as a hidden flag of c. Setting it prints one line on
// stderr naming what replaces it (instead), then calls set with the value.
// A bool old flag (isBool) takes no value.
func deprecate(c *cobra.Command, env *Env, old, instead string, isBool bool, set func(string) error) {
	d := &deprecatedFlag{typ: "string", set: set, notice: func() { env.deprecated("--"+old, instead) }}
	fl := c.Flags().VarPF(d, old, "", "deprecated: "+instead)
	if isBool {
		d.typ, fl.NoOptDefVal = "bool", "true"
	}
	fl.Hidden = true
}

// alias adds old as a hidden spelling of the flag newName, which must
// already be defined: the same value, through the same pflag.Value.
func alias(c *cobra.Command, env *Env, old, newName string) {
	nf := c.Flags().Lookup(newName)
	if nf == nil {
		panic("alias of undefined flag --" + newName) // a programming error, found by any test of the command
	}
	deprecate(c, env, old, "use --"+newName, nf.Value.Type() == "bool", nf.Value.Set)
	c.Flags().Lookup(old).Value.(*deprecatedFlag).typ = nf.Value.Type()
}

// aliasTo adds old as a hidden flag that sets newName to a fixed value
// whatever the old flag is given ("--no-starttls" is "--tls none").
func aliasBoolTo(c *cobra.Command, env *Env, old, newName, value string) {
	nf := c.Flags().Lookup(newName)
	deprecate(c, env, old, fmt.Sprintf("use --%s %s", newName, value), true, func(s string) error {
		if s == "false" {
			return nil
		}
		return nf.Value.Set(value)
	})
}

// noticeSet remembers the deprecation notices already printed in this
// run, so that a batch or suite running a line many times says it once.
type noticeSet struct {
	mu   sync.Mutex
	seen map[string]bool
}

// deprecated prints "mailprobe: --old is deprecated; instead" once per run.
func (e *Env) deprecated(old, instead string) {
	if e.notices != nil {
		e.notices.mu.Lock()
		defer e.notices.mu.Unlock()
		if e.notices.seen[old] {
			return
		}
		e.notices.seen[old] = true
	}
	fmt.Fprintf(e.IO.ErrOut, "mailprobe: %s is deprecated and will be removed in the next release; %s\n", old, instead)
}

// legacyArgs rewrites a bare --tls (the old boolean "implicit TLS" of
// smtp check, smtp shell and reset send) to --tls=implicit, with the
// deprecation notice. --tls takes a mode now; a bare --tls is one whose
// next word is not a mode. A real flag cannot both take a value and go
// without one unless written --tls=VALUE (pflag's NoOptDefVal), which
// would break "--tls starttls", the spelling everyone types.
func legacyArgs(env *Env, args []string) []string {
	if len(args) > 0 && strings.HasPrefix(args[0], "__complete") {
		return args // shell completion passes partial command lines
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			// Everything after -- is an argument (batch's command
			// line, rewritten when it runs).
			return append(out, args[i:]...)
		}
		if a == "--tls" && (i+1 == len(args) || !isTLSModeWord(args[i+1])) {
			env.deprecated("--tls without a value", "write --tls implicit")
			a = "--tls=implicit"
		}
		out = append(out, a)
	}
	return out
}

func isTLSModeWord(s string) bool {
	for _, m := range netx.TLSModes {
		if s == m {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------- DNS and network

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
	o := resolver.Options{Server: rf.Resolver, Timeout: rf.DNSTimeout, Retries: retries, Dial: env.Dial, Shared: env.dnsShared}
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

// network is what a command connects and looks names up with: one
// resolver and one dialer, built in one place (netFlags.network) so that a
// run given --resolver asks that server and nothing else.
type network struct {
	// Dial connects; host names go through Resolver when --resolver was
	// given, else through the operating system's resolver (as Go's
	// net.Dialer does on every platform).
	Dial netx.DialFunc
	// Resolver is the --resolver server, nil without the flag.
	Resolver *resolver.Resolver
}

// network builds the run's dialer and, with --resolver, its resolver. A
// malformed --resolver is a usage error of one line; --local-addr binds
// every connection but the DNS queries.
func (rf *resolverFlags) network(env *Env, g *Global, localAddr string) (network, error) {
	var n network
	base := env.Dial
	if base == nil || localAddr != "" {
		d, err := netx.Dialer(localAddr)
		if err != nil {
			return n, usageErrorf("%v", err)
		}
		base = d
	}
	n.Dial = base
	if rf.Resolver == "" {
		return n, nil
	}
	r, err := rf.resolver(env, g)
	if err != nil {
		return n, err
	}
	n.Resolver = r
	n.Dial = netx.ResolvingDialer(base, r.LookupIP)
	return n, nil
}

// lookupIP is n's resolver as the lookup of the target host (nil
// without --resolver: the engine asks the operating system).
func (n network) lookupIP() netx.LookupFunc {
	if n.Resolver == nil {
		return nil
	}
	return n.Resolver.LookupIP
}

// addLineResolverFlag adds --resolver to batch and check -f, which pass
// it on to every command line that does not name its own.
func addLineResolverFlag(c *cobra.Command, v *string) {
	c.Flags().StringVar(v, "resolver", "", "DNS server, HOST[:PORT], for every check that does not name its own --resolver (default: the operating system's configuration)")
}

// checkLineResolver validates a batch's or suite's --resolver up front,
// with the one-line usage error every command gives.
func checkLineResolver(v string) error {
	if v == "" {
		return nil
	}
	if _, err := resolver.ParseServer(v); err != nil {
		return &exitError{code: report.ExitUsage, err: fmt.Errorf("--resolver: %v", err), oneLine: true}
	}
	return nil
}

// withResolver appends --resolver v to a command line without one.
func withResolver(args []string, v string) []string {
	if v == "" || suite.HasFlag(args, "--resolver") {
		return args
	}
	return append(append([]string{}, args...), "--resolver", v)
}
