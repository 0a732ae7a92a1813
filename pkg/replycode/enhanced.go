package replycode

import (
	_ "embed"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/mailprobe/mailprobe/internal/lazyre"
)

// The IANA registry is embedded rather than transcribed so that it can be
// refreshed by replacing one file, and so that the tests can prove every
// registered code is known (see data/README.md for its source).
//
//go:embed data/smtp-enhanced-status-codes.xml
var registryXML []byte

// EnhancedCode is one row of IANA's enumerated status code table
// (smtp-enhanced-status-codes-3), keyed by subject and detail: the class
// digit is not part of the registered code ("X.7.26").
type EnhancedCode struct {
	Code        string   `json:"code"`        // "X.7.26"
	Title       string   `json:"title"`       // IANA "Sample Text", e.g. "Multiple authentication checks failed"
	Description string   `json:"description"` // IANA "Description", white space collapsed
	BasicCodes  string   `json:"basic_codes"` // IANA "Associated basic status code", e.g. "550" or "451, 550"
	Refs        []string `json:"refs"`        // e.g. "RFC 7372 §3.3"
}

// registryTable is the parsed registry. It is built once and never written
// again, so concurrent readers need no locking.
type registryTable struct {
	classes  map[int]EnhancedCode // 2, 4, 5
	subjects map[int]EnhancedCode // 0..7
	codes    map[[2]int]EnhancedCode
	ordered  []EnhancedCode // enumerated codes in registry order
}

var (
	registryOnce sync.Once
	registry     *registryTable
)

// loadRegistry parses the embedded XML on first use. The file is part of the
// binary and checked by the tests, so a parse error is a build defect: panic
// rather than silently explaining less.
func loadRegistry() *registryTable {
	registryOnce.Do(func() {
		t, err := parseRegistry(registryXML)
		if err != nil {
			panic("replycode: embedded IANA registry: " + err.Error())
		}
		registry = t
	})
	return registry
}

// xmlRegistry mirrors the parts of IANA's registry schema that are used:
// one outer <registry> holding three inner ones, each with <record>s.
type xmlRegistry struct {
	Registries []struct {
		ID      string      `xml:"id,attr"`
		Records []xmlRecord `xml:"record"`
	} `xml:"registry"`
}

type xmlRecord struct {
	Code        string   `xml:"code"`
	Summary     string   `xml:"summary"` // class and subject tables
	Sample      string   `xml:"sample"`  // enumerated codes
	BasicCode   string   `xml:"basic_code"`
	Description innerXML `xml:"description"` // may hold <xref/> citations
	Reference   innerXML `xml:"reference"`
}

type innerXML struct {
	Inner string `xml:",innerxml"`
}

// xrefRE finds references such as `<xref type="rfc" data="rfc7372"/>, Section 3.3`.
var xrefRE = lazyre.New(`<xref\s+type="([a-z]+)"\s+data="([^"]+)"\s*/>(\s*,\s*Section\s+([0-9.]+))?`)

func parseRegistry(b []byte) (*registryTable, error) {
	var doc xmlRegistry
	if err := xml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	t := &registryTable{
		classes:  map[int]EnhancedCode{},
		subjects: map[int]EnhancedCode{},
		codes:    map[[2]int]EnhancedCode{},
	}
	for _, reg := range doc.Registries {
		for _, r := range reg.Records {
			e := EnhancedCode{
				Code:        strings.TrimSpace(r.Code),
				Title:       collapse(r.Sample),
				Description: richText(r.Description.Inner),
				BasicCodes:  collapse(r.BasicCode),
				Refs:        xrefs(r.Reference.Inner),
			}
			parts := strings.Split(e.Code, ".")
			if len(parts) != 3 {
				return nil, fmt.Errorf("record %q: not of the form a.b.c", e.Code)
			}
			switch reg.ID {
			case "smtp-enhanced-status-codes-1": // "5.XXX.YYY"
				e.Title = collapse(r.Summary)
				n, err := strconv.Atoi(parts[0])
				if err != nil {
					return nil, fmt.Errorf("class record %q: %v", e.Code, err)
				}
				t.classes[n] = e
			case "smtp-enhanced-status-codes-2": // "X.7.YYY"
				e.Title = collapse(r.Summary)
				n, err := strconv.Atoi(parts[1])
				if err != nil {
					return nil, fmt.Errorf("subject record %q: %v", e.Code, err)
				}
				t.subjects[n] = e
			case "smtp-enhanced-status-codes-3": // "X.7.26"
				s, err1 := strconv.Atoi(parts[1])
				d, err2 := strconv.Atoi(parts[2])
				if parts[0] != "X" || err1 != nil || err2 != nil {
					return nil, fmt.Errorf("enumerated record %q: not X.subject.detail", e.Code)
				}
				t.codes[[2]int{s, d}] = e
				t.ordered = append(t.ordered, e)
			}
		}
	}
	if len(t.classes) != 3 || len(t.subjects) == 0 || len(t.codes) == 0 {
		return nil, fmt.Errorf("incomplete registry: %d classes, %d subjects, %d codes", len(t.classes), len(t.subjects), len(t.codes))
	}
	return t, nil
}

