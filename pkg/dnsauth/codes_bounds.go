package dnsauth

import "github.com/mailprobe/mailprobe/pkg/report"

// MaxDKIMRecord is the largest DKIM key record parsed.
const MaxDKIMRecord = 8192

// Codes of the bounds the DNS checks keep (docs/bounds.md).
func init() {
	report.Register(
		report.Code{Code: "dkim.key.oversize", Severity: report.Fail, Title: "DKIM key record far too large",
			Fix:  "Publish one key record of a normal size (v=DKIM1; k=rsa; p=<base64 of a 2048-bit key>, about 400 bytes): this name holds something else.",
			Refs: []string{"RFC 6376 §3.6.1"}},
		report.Code{Code: "spf.walk.budget", Severity: report.Warn, Title: "SPF tree too large or slow to walk completely",
			Fix:  "The policy asks more DNS questions (or waits longer) than any receiver will: receivers stop at 10 lookups with permerror. Flatten or remove includes until the tree fits the RFC 7208 limits.",
			Refs: []string{"RFC 7208 §4.6.4", "RFC 7208 §11.1"}},
		report.Code{Code: "mx.hosts.many", Severity: report.Info, Title: "More MX hosts than are checked",
			Fix:  "Senders try only a few MX hosts; keep the list to the servers that really receive mail.",
			Refs: []string{"RFC 5321 §5.1"}},
		report.Code{Code: "dns.run.budget", Severity: report.Fail, Title: "The DNS checks ran out of their question or time budget",
			Fix:  "The domain makes the checks ask more DNS questions, or wait longer, than mailprobe allows one run: fix the areas marked incomplete (huge MX, SPF or DKIM trees, servers that do not answer), or check one area at a time (mailprobe spf, dkim check, dmarc).",
			Refs: []string{"RFC 7208 §4.6.4", "RFC 1035 §7.1"}},
	)
}
