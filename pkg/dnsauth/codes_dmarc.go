package dnsauth

import "github.com/mailprobe/mailprobe/pkg/report"

// Finding codes added for RFC 9989's policy selection (np, invalid policy
// tags), temporary DMARC errors, messages with several authors, and RFC
// 8301's DKIM rules reported apart from broken signatures.
func init() {
	I, W, F := report.Info, report.Warn, report.Fail
	c := func(code string, sev report.Severity, title, fix string, refs ...string) report.Code {
		return report.Code{Code: code, Severity: sev, Title: title, Fix: fix, Refs: refs}
	}
	report.Register(
		c("dmarc.np.applied", I, "DMARC np policy applies: the domain does not exist", "Nothing to do if the name is not meant to send mail; np=reject blocks forgeries from invented subdomains.", "RFC 9989 §4.7"),
		c("dmarc.existence.unknown", W, "Could not learn whether the domain exists (np or sp)", "Check the DNS servers of the domain: the A, AAAA and MX lookups decide whether np applies.", "RFC 9989 §4.7"),
		c("dmarc.policy.invalid", F, "DMARC policy tag invalid: the record acts as p=none", "Give p=, sp= and np= one of none, quarantine or reject: one invalid value turns the whole record into p=none.", "RFC 9989 §4.10.1", "RFC 7489 §6.6.3"),
		c("dmarc.result.temperror", F, "DMARC temperror: the policy is unknown", "The _dmarc lookup failed (timeout, SERVFAIL): check the DNS servers of the From domain and try again.", "RFC 9989 §4.10.1", "RFC 8601 §2.7.1"),
		c("dmarc.from.multiple", W, "Several authors in different domains: DMARC not applied", "Send with one author address (or several in one domain); receivers exempt such messages from DMARC or reject them.", "RFC 9989 (Extract Author Domain)", "RFC 7489 §6.6.1"),
		c("dmarc.from.invalid", F, "No usable From header field", "Give the message exactly one From header field with a valid address: DMARC needs its domain, and receivers reject messages without one.", "RFC 5322 §3.6", "RFC 9989 (Extract Author Domain)"),
		c("dkim.signature.sha1", F, "DKIM signature uses rsa-sha1", "Sign with rsa-sha256 (or ed25519-sha256): verifiers must not accept rsa-sha1 signatures.", "RFC 8301 §3.1"),
		c("dkim.signature.weak-key", F, "DKIM signature made with an RSA key under 1024 bits", "Generate a 2048-bit key (`mailprobe dkim keygen`), publish it under a new selector and sign with it.", "RFC 8301 §3.2"),
		c("dkim.signature.expired", F, "DKIM signature expired (x=)", "Re-sign the message, or check it at the time it was received with --at.", "RFC 6376 §3.5"),
	)
}