// xrefs turns the <reference> content into "RFC 7372 §3.3" style strings.
func xrefs(inner string) []string {
	var out []string
	for _, m := range xrefRE.FindAllStringSubmatch(inner, -1) {
		ref := m[2]
		if m[1] == "rfc" {
			ref = "RFC " + strings.TrimPrefix(strings.ToLower(ref), "rfc")
		}
		if m[4] != "" {
			ref += " §" + strings.TrimSuffix(m[4], ".")
		}
		out = append(out, ref)
	}
	return out
}

// richText turns mixed content into plain text: a citation such as
// `Section 6.1 of <xref type="rfc" data="rfc6376"/>` becomes
// "Section 6.1 of RFC 6376", other markup is dropped and entities decoded.
func richText(inner string) string {
	s := xrefRE.ReplaceAllStringFunc(inner, func(m string) string {
		if r := xrefs(m); len(r) == 1 {
			return r[0]
		}
		return ""
	})
	s = tagRE.ReplaceAllString(s, "")
	s = entityReplacer.Replace(s)
	return collapse(s)
}

var (
	tagRE          = lazyre.New(`<[^>]*>`)
	entityReplacer = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&apos;", "'", "&amp;", "&")
)

// collapse joins the registry's hard-wrapped lines into one.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// EnhancedCodes returns IANA's enumerated status codes in registry order, for
// documentation and tests. The slice is a copy.
func EnhancedCodes() []EnhancedCode {
	t := loadRegistry()
	out := make([]EnhancedCode, len(t.ordered))
	for i, e := range t.ordered {
		e.Refs = append([]string(nil), e.Refs...)
		out[i] = e
	}
	return out
}

// subjectSection is the RFC 3463 section defining a subject: §3.1 covers
// X.0.X, §3.2 X.1.X, ... §3.8 X.7.X.
func subjectSection(subject int) string {
	return fmt.Sprintf("RFC 3463 §3.%d", subject+1)
}

