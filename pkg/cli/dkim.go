package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/dkimkey"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// dkim check, verify and keygen (RFC 6376, RFC 8301, RFC 8463).

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
			return runDNS(cmd.Context(), env, &o.Global, &o.resolverFlags, "", func(ctx context.Context, r *resolver.Resolver) (*report.Report, error) {
				return dnsauth.DKIMCheckReport(ctx, dnsauth.DKIMCheckOptions{Resolver: r, Domain: domain, Selectors: sels, Now: env.Now})
			})
		},
	}
	addGlobalFlags(c, &o.Global)
	addResolverFlags(c, &o.resolverFlags)
	c.Flags().StringSliceVarP(&o.Selectors, "selector", "s", nil, "selector to check (repeat or comma-separate; default: common selectors)")
	return c
}

// messageVerifyOptions are the flags of the commands that verify a
// message's signatures with keys from DNS (dkim verify, arc verify).
type messageVerifyOptions struct {
	Global
	resolverFlags
	At string
}

// addMessageVerifyFlags adds the output, resolver and --at flags.
func addMessageVerifyFlags(c *cobra.Command, o *messageVerifyOptions) {
	addGlobalFlags(c, &o.Global)
	addResolverFlags(c, &o.resolverFlags)
	c.Flags().StringVar(&o.At, "at", "", "judge signatures at this time (RFC 3339 or seconds since 1970) instead of now")
}

// runMessageVerify reads the message named by arg (a file or "-"), parses
// --at and runs engine through the --resolver, as runDNS does for a domain.
func runMessageVerify(cmd *cobra.Command, env *Env, o *messageVerifyOptions, arg string,
	engine func(ctx context.Context, r *resolver.Resolver, msg []byte, at time.Time) (*report.Report, error)) error {
	if err := o.Global.validate(); err != nil {
		return err
	}
	at, err := atFlag(o.At)
	if err != nil {
		return err
	}
	msg, err := readMessage(env, arg)
	if err != nil {
		return err
	}
	return runDNS(cmd.Context(), env, &o.Global, &o.resolverFlags, "", func(ctx context.Context, r *resolver.Resolver) (*report.Report, error) {
		return engine(ctx, r, msg, at)
	})
}

// atFlag parses --at: an RFC 3339 time or seconds since the epoch (the
// form of DKIM's t= and x=). Empty means now (zero time).
func atFlag(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > 253402300799 { // up to 9999-12-31
			return time.Time{}, usageErrorf("--at %s: seconds since 1970 out of range", v)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usageErrorf("--at %q: give an RFC 3339 time (2024-05-01T12:00:00Z) or seconds since 1970 (1714564800)", v)
	}
	return t, nil
}

func newDKIMVerifyCmd(env *Env) *cobra.Command {
	o := &messageVerifyOptions{}
	c := &cobra.Command{
		Use:   "verify FILE.eml",
		Short: "Verify every DKIM signature of a message, with the reason for each failure",
		Long: `Verify every DKIM-Signature of a message (RFC 6376, with RFC 8301: rsa-sha1
and RSA keys under 1024 bits do not verify; RFC 8463 ed25519). Each
signature is reported with its domain, selector, algorithm, key and result:
pass, fail (the message changed after signing, or the key does not match),
permerror (unusable signature or key), temperror (key lookup failed).

FILE may be "-" for standard input. Files with LF line ends (as saved by
most mail programs) are read as the CRLF message that was signed.

--at judges the signatures at another time than now (x= expiry): an
archived message, or a test vector whose x= has passed. The report says
which time was used.`,
		Example: `  mailprobe dkim verify message.eml
  mailprobe dkim verify - < message.eml --format json
  mailprobe dkim verify archived.eml --at 2024-05-01T12:00:00Z`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMessageVerify(cmd, env, o, args[0], func(ctx context.Context, r *resolver.Resolver, msg []byte, at time.Time) (*report.Report, error) {
				rep, err := dnsauth.DKIMVerifyReport(ctx, dnsauth.DKIMVerifyOptions{Resolver: r, Name: args[0], Message: msg, Now: env.Now, At: at})
				if err != nil {
					return nil, usageErrorf("%s: %v", args[0], err)
				}
				return rep, nil
			})
		},
	}
	addMessageVerifyFlags(c, o)
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
	switch o.Type {
	case dkimkey.TypeRSA:
		if o.Bits < dkimkey.MinRSABits || o.Bits > dkimkey.MaxRSABits {
			return usageErrorf("--bits must be between 2048 and 4096 (RFC 8301 §3.2 asks for at least 2048)")
		}
	case dkimkey.TypeEd25519:
	default:
		return usageErrorf("--type must be rsa or ed25519")
	}
	key, pubTag, err := dkimkey.Generate(o.Type, o.Bits)
	if err != nil {
		return &exitError{code: report.ExitIncomplete, err: err}
	}
	// The record must parse as what it claims to be.
	if _, err := dnsauth.ParseDKIMKey(pubTag); err != nil {
		return &exitError{code: report.ExitIncomplete, err: fmt.Errorf("generated record does not parse: %v", err)}
	}
	out := o.Out
	if out == "" {
		out = o.Selector + ".pem"
	}
	// Write loads the key back the way the signing commands load it.
	if err := dkimkey.Write(out, key); err != nil {
		switch {
		case errors.Is(err, dkimkey.ErrExists):
			return usageErrorf("%s exists; choose another --out (a key file is never overwritten)", out)
		case errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission):
			return usageErrorf("%v", err)
		}
		return &exitError{code: report.ExitIncomplete, err: err}
	}
	name := o.Selector + "._domainkey." + domain
	if o.Format == "json" {
		enc := json.NewEncoder(env.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]string{"name": name, "type": "TXT", "record": pubTag, "zone_line": dkimkey.ZoneLine(name, pubTag), "private_key_file": out, "selector": o.Selector, "domain": domain, "key_type": o.Type})
	}
	fmt.Fprintf(env.IO.Out, "; publish this record, then sign with --dkim-key %s --dkim-selector %s --dkim-domain %s\n", out, o.Selector, domain)
	fmt.Fprintln(env.IO.Out, dkimkey.ZoneLine(name, pubTag))
	fmt.Fprintf(env.IO.ErrOut, "mailprobe: private key written to %s (keep it secret)\n", out)
	return nil
}
