package dnsauth

import "github.com/mailprobe/mailprobe/pkg/report"

// Finding codes of the DNS mail authentication checks. Titles are
// generic; each finding's detail names the domain, record and numbers.
func init() {
	P, I, W, F := report.Pass, report.Info, report.Warn, report.Fail
	c := func(code string, sev report.Severity, title, fix string, refs ...string) report.Code {
		return report.Code{Code: code, Severity: sev, Title: title, Fix: fix, Refs: refs}
	}
	report.Register(
		// SPF record check
		c("spf.record.missing", F, "No SPF record", "Publish one TXT record starting with \"v=spf1\" that lists the servers sending the domain's mail and ends with -all or ~all.", "RFC 7208 §4.5"),
		c("spf.record.multiple", F, "More than one SPF record", "Merge the records into one: a domain may publish exactly one TXT record starting with \"v=spf1\".", "RFC 7208 §4.5", "RFC 7208 §3.2"),
		c("spf.record.syntax", F, "SPF record has a syntax error", "Fix the term named in the detail; a single syntax error voids the whole policy (permerror).", "RFC 7208 §4.6", "RFC 7208 §12"),
		c("spf.record.malformed-version", W, "TXT record looks like SPF but is not", "Start the record with exactly \"v=spf1\" followed by a space.", "RFC 7208 §4.5"),
		c("spf.record.long", W, "SPF record is longer than 450 octets", "Shorten the record (fewer terms, ip4 ranges instead of many addresses, or include: a subdomain) so that the DNS answer fits in 512 octets.", "RFC 7208 §3.4"),
		c("spf.record.ok", P, "SPF record found", ""),
		c("spf.lookups.over-limit", F, "SPF needs more than 10 DNS lookups", "Reduce the lookups: drop includes of services you no longer use, flatten stable senders to ip4:/ip6:, or give a sender its own subdomain.", "RFC 7208 §4.6.4"),
		c("spf.lookups.near-limit", W, "SPF is at the edge of the 10-lookup limit", "Leave headroom: providers change their own records, and one more lookup anywhere in the tree breaks the policy.", "RFC 7208 §4.6.4"),
		c("spf.lookups.ok", P, "SPF DNS lookups within the limit", "", "RFC 7208 §4.6.4"),
		c("spf.void.over-limit", F, "SPF has more than 2 void lookups", "Remove terms that point at names without records (a:, mx:, include: of deleted hosts).", "RFC 7208 §4.6.4"),
		c("spf.void.lookup", W, "SPF term points at a name without records", "Remove or correct the term: each void lookup counts against a limit of 2.", "RFC 7208 §4.6.4"),
		c("spf.include.missing", F, "SPF include or redirect target has no SPF record", "Correct the domain name, or remove the include: receivers return permerror when they reach it.", "RFC 7208 §5.2", "RFC 7208 §6.1"),
		c("spf.include.broken", F, "SPF include or redirect target is broken", "The target's own record is invalid; ask its owner to fix it or remove the include.", "RFC 7208 §5.2"),
		c("spf.include.loop", F, "SPF include loop", "Remove the include that leads back to a domain already being evaluated.", "RFC 7208 §4.6.4"),
		c("spf.redirect.ignored", W, "SPF redirect is ignored because the record has \"all\"", "Remove either the all mechanism or the redirect= modifier.", "RFC 7208 §6.1"),
		c("spf.mx.too-many", F, "SPF mx mechanism names more than 10 MX hosts", "Use ip4:/ip6: for the mail servers instead of mx.", "RFC 7208 §4.6.4"),
		c("spf.ptr.used", W, "SPF uses the deprecated ptr mechanism", "Replace ptr with ip4:/ip6: or a: terms.", "RFC 7208 §5.5"),
		c("spf.range.broad", W, "SPF authorizes a very large address range", "List the sending servers' addresses or their provider's include instead of a whole network.", "RFC 7208 §5.6"),
		c("spf.all.pass", F, "SPF ends with +all", "End the record with -all (or ~all while testing): +all lets anyone send as the domain.", "RFC 7208 §5.1"),
		c("spf.all.neutral", W, "SPF ends with ?all", "End the record with -all or ~all once every sender is listed.", "RFC 7208 §5.1", "RFC 7208 §8.2"),
		c("spf.all.missing", W, "SPF record has no all mechanism", "End the record with -all (or ~all): without it unlisted senders get neutral.", "RFC 7208 §4.7"),
		c("spf.all.ok", P, "SPF ends with -all or ~all", ""),
		c("spf.dns.error", F, "DNS failure while evaluating SPF", "Check the authoritative servers of the domain named in the detail (SERVFAIL often means a broken DNSSEC signature or an unreachable name server).", "RFC 7208 §2.6.6"),
		// SPF evaluation (--ip)
		c("spf.result.pass", P, "SPF pass: the IP is authorized", "", "RFC 7208 §2.6.3"),
		c("spf.result.fail", F, "SPF fail: the IP is not authorized", "Add the sending server to the SPF record (its ip4:/ip6: or its provider's include:).", "RFC 7208 §2.6.4"),
		c("spf.result.softfail", W, "SPF softfail: the IP is probably not authorized", "Add the sending server to the SPF record.", "RFC 7208 §2.6.5"),
		c("spf.result.neutral", W, "SPF neutral: the policy says nothing about the IP", "List the sending server and end the record with -all or ~all.", "RFC 7208 §2.6.2"),
		c("spf.result.none", F, "SPF none: no policy for the domain", "Publish an SPF record for the domain.", "RFC 7208 §2.6.1"),
		c("spf.result.permerror", F, "SPF permerror: the policy cannot be evaluated", "Fix the error named in the detail; receivers treat permerror as a failure under DMARC.", "RFC 7208 §2.6.7"),
		c("spf.result.temperror", F, "SPF temperror: a DNS lookup failed", "Check the DNS servers of the domains in the policy.", "RFC 7208 §2.6.6"),

		// DKIM
		c("dkim.key.ok", P, "DKIM key found", ""),
		c("dkim.key.missing", F, "No DKIM key at the selector", "Publish the public key as TXT at selector._domainkey.domain (your mail provider gives the record), or correct the selector.", "RFC 6376 §3.6.2.1"),
		c("dkim.key.multiple", F, "Several TXT records at a DKIM key name", "Keep exactly one TXT record at the key name.", "RFC 6376 §3.6.2.2"),
		c("dkim.key.syntax", F, "DKIM key record is invalid", "Republish the record exactly as your provider or `mailprobe dkim keygen` gives it: v=DKIM1; k=rsa; p=BASE64.", "RFC 6376 §3.6.1"),
		c("dkim.key.unsupported", F, "DKIM key type is not supported", "Use k=rsa (2048 bits) or k=ed25519.", "RFC 6376 §3.6.1", "RFC 8463"),
		c("dkim.key.sha1-only", F, "DKIM key allows only SHA-1", "Remove h=sha1 (or add sha256) and sign with rsa-sha256.", "RFC 8301 §3.1"),
		c("dkim.key.weak", F, "DKIM RSA key is shorter than 1024 bits", "Generate a 2048-bit key (`mailprobe dkim keygen`), publish it under a new selector and switch signing to it.", "RFC 8301 §3.2"),
		c("dkim.key.short", W, "DKIM RSA key is shorter than 2048 bits", "Rotate to a 2048-bit key under a new selector.", "RFC 8301 §3.2"),
		c("dkim.key.revoked", W, "DKIM key is revoked", "If the selector is still used for signing, publish its key again or switch signing to a live selector.", "RFC 6376 §3.6.1"),
		c("dkim.key.testing", W, "DKIM key is in testing mode (t=y)", "Remove t=y once signing works, so that receivers count the signatures.", "RFC 6376 §3.6.1"),
		c("dkim.key.ed25519-only", I, "Only ed25519 DKIM keys", "Also sign with an RSA key: many receivers do not verify ed25519 yet.", "RFC 8463 §5"),
		c("dkim.selector.none-found", W, "No DKIM key at common selectors", "Pass the selector (s= in a DKIM-Signature header of your mail) with --selector.", "RFC 6376 §3.1"),
		c("dkim.dns.error", F, "DNS failure fetching a DKIM key", "Check the DNS servers of the domain (or of the provider the selector is a CNAME to).", "RFC 6376 §6.1.2"),
		c("dkim.signature.pass", P, "DKIM signature verified", "", "RFC 6376 §6"),
		c("dkim.signature.fail", F, "DKIM signature does not verify", "Find what changes the message after signing (a footer, a disclaimer, a header rewrite) or check that the published key matches the signing key.", "RFC 6376 §6.1.3"),
		c("dkim.signature.permerror", F, "DKIM signature cannot be verified", "See the reason: an unsupported algorithm (rsa-sha1), a missing or revoked key, a key too short, or a malformed header.", "RFC 6376 §6.1", "RFC 8301"),
		c("dkim.signature.temperror", F, "DKIM key temporarily unavailable", "The key lookup failed (timeout, SERVFAIL); check the DNS of the signing domain.", "RFC 6376 §6.1.2"),
		c("dkim.signature.policy", W, "DKIM signature refused by policy", "Sign without the l= body length tag.", "RFC 6376 §8.2"),
		c("dkim.signature.missing", F, "Message is not DKIM-signed", "Enable DKIM signing at the sending server or provider.", "RFC 6376"),

		// DMARC
		c("dmarc.record.ok", P, "DMARC record found", ""),
		c("dmarc.record.missing", F, "No DMARC policy", "Publish _dmarc.DOMAIN TXT \"v=DMARC1; p=none; rua=mailto:...\", then tighten to quarantine and reject.", "RFC 9989 §4.10", "RFC 7489 §6.6.3"),
		c("dmarc.record.multiple", F, "Several DMARC records", "Keep exactly one TXT record starting with v=DMARC1 at the _dmarc name.", "RFC 9989 §4.10.1"),
		c("dmarc.record.invalid", F, "DMARC record cannot be used", "Start the record with v=DMARC1 and give a valid p= tag.", "RFC 9989 §4.7"),
		c("dmarc.record.inherited", I, "DMARC policy inherited from a parent domain", "Publish a record for the domain itself if it needs another policy.", "RFC 9989 §4.10.1"),
		c("dmarc.orgdomain.differs", I, "Organizational Domain differs between RFC 9989 and RFC 7489", "Publish DMARC records at the domain itself so that both kinds of receivers find the same policy.", "RFC 9989 §4.10.2", "RFC 7489 §3.2"),
		c("dmarc.tag.invalid", W, "DMARC tag has an invalid value", "Correct the tag named in the detail.", "RFC 9989 §4.7"),
		c("dmarc.tag.unknown", W, "Unknown DMARC tag", "Check the spelling; unknown tags are ignored.", "RFC 9989 §4.7"),
		c("dmarc.tag.historic", I, "Retired DMARC tag", "Remove the tag.", "RFC 9989 §A.5"),
		c("dmarc.policy.none-unmonitored", W, "DMARC p=none without reports", "Add rua=mailto:... to receive aggregate reports, and plan the move to p=quarantine.", "RFC 9989 §4.7"),
		c("dmarc.policy.none", I, "DMARC policy is p=none (monitoring)", "Once the reports show all legitimate mail passing, move to p=quarantine and then p=reject.", "RFC 9989 §4.7"),
		c("dmarc.policy.enforced", P, "DMARC policy is enforced", ""),
		c("dmarc.policy.testing", W, "DMARC testing mode (t=y)", "Remove t=y when the reports look clean.", "RFC 9989 §4.7"),
		c("dmarc.pct.partial", W, "DMARC pct below 100", "Use pct=100 (or drop pct): RFC 9989 retired it.", "RFC 7489 §6.3"),
		c("dmarc.sp.weaker", W, "DMARC subdomain policy is weaker", "Set sp= to the same policy as p= (or remove sp=).", "RFC 9989 §4.7"),
		c("dmarc.np.weaker", W, "DMARC policy for non-existent subdomains is weaker", "Set np=reject: no legitimate mail comes from names that do not exist.", "RFC 9989 §4.7"),
		c("dmarc.alignment.strict", I, "DMARC strict alignment", "Use relaxed alignment (the default) unless every sender uses exactly the From domain.", "RFC 9989 §4.4"),
		c("dmarc.psd.unexpected", W, "DMARC psd=y on an ordinary domain", "Remove psd=y unless the domain is a public suffix that hands out subdomains to other organizations.", "RFC 9989 §4.7"),
		c("dmarc.rua.missing", I, "No DMARC aggregate reports", "Add rua=mailto:... to see who sends as the domain.", "RFC 9990"),
		c("dmarc.rua.unauthorized", W, "DMARC report address not authorized", "Publish the authorization record at the report address's domain, or use an address in the domain.", "RFC 7489 §7.1", "RFC 9990 §3"),
		c("dmarc.uri.unsupported", W, "DMARC report URI is not mailto:", "Use mailto: addresses.", "RFC 9990 §2"),
		c("dmarc.dns.error", F, "DNS failure discovering DMARC", "Check the DNS servers of the domain.", "RFC 9989 §4.10.1"),
		c("dmarc.result.pass", P, "DMARC pass: SPF or DKIM aligned", "", "RFC 9989 §4.4"),
		c("dmarc.result.fail", F, "DMARC fail: neither SPF nor DKIM aligned", "Make SPF pass for a MAIL FROM in the From domain, or DKIM-sign with d= the From domain (or its Organizational Domain).", "RFC 9989 §4.4"),
		c("dmarc.result.none", W, "DMARC none: no policy", "Publish a DMARC record.", "RFC 9989 §4.10"),

		// MX
		c("mx.ok", P, "MX hosts resolve", ""),
		c("mx.record.missing", F, "No MX and no address record", "Publish an MX record, or a null MX (MX 0 .) if the domain receives no mail.", "RFC 5321 §5.1", "RFC 7505"),
		c("mx.record.implicit", W, "No MX record (implicit MX)", "Publish an MX record naming the receiving server.", "RFC 5321 §5.1"),
		c("mx.domain.nxdomain", F, "Domain does not exist", "Check the domain name.", "RFC 5321 §5.1"),
		c("mx.null", I, "Null MX: the domain receives no mail", "Nothing to do if the domain really receives no mail; senders may still reject mail from it.", "RFC 7505"),
		c("mx.null.mixed", F, "Null MX mixed with other MX records", "Remove either the null MX or the other MX records.", "RFC 7505 §3"),
		c("mx.target.unresolved", F, "MX host has no address", "Publish A/AAAA records for the MX host or correct the MX record.", "RFC 5321 §5.1"),
		c("mx.target.cname", W, "MX host is a CNAME", "Point the MX at the canonical name itself.", "RFC 2181 §10.3", "RFC 5321 §5.1"),
		c("mx.target.ip-literal", F, "MX target is an IP address", "Publish a host name with an A record and point the MX at it.", "RFC 5321 §5.1"),
		c("mx.target.private", F, "MX host has a private or loopback address", "Publish the server's public address.", "RFC 6890"),
		c("mx.dns.error", F, "DNS failure resolving MX", "Check the DNS servers of the domain.", "RFC 5321 §5.1"),

		// MTA-STS and TLS-RPT
		c("mtasts.policy.ok", P, "MTA-STS policy enforced and matching the MX", ""),
		c("mtasts.record.missing", I, "No MTA-STS policy", "Publish _mta-sts TXT \"v=STSv1; id=...\" and the policy file at https://mta-sts.DOMAIN/.well-known/mta-sts.txt, starting in mode testing.", "RFC 8461"),
		c("mtasts.record.invalid", F, "MTA-STS TXT record is invalid", "Publish exactly one record: v=STSv1; id=<1-32 letters or digits>.", "RFC 8461 §3.1"),
		c("mtasts.policy.fetch-failed", F, "MTA-STS policy cannot be fetched", "Serve the policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt with a valid certificate for mta-sts.DOMAIN, status 200, Content-Type text/plain, no redirect.", "RFC 8461 §3.3"),
		c("mtasts.policy.invalid", F, "MTA-STS policy file is invalid", "Fix the policy: version: STSv1, mode, max_age and one mx: line per MX host, CRLF-separated.", "RFC 8461 §3.2"),
		c("mtasts.mode.testing", I, "MTA-STS in testing mode", "Switch to mode: enforce once TLS-RPT reports show no failures.", "RFC 8461 §5"),
		c("mtasts.mode.none", W, "MTA-STS mode none", "Nothing, if the policy is being withdrawn on purpose.", "RFC 8461 §8.3"),
		c("mtasts.maxage.short", W, "MTA-STS max_age is short", "Use a max_age of a week or more (604800) once the policy is stable.", "RFC 8461 §3.2", "RFC 8461 §10"),
		c("mtasts.mx.unmatched", F, "MX host not covered by the MTA-STS policy", "Add an mx: line for the MX host (a *.domain pattern covers one label) and change the id= in the TXT record.", "RFC 8461 §4.1"),
		c("mtasts.dns.error", F, "DNS failure looking up MTA-STS", "Check the DNS servers of the domain.", "RFC 8461 §3.1"),
		c("tlsrpt.ok", P, "TLS-RPT record found", ""),
		c("tlsrpt.record.missing", I, "No TLS-RPT record", "Publish _smtp._tls TXT \"v=TLSRPTv1; rua=mailto:...\".", "RFC 8460 §3"),
		c("tlsrpt.record.invalid", F, "TLS-RPT record is invalid", "Publish exactly one record: v=TLSRPTv1; rua=mailto:... or https://....", "RFC 8460 §3"),
		c("tlsrpt.dns.error", F, "DNS failure looking up TLS-RPT", "Check the DNS servers of the domain.", "RFC 8460 §3"),

		// BIMI
		c("bimi.ok", P, "BIMI record with logo and evidence", ""),
		c("bimi.record.missing", I, "No BIMI record", "Optional: publish default._bimi TXT \"v=BIMI1; l=https://.../logo.svg; a=https://.../vmc.pem\" once DMARC is enforced."),
		c("bimi.record.invalid", F, "BIMI record is invalid", "Publish v=BIMI1; l=<https logo URL>; a=<https certificate URL>."),
		c("bimi.declined", I, "Domain declines BIMI", ""),
		c("bimi.logo.missing", W, "BIMI record has no logo", "Give the SVG Tiny PS logo's https URL in l=."),
		c("bimi.evidence.missing", W, "BIMI record has no mark certificate (a=)", "Obtain a Verified Mark or Common Mark Certificate and give its https URL in a=."),
		c("bimi.dmarc.weak", F, "BIMI needs an enforced DMARC policy", "Move DMARC to p=quarantine or p=reject (pct=100)."),
		c("bimi.dns.error", F, "DNS failure looking up BIMI", "Check the DNS servers of the domain."),

		// DANE
		c("dane.tlsa.ok", P, "DNSSEC-validated TLSA records", ""),
		c("dane.tlsa.missing", I, "No DANE TLSA records", "Optional: sign the zone with DNSSEC and publish _25._tcp.MX TLSA 3 1 1 <sha256 of the key>.", "RFC 7672"),
		c("dane.tlsa.partial", W, "Only some MX hosts publish TLSA records", "Publish TLSA records for every MX host.", "RFC 7672 §2.2"),
		c("dane.tlsa.insecure", W, "TLSA records without DNSSEC validation", "Sign the zone (and the MX host's zone) with DNSSEC, or query a validating resolver.", "RFC 7672 §2.2"),
		c("dane.tlsa.invalid", F, "TLSA record is invalid", "Fix the usage, selector, matching type or digest length.", "RFC 6698 §2.1"),
		c("dane.tlsa.pkix-usage", W, "TLSA usage 0 or 1 is not for SMTP", "Use usage 3 (DANE-EE) or 2 (DANE-TA).", "RFC 7672 §3.1.3"),
		c("dane.cert.match", P, "Served certificate matches TLSA", "", "RFC 7672 §3"),
		c("dane.cert.mismatch", F, "Served certificate does not match TLSA", "Publish TLSA records for the certificate (or key) the server uses now, before and after every rotation, and serve the same certificate (or one matching a published record) at every address of the MX.", "RFC 7672 §3", "RFC 7671 §8"),
		c("dane.connect.failed", F, "Could not get the MX certificate", "Check that every address of the MX accepts connections on port 25 (or the --dane-port given) and offers STARTTLS; outbound port 25 is often blocked on client networks, and an address this machine has no route to (IPv6) must be checked from elsewhere.", "RFC 7672 §2.2"),
		c("dane.dns.error", F, "DNS failure looking up TLSA", "Check the DNS servers (and DNSSEC signatures) of the MX host's zone.", "RFC 7672 §2.2.1"),

		// DNSSEC, reverse DNS, blocklists
		// The resolver itself
		c("dns.resolver.unreachable", F, "The DNS resolver does not answer", "Check --resolver HOST[:PORT]: the server must answer DNS queries from this machine over UDP (and TCP). Without --resolver, the nameservers of the system's configuration are asked.", "RFC 1035 §4.2", "RFC 7766"),
		c("dns.resolver.rate-limited", I, "The DNS server limits its answer rate", "Nothing to fix in the domain. The server slips and drops answers past a rate (response rate limiting, as NSD, BIND and Knot do): mailprobe retries over TCP and paces itself. For large batches, ask a resolver that does not limit you, or lower --parallel.", "RFC 7766 §1"),
		c("dnssec.signed", P, "DNS answers are DNSSEC-validated", ""),
		c("dnssec.unsigned", I, "DNS answers are not DNSSEC-validated", "Sign the zone with DNSSEC (needed for DANE); or check with a validating resolver (--resolver).", "RFC 4033"),
		c("ptr.ok", P, "Forward-confirmed reverse DNS", ""),
		c("ptr.missing", W, "No reverse DNS (PTR)", "Set a PTR record for the address (through its provider) to a name that resolves back to it.", "RFC 8601 §3", "RFC 1912 §2.1"),
		c("ptr.unconfirmed", W, "Reverse DNS is not forward-confirmed", "Make the PTR name resolve to the address, or change the PTR.", "RFC 8601 §3"),
		c("ptr.dns.error", I, "Reverse DNS lookup failed", "Retry; if it persists, check the reverse zone's name servers."),
		c("dnsbl.listed", F, "Address is on a DNS blocklist", "Find and stop the cause (an open relay, a compromised account, a spamming form), then request delisting at the list's web site.", "RFC 5782"),
		c("dnsbl.clean", P, "Not on the DNS blocklists checked", "", "RFC 5782"),
		c("dnsbl.error", I, "DNS blocklist lookup failed", "Use your own resolver (--resolver): several lists refuse queries from public resolvers.", "RFC 5782 §2.1"),
	)
}