// enhancedAdvice holds hand-written advice for the codes developers meet.
// Keys are "X.s.d" for any failure class or "c.s.d" where the transient and
// permanent forms deserve different words; advice applies only to classes 4
// and 5, since a 2.s.d code reports success.
var enhancedAdvice = map[string]advice{
	// X.0.X other or undefined status (RFC 3463 §3.1).
	"X.0.0": {
		Summary: "The server refused without a specific reason (X.0.0: other or undefined status).",
		Fix:     "The reply text is the only clue; if it says nothing, ask the receiving postmaster, giving the time and your sending IP.",
	},
	// X.1.X addressing status (RFC 3463 §3.2): the sender can usually fix
	// these by correcting an address.
	"X.1.0": {
		Summary: "Something is wrong with an address, sender or recipient; the server did not say which.",
		Fix:     "Check both the MAIL FROM and the RCPT TO address.",
	},
	"X.1.1": {
		Summary: "The recipient's mailbox does not exist on the receiving server.",
		Cause:   "A typo in the local part, a deleted or never-created account, or an MX that does not host this user.",
		Fix:     "Check the spelling of the address and stop sending to it: it is a hard bounce, and repeated mail to unknown users hurts your reputation. In tests, send to an address you control.",
	},
	"X.1.2": {
		Summary: "The recipient's domain (after the @) is bad: it does not exist, cannot receive mail, or is not served here.",
		Cause:   "A typo in the domain (gmial.com), a domain without MX or A/AAAA records, or a server that does not relay for that domain.",
		Fix:     "Check the domain and its MX records (mailprobe dns DOMAIN).",
	},
	"X.1.3": {
		Summary: "The recipient address is not valid syntax.",
		Cause:   "Missing angle brackets, spaces, unquoted special characters, or non-ASCII characters without SMTPUTF8.",
		Fix:     "Send RCPT TO:<local@domain> with an address valid under RFC 5321 §4.1.2.",
	},
	"X.1.6": {
		Summary: "The mailbox has moved and no forwarding address is known.",
		Fix:     "Ask the recipient for their new address.",
	},
	"X.1.7": {
		Summary: "The sender address (MAIL FROM) is not valid syntax.",
		Fix:     "Send MAIL FROM:<user@example.com>; the empty <> is only for bounces.",
	},
	"X.1.8": {
		Summary: "The sender's domain is bad: the receiver found no DNS records for the MAIL FROM domain.",
		Cause:   "The envelope sender uses a domain that does not resolve (no MX, A or AAAA): a typo, an internal host name such as app.local or localhost, or the machine's host name picked by default. Receivers refuse mail they could not bounce.",
		Fix:     "Set the envelope sender (Return-Path) explicitly to an address on a real domain you own.",
	},
	"X.1.10": {
		Summary: "The recipient's domain publishes a null MX: it accepts no mail (RFC 7505).",
		Fix:     "The address cannot receive mail; correct or remove it.",
	},
	// X.2.X mailbox status (RFC 3463 §3.3): the address is right, the
	// mailbox has a problem; usually nothing for the sender to change.
	"X.2.0": {
		Summary: "Something is wrong with the recipient's mailbox.",
	},
	"X.2.1": {
		Summary: "The recipient's mailbox is disabled and accepts no mail.",
		Cause:   "The account is suspended, inactive or being deleted.",
		Fix:     "Stop sending to it; reach the recipient another way.",
	},
	"4.2.1": {
		Summary: "The recipient's mailbox temporarily accepts no mail, typically because it receives too much too fast.",
		Fix:     "Retry later and spread out mail to this recipient.",
	},
	"X.2.2": {
		Summary: "The recipient's mailbox is full (over quota).",
		Cause:   "The recipient has used up their storage; nothing is wrong with your message.",
		Fix:     "Retry later or tell the recipient another way; treat repeated failures as a bounce.",
	},
	"X.2.3": {
		Summary: "The message is larger than the recipient's mailbox accepts.",
		Fix:     "Send a smaller message: link to large files instead of attaching them.",
	},
	"X.2.4": {
		Summary: "A mailing list on the receiving side could not be expanded.",
	},
	// X.3.X mail system status (RFC 3463 §3.4): the receiving host itself.
	"X.3.0": {
		Summary: "The receiving mail system had an unspecified problem.",
	},
	"X.3.1": {
		Summary: "The receiving mail system is out of storage.",
		Fix:     "Retry later; nothing to change on your side.",
	},
	"X.3.2": {
		Summary: "The receiving system is not accepting mail at the moment.",
	},
	"X.3.4": {
		Summary: "The message is too big for the receiving server.",
		Cause:   "It exceeds the SIZE limit the server advertises in its EHLO reply (RFC 1870); base64 makes attachments a third larger.",
		Fix:     "Keep transactional mail small and link to large files; mailprobe smtp check shows the server's SIZE.",
	},
	"X.3.5": {
		Summary: "The receiving system is misconfigured.",
		Fix:     "Contact the receiving postmaster.",
	},
	// X.4.X network and routing status (RFC 3463 §3.5): DNS, connections
	// and queues between the systems.
	"X.4.0": {
		Summary: "A network or routing problem stopped delivery.",
	},
	"X.4.1": {
		Summary: "No answer from the next mail server: the connection failed or timed out.",
		Cause:   "The destination MX is down or firewalled, or outbound port 25 is blocked on the sending network (common on cloud VMs and home ISPs).",
		Fix:     "Check the MX hosts (mailprobe dns DOMAIN) and that port 25 is reachable from the sender; on cloud hosts send through a relay on 587.",
	},
	"X.4.2": {
		Summary: "The connection was broken during the transaction.",
		Cause:   "A network fault or timeout, a TLS failure mid-session, or the receiver dropping the connection (rate limits).",
		Fix:     "Retry; if it repeats, compare TLS settings (mailprobe tls HOST:25) and look for rate limiting.",
	},
	"X.4.3": {
		Summary: "A directory lookup (DNS or LDAP) failed on the server.",
		Fix:     "Often temporary; make sure your domain's DNS answers reliably from outside.",
	},
	"X.4.4": {
		Summary: "Unable to route: no mail server could be found for the domain.",
		Cause:   "The domain has no MX and no A/AAAA record, or its MX names a host that does not resolve.",
		Fix:     "Check the recipient domain's MX records (mailprobe dns DOMAIN).",
	},
	"X.4.5": {
		Summary: "The mail system is congested.",
		Fix:     "Retry later.",
	},
	"X.4.6": {
		Summary: "A mail loop was detected (too many Received: headers).",
		Cause:   "Forwarding between two systems that point at each other, or an MX pointing back at the sender.",
		Fix:     "Check forwarding rules and MX records on both sides.",
	},
	"X.4.7": {
		Summary: "Delivery time expired: the message was not delivered before the sending queue gave up.",
		Cause:   "The sending server kept getting temporary (4xx) errors or could not connect, for days.",
		Fix:     "Find the temporary error logged before the expiry: that is the real cause.",
	},
	// X.5.X mail delivery protocol status (RFC 3463 §3.6): the SMTP
	// dialogue itself went wrong.
	"X.5.0": {
		Summary: "An SMTP protocol error.",
	},
	"X.5.1": {
		Summary: "Invalid command: unknown, or not allowed at this point of the session.",
		Fix:     "Check the command and the order of the session (RFC 5321 §4.1.4).",
	},
	"X.5.2": {
		Summary: "Syntax error in a command.",
	},
	"X.5.3": {
		Summary: "Too many recipients for one message.",
		Cause:   "The RCPT TO count exceeded the server's limit (RFC 5321 §4.5.3.1.8 only guarantees 100).",
		Fix:     "Send in batches; retry the refused recipients in a new transaction.",
	},
	"X.5.4": {
		Summary: "Invalid command arguments.",
	},
	"X.5.6": {
		Summary: "An AUTH exchange line was too long.",
		Fix:     "Servers must accept 12288 octets per AUTH line (RFC 4954 §4); long OAuth2 tokens can exceed smaller limits.",
	},
	// X.6.X message content or media status (RFC 3463 §3.7).
	"X.6.0": {
		Summary: "A problem with the message content or its media type.",
	},
	"X.6.3": {
		Summary: "Conversion required but not supported, e.g. 8-bit content for a 7-bit-only path.",
		Fix:     "Encode bodies as quoted-printable or base64, and use BODY=8BITMIME only when advertised.",
	},
	"X.6.7": {
		Summary: "Non-ASCII addresses are not permitted here (no SMTPUTF8 support).",
		Fix:     "Use an ASCII address, or a path whose servers advertise SMTPUTF8 (RFC 6531).",
	},
	// X.7.X security or policy status (RFC 3463 §3.8): by far the most
	// common subject today, as receivers enforce authentication and
	// reputation. X.7.8-X.7.14 come from SMTP AUTH (RFC 4954, RFC 5248),
	// X.7.20-X.7.26 from RFC 7372, X.7.27 from RFC 7505, X.7.29 from RFC
	// 8617 and X.7.30 from RFC 8689.
	"X.7.0": {
		Summary: "The server refused for a security or policy reason it did not detail.",
		Cause:   "Common cases: authentication required, STARTTLS required first, poor IP reputation or a blocklist, or content flagged by a filter.",
		Fix:     "Read the text. When submitting mail, start TLS and authenticate before MAIL FROM.",
	},
	"X.7.1": {
		Summary: "Delivery not authorized: a policy refused the sender, the sending IP or the message.",
		Cause:   "The most common policy rejection: relaying without authentication, a blocklisted IP, spam filtering, or a recipient that only accepts certain senders.",
		Fix:     "When submitting, authenticate first. When delivering to another domain's MX, check your IP against blocklists and your SPF, DKIM and DMARC (mailprobe dns DOMAIN).",
	},
	"4.7.1": {
		Summary: "A policy deferred the message for now; often greylisting.",
		Cause:   "Greylisting (a first-seen sender, IP and recipient triple), a temporary reputation block, or a DNS check that timed out.",
		Fix:     "Let the sending mail queue retry after a few minutes. An app that sends without a queue should send through a relay that retries.",
	},
	"X.7.2": {
		Summary: "Expanding this mailing list is not allowed for this sender.",
	},
	"X.7.3": {
		Summary: "A required security conversion is not possible.",
		Cause:   "Microsoft 365 uses 5.7.3 differently, for \"Authentication unsuccessful\" on SMTP AUTH.",
	},
	"X.7.4": {
		Summary: "The security feature requested is not supported, e.g. an AUTH mechanism the server lacks.",
		Fix:     "Use a mechanism listed in the EHLO reply.",
	},
	"X.7.5": {
		Summary: "A cryptographic operation failed (e.g. signature or TLS).",
	},
	"X.7.7": {
		Summary: "Message integrity check failed.",
	},
	"X.7.8": {
		Summary: "Login failed: the server says the credentials are invalid.",
		Cause:   "A wrong username or password, a username that must be the full address, a provider that requires an app password (Gmail, Yahoo and iCloud with 2-step verification) or OAuth2, or a badly encoded AUTH PLAIN/LOGIN exchange.",
		Fix:     "Check the credentials with mailprobe smtp check against the same server; create an app password or switch to XOAUTH2 where the provider requires it.",
	},
	"X.7.9": {
		Summary: "The AUTH mechanism is too weak for this server or account.",
		Cause:   "The account requires an app password or OAuth2, or the server refuses PLAIN/LOGIN.",
		Fix:     "Use an app password, XOAUTH2, or a stronger mechanism from the EHLO reply.",
	},
	"X.7.10": {
		Summary: "Encryption is needed for this.",
		Fix:     "Use STARTTLS (port 587) or implicit TLS (port 465).",
	},
	"X.7.11": {
		Summary: "This AUTH mechanism requires an encrypted connection first.",
		Cause:   "AUTH PLAIN or LOGIN was attempted on a plaintext connection.",
		Fix:     "Issue STARTTLS on port 587 or use implicit TLS on 465 before AUTH; never send a password in the clear.",
	},
	"X.7.12": {
		Summary: "A password transition is needed before this AUTH mechanism works.",
		Fix:     "Log in once through the provider's web interface to complete it.",
	},
	"X.7.13": {
		Summary: "The user account is disabled.",
		Fix:     "Re-enable the account with the provider.",
	},
	"X.7.14": {
		Summary: "A trust relationship is required: the server does not trust this client for this operation.",
		Cause:   "Gmail uses 534 5.7.14 when a sign-in from a new place must first be confirmed in a web browser.",
		Fix:     "Sign in once through the provider's web interface, or use an app password or OAuth2.",
	},
	"X.7.17": {
		Summary: "The mailbox has changed owner since the date the sender required (RRVS, RFC 7293).",
	},
	"X.7.18": {
		Summary: "The domain has changed owner since the date the sender required (RRVS, RFC 7293).",
	},
	"X.7.20": {
		Summary: "No passing DKIM signature was found.",
		Cause:   "The message was not DKIM-signed, or its signature broke: the body was changed after signing (footers, link rewriting), or the selector's public key in DNS is missing or different.",
		Fix:     "Sign with DKIM for your From domain and publish the key at SELECTOR._domainkey.DOMAIN; check with mailprobe dkim check DOMAIN --selector S.",
	},
	"X.7.21": {
		Summary: "No acceptable DKIM signature was found: a signature exists but the receiver does not accept it.",
		Cause:   "A weak key or algorithm (RSA under 1024 bits, rsa-sha1) or a signature that does not cover the required headers.",
		Fix:     "Sign with rsa-sha256 and a 2048-bit key (or ed25519 alongside), covering at least From.",
	},
	"X.7.22": {
		Summary: "No valid DKIM signature from the author's (From) domain was found.",
		Cause:   "The message is signed by your provider's domain (d=provider.example) rather than your From domain.",
		Fix:     "Set up domain authentication with your sending provider so that d= matches your From domain.",
	},
	"X.7.23": {
		Summary: "SPF validation failed: the sending IP is not authorized by the SPF record of the MAIL FROM domain.",
		Cause:   "Mail sent from a server or service the SPF record does not list: a new provider, a cloud VM, or a forwarder. (Gmail's 421 4.7.23 instead means the sending IP has no usable PTR record.)",
		Fix:     "Add the service to SPF (include: or ip4:/ip6:) while staying under 10 DNS lookups; mailprobe spf DOMAIN --ip IP shows why it fails.",
	},
	"X.7.24": {
		Summary: "SPF could not be evaluated: the record is broken (permerror) or DNS failed (temperror).",
		Cause:   "A syntax error, more than 10 DNS-querying terms (RFC 7208 §4.6.4), two SPF records, or DNS timeouts.",
		Fix:     "Fix the record; mailprobe spf DOMAIN names the culprit when the lookup limit is exceeded.",
	},
	"X.7.25": {
		Summary: "Reverse DNS check failed: the sending IP has no PTR record, or its PTR name does not resolve back to the IP.",
		Cause:   "Sending directly from a cloud VM or home connection without reverse DNS set up.",
		Fix:     "Ask whoever owns the IP (your hosting provider) for a PTR record naming a host whose A/AAAA record points back to the IP, and use that name in EHLO.",
	},
	"X.7.26": {
		Summary: "Several authentication checks failed: typically SPF and DKIM both, so DMARC failed too.",
		Cause:   "The message is neither SPF-authorized nor DKIM-signed for the sending domain, or neither aligns with the From domain, and the receiver requires authentication.",
		Fix:     "Publish SPF for the server or service you send from, DKIM-sign for your From domain, and publish DMARC (start with p=none and a rua= address); check with mailprobe dns DOMAIN.",
	},
	"X.7.27": {
		Summary: "The sender's domain publishes a null MX (it receives no mail), so mail from it is refused.",
		Cause:   "MAIL FROM uses a domain with \"MX 0 .\" (RFC 7505), so bounces could not be returned. (Gmail uses 4.7.27/5.7.27 differently: there it means SPF did not pass.)",
		Fix:     "Use an envelope sender on a domain that receives mail.",
	},
	"X.7.28": {
		Summary: "Mail flood detected: too much mail, too fast, from this source.",
		Fix:     "Slow down; look for compromised accounts or abused web forms, and watch spam complaint rates.",
	},
	"X.7.29": {
		Summary: "ARC validation failed (RFC 8617): a forwarder's ARC seal is broken.",
		Fix:     "If you forward mail, ARC-seal it correctly; otherwise contact the forwarding system.",
	},
	"X.7.30": {
		Summary: "REQUIRETLS support required: the message demands TLS end to end (RFC 8689) but the next server does not offer REQUIRETLS.",
		Cause:   "Gmail uses 4.7.30/5.7.30 differently: there it means DKIM did not pass. A Gmail reply (ending in \"gsmtp\") means that.",
		Fix:     "Send without REQUIRETLS, or to servers that advertise it.",
	},
}

// lookupEnhancedAdvice prefers a class-specific entry ("4.7.1") to the
// generic one ("X.7.1").
func lookupEnhancedAdvice(class, subject, detail int) (advice, bool) {
	if a, ok := enhancedAdvice[fmt.Sprintf("%d.%d.%d", class, subject, detail)]; ok {
		return a, true
	}
	a, ok := enhancedAdvice[fmt.Sprintf("X.%d.%d", subject, detail)]
	return a, ok
}
