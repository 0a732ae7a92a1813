package replycode

import (
	"regexp"
	"strings"
	"sync"
)

// ProviderReply is one well-known reply of a real provider or MTA.
//
// A reply matches when all of these hold:
//   - Code: 0 matches any code; otherwise the reply's code must be of the
//     same class (first digit). Servers are configurable (Postfix can answer
//     450 or 451, 550 or 554 for the same check), so the exact code is
//     documentation, the class is the constraint.
//   - Enhanced: "" matches anything; "5.7.26" must equal the reply's
//     enhanced code; "X.7.27" matches either class (4.7.27 and 5.7.27) for
//     providers that use the same code to defer and then to refuse.
//   - Match: a case-insensitive regular expression found in the reply text
//     (white space collapsed, repeated enhanced codes of multi-line replies
//     removed).
//
// The first matching entry of the table wins, so entries are ordered from
// the most specific to the most general.
type ProviderReply struct {
	Provider string `json:"provider"`
	Code     int    `json:"code,omitempty"`
	Enhanced string `json:"enhanced,omitempty"`
	Match    string `json:"match"`
	// Sample is a reply text (without code) the entry matches, for tests and
	// docs. Where the provider's wording varies or is not published, it is
	// an illustrative text carrying the distinctive words Match looks for.
	Sample  string   `json:"sample"`
	Summary string   `json:"summary"`
	Cause   string   `json:"cause,omitempty"`
	Fix     string   `json:"fix,omitempty"`
	Refs    []string `json:"refs,omitempty"`
}

// Providers returns the provider table, in matching order. The result is a
// copy: callers may modify it freely.
func Providers() []ProviderReply {
	out := make([]ProviderReply, len(providerTable))
	for i, p := range providerTable {
		p.Refs = append([]string(nil), p.Refs...)
		out[i] = p
	}
	return out
}

// compiledProvider is the precomputed matching form of a table entry.
type compiledProvider struct {
	class    int // 0 = any
	enhX     bool
	enhClass int
	enhSubj  int
	enhDet   int
	hasEnh   bool
	re       *regexp.Regexp
}

var (
	providersOnce     sync.Once
	compiledProviders []compiledProvider
)

// loadProviders compiles the table once. A bad expression or enhanced code
// in the table is a programming error caught by TestProviders_compile.
func loadProviders() []compiledProvider {
	providersOnce.Do(func() {
		cs := make([]compiledProvider, len(providerTable))
		for i, p := range providerTable {
			c := compiledProvider{re: regexp.MustCompile("(?i)" + p.Match)}
			if p.Code != 0 {
				c.class = p.Code / 100
			}
			if p.Enhanced != "" {
				e := p.Enhanced
				if strings.HasPrefix(e, "X.") {
					c.enhX = true
					e = "5" + e[1:]
				}
				cl, s, d, ok := ParseEnhanced(e)
				if !ok {
					panic("replycode: provider table: bad enhanced code " + p.Enhanced)
				}
				c.hasEnh, c.enhClass, c.enhSubj, c.enhDet = true, cl, s, d
			}
			cs[i] = c
		}
		compiledProviders = cs
	})
	return compiledProviders
}

// matchProvider returns the index of the first table entry matching the
// reply, or -1. class is the reply's class digit (from the code, or from the
// enhanced code when no basic code was given); norm is the normalized text.
func matchProvider(class int, enh parsedEnhanced, norm string) int {
	if norm == "" {
		return -1
	}
	for i, c := range loadProviders() {
		if c.class != 0 && c.class != class {
			continue
		}
		if c.hasEnh {
			if !enh.ok || enh.subject != c.enhSubj || enh.detail != c.enhDet {
				continue
			}
			if !c.enhX && enh.class != c.enhClass {
				continue
			}
		}
		if c.re.MatchString(norm) {
			return i
		}
	}
	return -1
}

// Reference strings shared by several entries.
var (
	refGmailErrors         = "Google Workspace Admin Help: Gmail SMTP errors and codes, https://support.google.com/a/answer/3726730"
	refGmailSenders        = "Google: Email sender guidelines, https://support.google.com/a/answer/81126"
	refGmailAppPw          = "Google Account Help: Sign in with app passwords, https://support.google.com/accounts/answer/185833"
	refMSNDR               = "Microsoft Learn: Email non-delivery reports and SMTP errors in Exchange Online, https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online"
	refMSSMTPAuth          = "Microsoft Learn: Enable or disable authenticated client SMTP submission (SMTP AUTH) in Exchange Online, https://aka.ms/smtp_auth_disabled"
	refMSDelist            = "Microsoft: Office 365 anti-spam IP delist portal, https://sender.office.com/"
	refYahooCodes          = "Yahoo Sender Hub: SMTP error codes, https://senders.yahooinc.com/smtp-error-codes/"
	refApplePM             = "Apple Support: Information for postmasters sending mail to iCloud, https://support.apple.com/en-us/HT204137"
	refPostconf            = "Postfix: postconf(5), https://www.postfix.org/postconf.5.html"
	refPostfixSASL         = "Postfix: SASL Howto, https://www.postfix.org/SASL_README.html"
	refPostgrey            = "Postgrey, https://postgrey.schweikert.ch/"
	refEximACL             = "Exim specification: Access control lists, https://www.exim.org/exim-html-current/doc/html/spec_html/ch-access_control_lists.html"
	refEximSpec            = "Exim specification, https://www.exim.org/exim-html-current/doc/html/spec_html/"
	refSendmailCF          = "sendmail: cf/README (configuration features), shipped with sendmail"
	refSpamhaus            = "Spamhaus: IP and domain reputation checker, https://check.spamhaus.org/"
	refBarracuda           = "Barracuda Central: reputation lookup, https://www.barracudacentral.org/lookups"
	refSpamCop             = "SpamCop blocking list, https://www.spamcop.net/bl.shtml"
	refSESErrors           = "Amazon SES Developer Guide: Amazon SES email sending errors, https://docs.aws.amazon.com/ses/latest/dg/troubleshoot-error-messages.html"
	refSESVerify           = "AWS re:Post: Why do I get a 554 or 400 \"Message rejected\" error with \"Email address is not verified\" from Amazon SES?, https://repost.aws/knowledge-center/ses-554-400-message-rejected-error"
	refSendGridID          = "Twilio SendGrid: Sender Identity, https://sendgrid.com/docs/for-developers/sending-email/sender-identity/"
	refSendGridSMTP        = "Twilio SendGrid: Integrating with the SMTP API, https://www.twilio.com/docs/sendgrid/for-developers/sending-email/integrating-with-the-smtp-api"
	refPostmarkSMTP        = "Postmark: Sending email with SMTP, https://postmarkapp.com/developer/user-guide/send-email-with-smtp"
	refPostmarkErrors      = "Postmark: API error codes, https://postmarkapp.com/developer/api/overview#error-codes"
	refPostmarkSuppression = "Postmark: SMTP API Error (suppressed recipients), https://postmarkapp.com/developer/webhooks/smtp-api-error"
	refMailgun             = "Mailgun documentation: SMTP credentials and sandbox domains, https://documentation.mailgun.com/"
	refMimecast            = "Mimecast: SMTP error codes, https://community.mimecast.com/docs/DOC-1369"
	refRFC5321Relay        = "RFC 5321 §3.6"
	refRFC7208             = "RFC 7208 (SPF)"
	refRFC6376             = "RFC 6376 (DKIM)"
	refRFC9989             = "RFC 9989 (DMARC, obsoletes RFC 7489)"
	refRFC7372             = "RFC 7372 (email authentication status codes)"
	refRFC3207             = "RFC 3207 (STARTTLS)"
	refRFC4954             = "RFC 4954 (SMTP AUTH)"
	refGreylisting         = "RFC 6647 (email greylisting)"
	refRFC5782DNSBL        = "RFC 5782 (DNS blacklists and whitelists)"
	fixAuthRecords         = "Publish an SPF record listing the server or service you send from (e.g. v=spf1 include:_spf.provider.example -all) and DKIM-sign with d= your From domain (TXT at SELECTOR._domainkey.DOMAIN). Check with mailprobe dns DOMAIN and mailprobe dmarc DOMAIN."
	fixPTR                 = "Ask whoever owns the sending IP (your hosting provider) to set a PTR record naming a host whose A/AAAA record points back to the IP (forward-confirmed reverse DNS), and send that name in EHLO."
	fixBlocklistIP         = "Look up the sending IP on the blocklist's site, fix the cause (an open relay, a compromised account, a web form abused to send mail), then request delisting. Dynamic or residential IPs must send through a relay or ESP instead."
	fixTLSSubmission       = "Connect to port 587 and issue STARTTLS before AUTH (or use implicit TLS on port 465); mailprobe smtp check shows what the server offers before and after TLS."
)

// providerTable lists known replies, most specific first (see ProviderReply).
// Texts are matched on their distinctive words; where a provider's exact
// wording varies or is unknown, the expression is deliberately loose.
var providerTable = []ProviderReply{
	// --- Gmail / Google Workspace: every reply ends in "- gsmtp" ---------
	// The DMARC variant of 5.7.26 comes first: its text names the policy, so the summary can say DMARC rather than only "unauthenticated".
	{
		Provider: "Gmail", Code: 550, Enhanced: "5.7.26",
		Match:   `not accepted due to (the )?domain'?s DMARC policy`,
		Sample:  "Unauthenticated email from example.com is not accepted due to domain's DMARC policy. Please contact the administrator of example.com domain if this was a legitimate mail. To learn about the DMARC initiative, go to https://support.google.com/mail/?p=DmarcRejection d2e1a72fcca58-7f0a1b2c3d4e5si123456b3a.42 - gsmtp",
		Summary: "Gmail rejected the message because it is not authenticated: SPF and DKIM both failed (or did not align with the From domain) and the domain publishes a DMARC policy that tells receivers to reject such mail.",
		Cause:   "The From domain has a DMARC record with p=reject (or quarantine), but the message came from a server or service not listed in the domain's SPF record and carried no valid DKIM signature for that domain, e.g. an app sending as @yourcompany.com through its own VPS or a newly added provider.",
		Fix:     fixAuthRecords + " At least one of SPF or DKIM must pass for a domain aligned with From (DMARC).",
		Refs:    []string{refGmailErrors, refGmailSenders, refRFC9989, refRFC7372},
	},
	// Since 2024 Gmail requires every sender to pass SPF or DKIM; older wordings of the same rejection are kept in the expression.
	{
		Provider: "Gmail", Code: 550, Enhanced: "5.7.26",
		Match:   `sender is unauthenticated|(does not|doesn't) have authentication information|fails to pass authentication checks`,
		Sample:  "This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM. Authentication results: DKIM = did not pass SPF [example.com] with ip: [192.0.2.10] = did not pass For instructions on setting up authentication, go to https://support.google.com/mail/answer/81126#authentication 5a478bee46e88-2b0123456789si1234567eec.80 - gsmtp",
		Summary: "Gmail rejected the message because the sender is not authenticated: neither SPF nor DKIM passed, and Gmail requires every sender to pass at least one.",
		Cause:   "The sending IP is not in the SPF record of the envelope (MAIL FROM) domain, and the message has no valid DKIM signature; the reply lists the results Gmail saw.",
		Fix:     fixAuthRecords,
		Refs:    []string{refGmailErrors, refGmailSenders, refRFC7208, refRFC6376},
	},
	// The enhanced code 4.7.26 is the constraint; the wording of the deferral has varied, so one distinctive word is enough.
	{
		Provider: "Gmail", Code: 421, Enhanced: "4.7.26",
		Match:   `unauthenticated`,
		Sample:  "This mail has been rate limited because it is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM. For more information, go to https://support.google.com/mail/answer/81126#authentication - gsmtp",
		Summary: "Gmail is deferring (rate limiting) the message because it is unauthenticated: neither SPF nor DKIM passed.",
		Cause:   "The same authentication failure as 550 5.7.26, in its temporary form; it turns into a rejection if nothing changes.",
		Fix:     fixAuthRecords,
		Refs:    []string{refGmailErrors, refGmailSenders},
	},
	// Gmail's bulk-sender codes reuse registered numbers with other meanings
	// (X.7.27 is "null MX" at IANA). "X." takes both 4.7.27 and 5.7.27, as
	// Gmail defers first and rejects later; the enhanced code does the
	// matching, the word only confirms it.
	{
		Provider: "Gmail", Enhanced: "X.7.27",
		Match:   `SPF`,
		Sample:  "This mail has been rate limited because SPF does not pass. Gmail requires all bulk senders to authenticate with SPF. For more information, go to https://support.google.com/a/answer/81126 - gsmtp",
		Summary: "Gmail deferred (4.7.27) or rejected (5.7.27) the message because SPF did not pass for it.",
		Cause:   "The sending IP is not authorized by the SPF record of the envelope sender (Return-Path) domain, or that record is broken. Gmail uses this code for SPF, although IANA registers X.7.27 for \"sender address has null MX\".",
		Fix:     "Add the sending server or service to the SPF record of the Return-Path domain (mailprobe spf DOMAIN --ip IP shows why it fails) and keep it under 10 DNS lookups.",
		Refs:    []string{refGmailErrors, refGmailSenders, refRFC7208},
	},
	// X.7.30 is REQUIRETLS at IANA; Gmail uses it for DKIM (RFC 6376) failures.
	{
		Provider: "Gmail", Enhanced: "X.7.30",
		Match:   `DKIM`,
		Sample:  "Your email has been rate limited because DKIM authentication didn't pass for this message. Gmail requires all bulk email senders to authenticate with DKIM. For more information, go to https://support.google.com/a/answer/81126 - gsmtp",
		Summary: "Gmail deferred (4.7.30) or rejected (5.7.30) the message because DKIM did not pass for it.",
		Cause:   "The message is not DKIM-signed, or its signature does not verify (wrong or missing public key in DNS, body modified after signing). Gmail uses this code for DKIM, although IANA registers X.7.30 for REQUIRETLS.",
		Fix:     "DKIM-sign with d= your From domain and publish the key at SELECTOR._domainkey.DOMAIN; verify with mailprobe dkim check DOMAIN --selector S.",
		Refs:    []string{refGmailErrors, refGmailSenders, refRFC6376},
	},
	// X.7.40 is not registered; Gmail uses it (and earlier 4.7.31) for a missing DMARC record.
	{
		Provider: "Gmail", Enhanced: "X.7.40",
		Match:   `DMARC`,
		Sample:  "Your email has been rate limited because the sending domain doesn't have a DMARC policy. Gmail requires all bulk email senders to publish a DMARC record. - gsmtp",
		Summary: "Gmail deferred or rejected the message because the sending domain publishes no DMARC record.",
		Cause:   "Gmail requires bulk senders to publish DMARC for their From domain (p=none is enough).",
		Fix:     "Publish a TXT record at _dmarc.DOMAIN, e.g. \"v=DMARC1; p=none; rua=mailto:dmarc@DOMAIN\"; check with mailprobe dmarc DOMAIN.",
		Refs:    []string{refGmailErrors, refGmailSenders, refRFC9989},
	},
	// DMARC alignment (RFC 9989): the authenticated domain must match the From domain.
	{
		Provider: "Gmail", Enhanced: "X.7.32",
		Match:   `align`,
		Sample:  "Your email has been rate limited because the From: header (RFC5322) in this message isn't aligned with either the authenticated SPF or DKIM organizational domain. - gsmtp",
		Summary: "Gmail deferred or rejected the message because the From domain does not align with the domain that passed SPF or DKIM.",
		Cause:   "SPF or DKIM passed, but for another domain (typically the sending provider's own), so DMARC alignment with the visible From domain fails.",
		Fix:     "Use a Return-Path (custom MAIL FROM) on your own domain, or DKIM-sign with d= your From domain; most providers call this \"domain authentication\".",
		Refs:    []string{refGmailErrors, refGmailSenders, refRFC9989},
	},
	// Forward-confirmed reverse DNS; RFC 7372 §3.3 registers X.7.25 for it.
	{
		Provider: "Gmail", Code: 550, Enhanced: "5.7.25",
		Match:   `PTR|reverse DNS`,
		Sample:  "The IP address sending this message does not have a PTR record setup, or the corresponding forward DNS entry does not point to the sending IP. As a policy, Gmail does not accept messages from IPs with missing PTR records. For more information, go to https://support.google.com/mail/answer/81126#ip-practices - gsmtp",
		Summary: "Gmail rejected the message because the sending IP has no valid reverse DNS (PTR) record.",
		Cause:   "The IP has no PTR record, or the PTR name does not resolve back to the same IP (forward-confirmed reverse DNS).",
		Fix:     fixPTR,
		Refs:    []string{refGmailErrors, refGmailSenders, refRFC7372},
	},
	{
		Provider: "Gmail", Code: 421, Enhanced: "4.7.23",
		Match:   `PTR|reverse DNS`,
		Sample:  "The sending IP does not have a PTR record, or the PTR record does not match the forward DNS of the sending IP. - gsmtp",
		Summary: "Gmail deferred the message because the sending IP has no valid reverse DNS (PTR) record.",
		Cause:   "Gmail uses 4.7.23 (registered by IANA for SPF failures) for a missing or mismatched PTR record.",
		Fix:     fixPTR,
		Refs:    []string{refGmailErrors, refGmailSenders},
	},
	// Same words under 421 4.7.0, 421 4.7.28 and 550 5.7.1/5.7.28: no code or enhanced constraint.
	{
		Provider: "Gmail",
		Match:    `unusual rate of (unsolicited )?mail`,
		Sample:   "Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily blocked. For more information, go to https://support.google.com/mail/?p=UnsolicitedRateLimitError - gsmtp",
		Summary:  "Gmail is rate limiting or blocking mail from your IP address or domain because it sees an unusual rate of unwanted mail from it.",
		Cause:    "Spam complaints, a sudden jump in volume (a new IP or domain that was not warmed up), or a compromised account or form sending spam through your server. 4.7.28 names the DKIM or SPF domain or the IP netblock concerned.",
		Fix:      "Slow down and retry later; check Google Postmaster Tools for your spam rate (keep it under 0.3%), stop any abuse, and warm new IPs and domains up gradually.",
		Refs:     []string{refGmailErrors, refGmailSenders},
	},
	// Workspace "require TLS" compliance rule on the recipient side (RFC 3207).
	{
		Provider: "Gmail", Code: 421, Enhanced: "4.7.0",
		Match:   `TLS required for RCPT domain`,
		Sample:  "TLS required for RCPT domain, closing connection. - gsmtp",
		Summary: "The recipient's Google Workspace domain requires TLS, and this connection did not use it.",
		Cause:   "The recipient's administrator enforces TLS for incoming mail, and the sending server did not issue STARTTLS (or its TLS failed).",
		Fix:     "Enable opportunistic or mandatory STARTTLS on the sending server; mailprobe tls HOST:25 --starttls smtp shows whether a handshake with Google works.",
		Refs:    []string{refGmailErrors, refRFC3207},
	},
	// Workspace inbound gateway setting: only listed IPs may deliver.
	{
		Provider: "Gmail", Code: 421, Enhanced: "4.7.0",
		Match:   `not in whitelist for RCPT domain`,
		Sample:  "IP not in whitelist for RCPT domain, closing connection. - gsmtp",
		Summary: "The recipient's Google Workspace domain only accepts mail from listed IP addresses, and yours is not one of them.",
		Cause:   "The recipient routes inbound mail through a gateway and told Google to refuse direct deliveries.",
		Fix:     "Deliver through the recipient's MX as published in DNS, or ask their administrator to allow your IP.",
		Refs:    []string{refGmailErrors},
	},
	{
		Provider: "Gmail", Code: 450, Enhanced: "4.2.1",
		Match:   `receiving mail (too quickly|at a rate)`,
		Sample:  "The user you are trying to contact is receiving mail too quickly. Please resend your message at a later time. If the user is able to receive mail at that time, your message will be delivered. For more information, go to https://support.google.com/mail/?p=ReceivingRate - gsmtp",
		Summary: "Gmail deferred the message because the recipient is receiving mail faster than Gmail allows.",
		Cause:   "Too many messages to one recipient in a short time (a loop, a burst of notifications, or someone else flooding the mailbox).",
		Fix:     "Retry later and rate-limit mail to a single recipient (e.g. repeated password-reset requests).",
		Refs:    []string{refGmailErrors},
	},
	{
		Provider: "Gmail", Code: 550, Enhanced: "5.1.1",
		Match:   `account that you tried to reach does not exist`,
		Sample:  "The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. For more information, go to https://support.google.com/mail/?p=NoSuchUser 41be03b00d2f7-5a1b2c3d4e5si12345a12.34 - gsmtp",
		Summary: "Gmail says the recipient address does not exist.",
		Cause:   "A typo, or an account that was never created or has been deleted.",
		Fix:     "Correct the address and stop sending to it (hard bounce); in a sign-up flow, ask the user to re-check the address.",
		Refs:    []string{refGmailErrors},
	},
	{
		Provider: "Gmail", Code: 550, Enhanced: "5.2.1",
		Match:   `account that you tried to reach is (disabled|inactive)`,
		Sample:  "The email account that you tried to reach is disabled. For more information, go to https://support.google.com/mail/?p=DisabledUser - gsmtp",
		Summary: "Gmail says the recipient's account is disabled.",
		Cause:   "The Google account was suspended or disabled by its owner, its administrator or Google.",
		Fix:     "Stop sending to the address; reach the user another way.",
		Refs:    []string{refGmailErrors},
	},
	// 452 4.2.2 while Google waits for the user to free space, 552 5.2.2 later.
	{
		Provider: "Gmail", Enhanced: "X.2.2",
		Match:   `over quota|out of storage|storage space`,
		Sample:  "The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp - gsmtp",
		Summary: "The recipient's Gmail mailbox is full.",
		Cause:   "The recipient used up their Google storage; nothing is wrong with your message.",
		Fix:     "Retry later (452 4.2.2) or reach the recipient another way (552 5.2.2).",
		Refs:    []string{refGmailErrors},
	},
	{
		Provider: "Gmail", Code: 552, Enhanced: "5.3.4",
		Match:   `message size limit`,
		Sample:  "Your message exceeded Google's message size limits. Please visit https://support.google.com/mail/?p=MaxSizeError to view our size guidelines. - gsmtp",
		Summary: "Gmail rejected the message because it is larger than Gmail's size limit (25 MB including encoding).",
		Cause:   "The message, with attachments grown by base64 encoding, is over Gmail's limit.",
		Fix:     "Send a smaller message and link to large files instead of attaching them.",
		Refs:    []string{refGmailErrors},
	},
	{
		Provider: "Gmail", Code: 550, Enhanced: "5.7.1",
		Match:   `likely unsolicited mail|very low reputation`,
		Sample:  "Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked. For more information, go to https://support.google.com/mail/?p=UnsolicitedMessageError - gsmtp",
		Summary: "Gmail rejected the message as likely spam.",
		Cause:   "Poor reputation of the sending IP or domain, missing authentication, or content (links, URL shorteners) that looks like spam.",
		Fix:     "Authenticate with SPF, DKIM and DMARC, send from a reputable IP, avoid URL shorteners and link mismatches in the reset email, and check Google Postmaster Tools.",
		Refs:    []string{refGmailErrors, refGmailSenders},
	},
	// Gmail enforces RFC 5322 §3.6 header counts and syntax since 2024.
	{
		Provider: "Gmail", Code: 550, Enhanced: "5.7.1",
		Match:   `RFC ?5322|missing a valid (address in From|messageId)|multiple From|From: header`,
		Sample:  "Messages missing a valid address in From: header, or having no From: header, are not accepted. For more information, go to https://support.google.com/mail/?p=RfcMessageNonCompliant - gsmtp",
		Summary: "Gmail rejected the message because its headers do not follow RFC 5322.",
		Cause:   "A missing or malformed From: header, several From: headers, or a missing or invalid Message-ID or Date.",
		Fix:     "Generate exactly one From: with a valid address, a Message-ID and a Date in every message (RFC 5322 §3.6).",
		Refs:    []string{refGmailErrors, "RFC 5322 §3.6"},
	},
	{
		Provider: "Gmail", Code: 550, Enhanced: "5.7.1",
		Match:   `not authorized to send email directly to our servers`,
		Sample:  "The IP you're using to send mail is not authorized to send email directly to our servers. Please use the SMTP relay at your service provider instead. For more information, go to https://support.google.com/mail/?p=NotAuthorizedError - gsmtp",
		Summary: "Gmail refuses direct delivery from this IP: it is a dynamic or residential address.",
		Cause:   "The sending IP is listed as end-user space (e.g. Spamhaus PBL) that should not talk to MX servers directly.",
		Fix:     "Send through your provider's SMTP relay or a transactional email service on port 587 with AUTH.",
		Refs:    []string{refGmailErrors},
	},
	// Postfix sends the very same words; "gsmtp" tells Gmail apart, so this
	// entry must stay above Postfix's.
	{
		Provider: "Gmail", Code: 530, Enhanced: "5.7.0",
		Match:   `Must issue a STARTTLS command first.*gsmtp`,
		Sample:  "Must issue a STARTTLS command first. a640c23a62f3a-abc123 - gsmtp",
		Summary: "smtp.gmail.com requires TLS before anything else: the client sent a command without STARTTLS.",
		Cause:   "The client sent AUTH or MAIL before STARTTLS; Gmail's submission server never accepts them in plaintext.",
		Fix:     "Use port 587 with STARTTLS or port 465 with implicit TLS, then log in.",
		Refs:    []string{refGmailErrors, refRFC3207},
	},
	// MailKit's generic "530 5.7.0 Authentication required" must not match: require Gmail's marker.
	{
		Provider: "Gmail", Code: 530, Enhanced: "5.7.0",
		Match:   `Authentication Required.*(WantAuthError|gsmtp)`,
		Sample:  "Authentication Required. For more information, go to https://support.google.com/mail/?p=WantAuthError - gsmtp",
		Summary: "smtp.gmail.com requires login before sending: the client sent MAIL FROM without AUTH.",
		Cause:   "smtp.gmail.com only relays for logged-in Google accounts, and MAIL FROM came before a successful AUTH.",
		Fix:     "Authenticate (AUTH PLAIN/LOGIN with an app password, or XOAUTH2) after STARTTLS and before MAIL FROM.",
		Refs:    []string{refGmailErrors, refRFC4954},
	},
	// The reply a password-reset mailer gets most often from smtp.gmail.com.
	{
		Provider: "Gmail", Code: 535, Enhanced: "5.7.8",
		Match:   `Username and Password not accepted`,
		Sample:  "Username and Password not accepted. For more information, go to https://support.google.com/mail/?p=BadCredentials a640c23a62f3a-abc123 - gsmtp",
		Summary: "Gmail rejected the login: the username or password is wrong, or the account's normal password may not be used for SMTP.",
		Cause:   "Google accounts do not accept the account password over SMTP; they need an app password (which requires 2-Step Verification) or OAuth2. A typo or a revoked app password gives the same answer.",
		Fix:     "Create an app password for the account and use it as the SMTP password with the full address as username, or switch to XOAUTH2.",
		Refs:    []string{refGmailErrors, refGmailAppPw},
	},
	{
		Provider: "Gmail", Code: 534, Enhanced: "5.7.9",
		Match:   `Application-specific password required`,
		Sample:  "Application-specific password required. For more information, go to https://support.google.com/mail/?p=InvalidSecondFactor - gsmtp",
		Summary: "Gmail requires an app password: the account has 2-Step Verification on and the normal password was used.",
		Cause:   "The Google account has 2-Step Verification on, so its normal password cannot be used by SMTP clients.",
		Fix:     "Create an app password in the Google account's security settings and use it as the SMTP password, or use XOAUTH2.",
		Refs:    []string{refGmailErrors, refGmailAppPw},
	},
	{
		Provider: "Gmail", Code: 534, Enhanced: "5.7.14",
		Match:   `log in via your web browser|WebLoginRequired`,
		Sample:  "Please log in via your web browser and then try again. Learn more at https://support.google.com/mail/?p=WebLoginRequired - gsmtp",
		Summary: "Google blocked the SMTP login until someone signs in to the account in a web browser.",
		Cause:   "Google saw a sign-in from an unfamiliar place or app and wants it confirmed.",
		Fix:     "Sign in to the account in a browser and review the security alert, then use an app password or XOAUTH2.",
		Refs:    []string{refGmailErrors},
	},
	{
		Provider: "Gmail", Code: 454, Enhanced: "4.7.0",
		Match:   `Too many login attempts`,
		Sample:  "Too many login attempts, please try again later. For more information, go to https://support.google.com/mail/?p=TooManyLoginAttempts - gsmtp",
		Summary: "Gmail temporarily blocks logins for this account after too many attempts.",
		Cause:   "Repeated failed logins, or an app opening a new authenticated connection for every message.",
		Fix:     "Fix the credentials, wait, and reuse one connection for several messages.",
		Refs:    []string{refGmailErrors},
	},
	{
		Provider: "Gmail", Code: 550, Enhanced: "5.4.5",
		Match:   `sending (quota|limit) exceeded|relay limit exceeded`,
		Sample:  "Daily user sending limit exceeded. For more information on Gmail sending limits go to https://support.google.com/a/answer/166852 - gsmtp",
		Summary: "The Google account hit its daily sending limit.",
		Cause:   "Gmail and Google Workspace cap messages and recipients per day per user (and per SMTP relay customer).",
		Fix:     "Wait for the limit to reset (up to 24 hours) and move bulk or automated mail to a transactional email service.",
		Refs:    []string{refGmailErrors, "Google Workspace Admin Help: Gmail sending limits, https://support.google.com/a/answer/166852"},
	},
	{
		Provider: "Gmail",
		Match:    `Invalid credentials for relay|Mail relay denied`,
		Sample:   "Mail relay denied [192.0.2.10]. Invalid credentials for relay for one of the domains in: example.com (as obtained from HELO and MAIL FROM). Email is being sent from a domain or IP address which isn't registered in your Workspace account. - gsmtp",
		Summary:  "Google's SMTP relay (smtp-relay.gmail.com) refused to relay: the sending IP or domain is not registered for your Workspace account.",
		Cause:    "The SMTP relay service only accepts mail from IP addresses or authenticated users configured in the Workspace admin console, for the account's own domains.",
		Fix:      "Add the sending IP to the SMTP relay service settings (or require SMTP AUTH there) and send from a domain of the Workspace account.",
		Refs:     []string{refGmailErrors},
	},
	// Temporary Google-side problems under 421 and 451 codes: no constraint but the words.
	{
		Provider: "Gmail",
		Match:    `Temporary System Problem|temporarily rejected (this )?message|Server busy, try again later`,
		Sample:   "Temporary System Problem. Try again later. a640c23a62f3a-abc123 - gsmtp",
		Summary:  "Gmail had a temporary problem and deferred the message.",
		Cause:    "A passing problem or load on Google's side, not something in your message.",
		Fix:      "Nothing to change: let the mail queue retry.",
		Refs:     []string{refGmailErrors},
	},
	{
		Provider: "Gmail", Code: 552, Enhanced: "5.7.0",
		Match:   `potential security issue|illegal attachment|blocked for security reasons`,
		Sample:  "This message was blocked because its content presents a potential security issue. To review our message content and attachment content guidelines, go to https://support.google.com/mail/?p=BlockedMessage - gsmtp",
		Summary: "Gmail blocked the message because of its content, typically an attachment type it refuses (executables, some archives).",
		Cause:   "Gmail refuses some attachment types (executables, scripts, archives containing them) and content its malware scanning flags.",
		Fix:     "Do not attach executables or archives containing them; link to files instead.",
		Refs:    []string{refGmailErrors},
	},
	// Successes are explained too: the point of a 250 is that the receiver
	// now owns the message, so a missing email is a filtering question.
	{
		Provider: "Gmail", Code: 250, Enhanced: "2.0.0",
		Match:   `^OK .*gsmtp`,
		Sample:  "OK  1718000000 d2e1a72fcca58-7f0a1b2c3d4e5si123456b3a.42 - gsmtp",
		Summary: "Gmail accepted the message. If it does not show up, Gmail filtered it after accepting it: look in Spam, and check the message's authentication results.",
		Cause:   "Gmail took responsibility for the message with this reply; spam filtering happens afterwards and is not reported over SMTP.",
		Fix:     "Nothing to fix in the SMTP session. If the message is missing, check the recipient's Spam folder and the Authentication-Results header (mailprobe reset send --imap reports both).",
		Refs:    []string{refGmailSenders},
	},

	// --- Microsoft 365 / Exchange Online / Outlook.com ---------------------
	// Microsoft's 5.7.139 has several texts, one per reason; the reason is in
	// the words, so each gets its own entry, most specific first.
	{
		Provider: "Microsoft 365", Code: 535, Enhanced: "5.7.139",
		Match:   `SmtpClientAuthentication is disabled`,
		Sample:  "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [AM0PR10CA0012.EURPRD10.PROD.OUTLOOK.COM 2024-01-01T00:00:00.000Z 08DC0000000000000]",
		Summary: "Microsoft 365 refused the login because SMTP AUTH (authenticated client submission) is turned off for the whole tenant.",
		Cause:   "Tenants created since 2020 have SMTP AUTH disabled by default, and Microsoft is retiring basic authentication for it.",
		Fix:     "Preferably send with OAuth2 (XOAUTH2) or Microsoft Graph sendMail. Otherwise an Exchange admin runs Set-TransportConfig -SmtpClientAuthenticationDisabled $false and enables Authenticated SMTP on the mailbox (Set-CASMailbox -SmtpClientAuthenticationDisabled $false).",
		Refs:    []string{refMSSMTPAuth, refMSNDR},
	},
	{
		Provider: "Microsoft 365", Code: 535, Enhanced: "5.7.139",
		Match:   `security defaults`,
		Sample:  "Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator. [DM6PR02CA0000.namprd02.prod.outlook.com]",
		Summary: "Microsoft 365 refused the login because the tenant's Security Defaults block basic (password) authentication.",
		Cause:   "Security Defaults block legacy (basic) authentication, which includes SMTP AUTH with a password.",
		Fix:     "Use OAuth2 (XOAUTH2) or Microsoft Graph; or an admin replaces Security Defaults with Conditional Access policies that exempt this account from legacy-auth blocking.",
		Refs:    []string{refMSSMTPAuth, refMSNDR},
	},
	{
		Provider: "Microsoft 365", Code: 535, Enhanced: "5.7.139",
		Match:   `did not meet the criteria`,
		Sample:  "Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator. [BN9PR03CA0000.namprd03.prod.outlook.com]",
		Summary: "Microsoft 365 refused the login because a sign-in policy (Conditional Access, MFA) blocks this authentication.",
		Cause:   "A Conditional Access policy, an MFA requirement or a sign-in risk rule rejected this sign-in.",
		Fix:     "Have an admin check Entra ID sign-in logs for the account, or move the app to OAuth2.",
		Refs:    []string{refMSSMTPAuth, refMSNDR},
	},
	{
		Provider: "Microsoft 365", Code: 535, Enhanced: "5.7.139",
		Match:   `basic authentication is disabled`,
		Sample:  "Authentication unsuccessful, basic authentication is disabled. [SN7PR04CA0000.namprd04.prod.outlook.com]",
		Summary: "Microsoft 365 refused the login because basic (username and password) authentication is disabled.",
		Cause:   "Microsoft is retiring basic authentication for SMTP AUTH; the tenant or mailbox no longer accepts passwords over SMTP.",
		Fix:     "Authenticate with OAuth2 (XOAUTH2) or send through Microsoft Graph.",
		Refs:    []string{refMSSMTPAuth},
	},
	{
		Provider: "Microsoft 365", Code: 535, Enhanced: "5.7.139",
		Match:   `credentials were incorrect`,
		Sample:  "Authentication unsuccessful, the user credentials were incorrect. [CH2PR05CA0000.namprd05.prod.outlook.com]",
		Summary: "Microsoft 365 rejected the username or password.",
		Cause:   "A wrong or expired password, or a username that is not the account's full sign-in address (UPN).",
		Fix:     "Use the full address as username and the correct password (or an app password when MFA is on).",
		Refs:    []string{refMSSMTPAuth},
	},
	// Catch-all for Microsoft's SMTP AUTH failures: after the 5.7.139 texts.
	{
		Provider: "Microsoft 365", Code: 535, Enhanced: "5.7.3",
		Match:   `Authentication unsuccessful`,
		Sample:  "Authentication unsuccessful [SN4PR0501CA0000.namprd05.prod.outlook.com]",
		Summary: "Microsoft 365 refused the SMTP login.",
		Cause:   "Wrong credentials, SMTP AUTH disabled for the mailbox or tenant, MFA or Security Defaults blocking basic authentication. (Microsoft uses 5.7.3 for this; IANA registers X.7.3 for something else.)",
		Fix:     "Check that Authenticated SMTP is enabled for the mailbox and tenant, or switch the app to OAuth2 (XOAUTH2).",
		Refs:    []string{refMSSMTPAuth, refMSNDR},
	},
	{
		Provider: "Microsoft 365", Code: 530, Enhanced: "5.7.57",
		Match:   `not authenticated to send (anonymous )?mail`,
		Sample:  "Client not authenticated to send mail. Error: 535 5.7.139 Authentication unsuccessful [DM6PR02CA0000.namprd02.prod.outlook.com]",
		Summary: "Microsoft 365 refused MAIL FROM because the client is not logged in.",
		Cause:   "The app sent mail to smtp.office365.com without (successful) AUTH, or the login failed earlier and the client carried on.",
		Fix:     "Authenticate on port 587 after STARTTLS before MAIL FROM, and make sure SMTP AUTH is enabled; to send without login, use a connector or the tenant's MX endpoint for internal recipients.",
		Refs:    []string{refMSNDR, refMSSMTPAuth},
	},
	// SendAsDenied also arrives inside a STOREDRV exception (554 5.2.0), so it
	// has no code constraint and must precede the STOREDRV catch-all.
	{
		Provider: "Microsoft 365",
		Match:    `permissions? to send as this sender|SendAsDenied`,
		Sample:   "SMTP; Client does not have permissions to send as this sender [BY2PR1001MB1094.namprd10.prod.outlook.com]",
		Summary:  "Microsoft 365 refused the message because the logged-in account may not send with this From address.",
		Cause:    "The From (or MAIL FROM) address is not the authenticated mailbox and the account has no Send As permission for it.",
		Fix:      "Send From the authenticated mailbox's own address, or grant the account Send As on the other mailbox.",
		Refs:     []string{refMSNDR},
	},
	// Specific STOREDRV exceptions before the STOREDRV catch-all.
	{
		Provider: "Microsoft 365",
		Match:    `OutboundSpamException|WASCL UserAction verdict`,
		Sample:   "STOREDRV.Submission.Exception:OutboundSpamException; Failed to process message due to a permanent exception with message WASCL UserAction verdict is not None. Actual verdict is Suspend, ShowTierUpgrade.",
		Summary:  "Microsoft has restricted this account from sending because it looked like it was sending spam.",
		Cause:    "The account sent mail that Exchange Online Protection classed as outbound spam, typically after a compromise or a bulk send, and it was restricted.",
		Fix:      "An admin checks the account for compromise, then releases it in the Microsoft Defender portal (Restricted entities).",
		Refs:     []string{refMSNDR},
	},
	{
		Provider: "Microsoft 365",
		Match:    `SubmissionQuotaExceeded`,
		Sample:   "STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message Cannot submit message.",
		Summary:  "The Microsoft 365 mailbox exceeded its sending limit (messages or recipients per day).",
		Cause:    "Exchange Online limits each mailbox to 10,000 recipients a day and 30 messages a minute.",
		Fix:      "Wait for the limit to reset, and send bulk or automated mail through a service meant for it.",
		Refs:     []string{refMSNDR},
	},
	// Any other Exchange store driver exception.
	{
		Provider: "Microsoft 365",
		Match:    `STOREDRV`,
		Sample:   "STOREDRV.Deliver.Exception:StoragePermanentException; Failed to process message due to a permanent exception.",
		Summary:  "The Exchange mailbox store failed to accept or submit the message.",
		Cause:    "A problem with the mailbox itself (quota, corruption, permissions); the exception name after STOREDRV says which.",
		Fix:      "Look up the exception name in the NDR reference; a persistent one needs the Exchange admin.",
		Refs:     []string{refMSNDR},
	},
	// Directory-Based Edge Blocking (DBEB) in Exchange Online Protection.
	{
		Provider: "Microsoft 365", Code: 550, Enhanced: "5.4.1",
		Match:   `Recipient address rejected: Access denied`,
		Sample:  "Recipient address rejected: Access denied. For more information see https://aka.ms/EXOSmtpErrors [SN1NAM02FT0000.eop-nam02.prod.protection.outlook.com]",
		Summary: "The recipient does not exist in the Microsoft 365 tenant (Directory-Based Edge Blocking rejected it).",
		Cause:   "The address is mistyped or was removed, or the domain is set as authoritative while some mailboxes live elsewhere.",
		Fix:     "Check the address. If you run the tenant, add the recipient or set the accepted domain to internal relay.",
		Refs:    []string{refMSNDR},
	},
	{
		Provider: "Microsoft 365",
		Match:    `RecipientNotFound|RecipNotFound`,
		Sample:   "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
		Summary:  "Exchange could not find the recipient address in its directory.",
		Cause:    "The address is mistyped, or the recipient was removed from the directory.",
		Fix:      "Check the address; if it should exist, the tenant admin must add it or the alias.",
		Refs:     []string{refMSNDR},
	},
	// 5.7.606-5.7.649: a range of enhanced codes, so only the words are matched.
	{
		Provider: "Microsoft 365",
		Match:    `banned sending IP`,
		Sample:   "Access denied, banned sending IP [192.0.2.10]. To request removal from this list please visit https://sender.office.com/ and follow the directions. For more information please go to http://go.microsoft.com/fwlink/?LinkID=526655 AS(1430)",
		Summary:  "Microsoft 365 refuses mail from your sending IP: it is on Microsoft's blocked senders list (5.7.606-5.7.649).",
		Cause:    "The IP sent spam or has poor reputation in Microsoft's filters.",
		Fix:      "Request delisting at https://sender.office.com/ after fixing the cause, or send through a reputable relay.",
		Refs:     []string{refMSNDR, refMSDelist},
	},
	{
		Provider: "Microsoft 365",
		Match:    `Access denied, banned sender`,
		Sample:   "Access denied, banned sender[192.0.2.10]. To request removal from this list please forward this message to delist@microsoft.com.",
		Summary:  "Microsoft refuses mail from this sending IP or sender (5.7.511).",
		Cause:    "The IP or sender has poor reputation with Microsoft or sent spam to its services.",
		Fix:      "Follow the delisting instructions in the reply after fixing the cause.",
		Refs:     []string{refMSNDR},
	},
	// Outlook.com consumer service: S3140/S3150 (written AS3150 in some replies).
	{
		Provider: "Outlook.com",
		Match:    `on our block list`,
		Sample:   "Unfortunately, messages from [192.0.2.10] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. [BY2NAM01FT030.eop-nam01.prod.protection.outlook.com]",
		Summary:  "Outlook.com/Hotmail refuses mail from your IP range: it is on Microsoft's block list (S3150/S3140).",
		Cause:    "The IP or its network has poor reputation with Microsoft's consumer mail service.",
		Fix:      "Ask for mitigation through the Outlook.com sender support form, join SNDS/JMRP for visibility, or send through a relay with good reputation.",
		Refs:     []string{"Outlook.com: troubleshooting for senders, http://mail.live.com/mail/troubleshooting.aspx#errors"},
	},
	{
		Provider: "Microsoft 365",
		Match:    `rate limited due to IP reputation`,
		Sample:   "The mail server [192.0.2.10] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775) [Name=Protocol Filter Agent][AGT=PFA][MxId=11BAF6F9F77D0CD8]",
		Summary:  "Microsoft is deferring mail from your IP because of its reputation (4.7.650).",
		Cause:    "Microsoft's filters see a poor or unknown reputation for the IP and slow it down.",
		Fix:      "Let the queue retry at a slower rate; improve reputation (authentication, complaint rate) and warm up new IPs.",
		Refs:     []string{refMSNDR},
	},
	// 4.7.500-4.7.699 throttling; Gmail says "Server busy, try again later" with a comma.
	{
		Provider: "Microsoft 365",
		Match:    `Server busy\. Please try again later|Access denied, please try again later`,
		Sample:   "Server busy. Please try again later from [192.0.2.10]. (S77719) [SN1NAM02FT0000.eop-nam02.prod.protection.outlook.com]",
		Summary:  "Microsoft is throttling your IP and deferred the message (4.7.500-4.7.699).",
		Cause:    "A new IP without history, a burst of volume, or reputation problems.",
		Fix:      "Retry later with fewer connections; warm up new IPs gradually.",
		Refs:     []string{refMSNDR},
	},
	// 5.7.700-5.7.750: restrictions on the sending tenant itself.
	{
		Provider: "Microsoft 365",
		Match:    `traffic not accepted from this IP`,
		Sample:   "Service unavailable. Access denied, traffic not accepted from this IP. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(7230)",
		Summary:  "Microsoft 365 refuses outbound mail from this tenant's IP: the sending tenant is new or has low reputation (5.7.708).",
		Cause:    "Microsoft protects its outbound IP pools from tenants without sending history or with low reputation.",
		Fix:      "Send through a relay with good reputation, or contact Microsoft support for the tenant.",
		Refs:     []string{refMSNDR},
	},
	{
		Provider: "Microsoft 365",
		Match:    `unregistered domains?`,
		Sample:   "Service unavailable. Client blocked from sending from unregistered domains. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(7233)",
		Summary:  "Microsoft 365 refuses the message because the From domain is not an accepted domain of the sending tenant (5.7.750).",
		Cause:    "The tenant sent mail with a From domain it has not added and verified.",
		Fix:      "Add and verify the domain in the Microsoft 365 admin center, or send From a domain the tenant owns.",
		Refs:     []string{refMSNDR},
	},
	{
		Provider: "Microsoft 365",
		Match:    `tenant has exceeded threshold`,
		Sample:   "Access denied, tenant has exceeded threshold. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(7229)",
		Summary:  "Microsoft 365 blocked outbound mail for the whole tenant because it sent too much spam or bulk mail (5.7.705).",
		Cause:    "Outbound spam or bulk mail from the tenant (compromised accounts or connectors), or a subscription renewed after it expired.",
		Fix:      "Find the cause (compromised accounts or connectors), then contact Microsoft support to lift the block.",
		Refs:     []string{refMSNDR},
	},
	{
		Provider: "Microsoft 365",
		Match:    `spam abuse detected`,
		Sample:   "Access denied, spam abuse detected. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(7220)",
		Summary:  "Microsoft blocked the sending account for spam (5.7.501-5.7.503).",
		Cause:    "The account or tenant sent spam, usually after a compromise.",
		Fix:      "Secure the account, then ask Microsoft support to remove the block.",
		Refs:     []string{refMSNDR},
	},
	{
		Provider: "Microsoft 365",
		Match:    `bad outbound sender`,
		Sample:   "Access denied, bad outbound sender. AS(42004)",
		Summary:  "Microsoft blocked this sender from sending (5.1.8): the account sent spam or was compromised.",
		Cause:    "Exchange Online Protection restricted the account after it sent mail classed as spam.",
		Fix:      "Secure the account, then release it in the Microsoft Defender portal (Restricted entities).",
		Refs:     []string{refMSNDR},
	},
	// Microsoft enforces the sender domain's p=reject (RFC 9989) with 5.7.509.
	{
		Provider: "Microsoft 365", Code: 550, Enhanced: "5.7.509",
		Match:   `does not pass DMARC verification`,
		Sample:  "Access denied, sending domain example.com does not pass DMARC verification and has a DMARC policy of reject. [DS0PEPF00000000.namprd03.prod.outlook.com]",
		Summary: "Microsoft rejected the message because it fails DMARC for the From domain, and that domain's DMARC policy is reject.",
		Cause:   "Neither SPF nor DKIM passed for a domain aligned with From.",
		Fix:     fixAuthRecords,
		Refs:    []string{refMSNDR, refRFC9989},
	},
	// 5.7.520 is about forwarding, not DMARC: an outbound spam policy blocks
	// automatic forwarding to external recipients.
	{
		Provider: "Microsoft 365", Code: 550, Enhanced: "5.7.520",
		Match:   `external forwarding`,
		Sample:  "Access denied, Your organization does not allow external forwarding. Please contact your administrator for further assistance. AS(7555)",
		Summary: "Microsoft 365 blocked an automatic forward to an external address: the sender's organization does not allow external forwarding.",
		Cause:   "An inbox rule or mailbox forwarding sends mail outside the tenant, and the outbound spam policy forbids it (the default).",
		Fix:     "An admin allows forwarding for that mailbox in the outbound anti-spam policy, or the forwarding rule is removed.",
		Refs:    []string{refMSNDR, "Microsoft Learn: Configuring and controlling external email forwarding in Microsoft 365"},
	},
	{
		Provider: "Microsoft 365", Code: 550, Enhanced: "5.7.23",
		Match:   `Sender Policy Framework violation`,
		Sample:  "The message was rejected because of Sender Policy Framework violation",
		Summary: "Exchange Online rejected the message because SPF failed for the sender's domain.",
		Cause:   "The sending IP is not allowed by the SPF record of the envelope sender's domain, and the record ends in -all.",
		Fix:     "Add the sending server or service to the SPF record of the MAIL FROM domain; mailprobe spf DOMAIN --ip IP shows why it fails.",
		Refs:    []string{refMSNDR, refRFC7208},
	},
	{
		Provider: "Microsoft 365", Code: 550, Enhanced: "5.7.350",
		Match:   `detected as spam`,
		Sample:  "Remote server returned message detected as spam -> 550 5.7.1 Message rejected as spam",
		Summary: "A remote server rejected, as spam, a message that Microsoft 365 was forwarding or relaying.",
		Cause:   "Usually automatic forwarding: the final destination judged the forwarded message as spam.",
		Fix:     "Check the forwarded message and the forwarding setup; the text after -> is the remote server's own reply.",
		Refs:    []string{refMSNDR},
	},
	{
		Provider: "Microsoft 365", Code: 550, Enhanced: "5.7.64",
		Match:   `TenantAttribution`,
		Sample:  "TenantAttribution; Relay Access Denied [SN1NAM02FT0000.eop-nam02.prod.protection.outlook.com]",
		Summary: "Microsoft 365 could not attribute the relayed message to your tenant, so it refused to relay it.",
		Cause:   "An on-premises server or device relays through Exchange Online, but no inbound connector matches its IP or certificate.",
		Fix:     "Create or fix the inbound connector (from your organization's email server) with the sending IP or TLS certificate name.",
		Refs:    []string{refMSNDR},
	},
	{
		Provider: "Microsoft 365", Code: 250, Enhanced: "2.6.0",
		Match:   `Queued mail for delivery`,
		Sample:  "<CAF1234567890@mail.example.com> [InternalId=12345678901234, Hostname=DM6PR02MB0000.namprd02.prod.outlook.com] 12345 bytes in 0.123, 97.561 KB/sec Queued mail for delivery",
		Summary: "Exchange accepted the message and queued it for delivery. If it never arrives, look in Junk, quarantine and message trace.",
		Cause:   "Exchange took responsibility for the message with this reply; filtering and delivery happen afterwards.",
		Fix:     "Nothing to fix in the SMTP session. If the message is missing, the recipient's administrator can find it with message trace.",
		Refs:    []string{refMSNDR},
	},

	// --- Yahoo / AOL --------------------------------------------------------
	// Yahoo (and AOL, on the same infrastructure) tag replies with codes such
	// as [TSS04]; the tag is the most stable part of the text.
	{
		Provider: "Yahoo", Code: 421, Enhanced: "4.7.0",
		Match:   `\[TSS?0\d\]|temporarily deferred due to (unexpected volume or )?user complaints`,
		Sample:  "[TSS04] Messages from 192.0.2.10 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
		Summary: "Yahoo is deferring mail from your IP because of unexpected volume or user complaints.",
		Cause:   "Spam complaints from Yahoo users, a sudden volume increase, or poor IP reputation.",
		Fix:     "Let the queue retry (Yahoo suggests after a few hours), lower the sending rate, and look at complaint rates in Yahoo's Complaint Feedback Loop.",
		Refs:    []string{refYahooCodes},
	},
	{
		Provider: "Yahoo",
		Match:    `permanently deferred`,
		Sample:   "[TSS09] All messages from 192.0.2.10 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes",
		Summary:  "Yahoo has blocked your IP: retrying will not help.",
		Cause:    "Persistent complaints about or spam from your IP: Yahoo stopped deferring it and now refuses it.",
		Fix:      "Fix the cause (complaints, spam, compromised senders) and contact Yahoo through the Sender Hub.",
		Refs:     []string{refYahooCodes},
	},
	{
		Provider: "Yahoo", Code: 553, Enhanced: "5.7.1",
		Match:   `\[BL2\d\]`,
		Sample:  "[BL21] Connections will not be accepted from 192.0.2.10, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes",
		Summary: "Yahoo refuses connections from your IP because it is on a Spamhaus blocklist.",
		Cause:   "Yahoo checks connecting IPs against Spamhaus lists; the BL code names which list matched.",
		Fix:     fixBlocklistIP,
		Refs:    []string{refYahooCodes, refSpamhaus},
	},
	// Yahoo uses 5.7.9, registered as "mechanism too weak", for unauthenticated
	// senders: the enhanced constraint keeps this apart from Gmail's 5.7.26.
	{
		Provider: "Yahoo", Code: 550, Enhanced: "5.7.9",
		Match:   `unauthenticated|requires all senders to authenticate`,
		Sample:  "This mail has been blocked because the sender is unauthenticated. Yahoo requires all senders to authenticate with either SPF or DKIM.",
		Summary: "Yahoo rejected the message because it is not authenticated: neither SPF nor DKIM passed.",
		Cause:   "Neither SPF nor DKIM passed for the message; since 2024 Yahoo requires every sender to pass at least one.",
		Fix:     fixAuthRecords,
		Refs:    []string{refYahooCodes, refRFC7208, refRFC6376},
	},
	{
		Provider: "Yahoo", Code: 554, Enhanced: "5.7.9",
		Match:   `not accepted for policy reasons`,
		Sample:  "Message not accepted for policy reasons. See https://postmaster.yahooinc.com/error-codes",
		Summary: "Yahoo rejected the message for policy reasons: commonly a DMARC failure for a domain with p=reject, or content or reputation.",
		Cause:   "The message broke a Yahoo policy, very often DMARC: the From domain publishes p=reject and neither SPF nor DKIM aligned.",
		Fix:     "Check SPF, DKIM and DMARC alignment for the From domain (mailprobe dmarc DOMAIN), then content and reputation.",
		Refs:    []string{refYahooCodes, refRFC9989},
	},
	// Yahoo writes the domain of the address (yahoo.com, ymail.com, aol.com).
	{
		Provider: "Yahoo", Code: 554,
		Match:   `doesn't have an? [\w.-]+ account`,
		Sample:  "delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0] - mta1234.mail.bf1.yahoo.com",
		Summary: "Yahoo says the recipient address does not exist.",
		Cause:   "A typo, or a Yahoo account that was never created or has been deleted.",
		Fix:     "Correct the address and stop sending to it.",
		Refs:    []string{refYahooCodes},
	},
	{
		Provider: "Yahoo", Code: 554,
		Match:   `This mailbox is disabled`,
		Sample:  "delivery error: dd Sorry your message to someone@yahoo.com cannot be delivered. This mailbox is disabled (554.30). - mta1234.mail.bf1.yahoo.com",
		Summary: "Yahoo says the recipient's mailbox is disabled (inactive).",
		Cause:   "The Yahoo account is inactive or was closed.",
		Fix:     "Stop sending to the address.",
		Refs:    []string{refYahooCodes},
	},
	{
		Provider: "Yahoo", Code: 421,
		Match:   `Message temporarily deferred - `,
		Sample:  "Message temporarily deferred - [160]",
		Summary: "Yahoo deferred the message: it looked like spam or your network drew complaints.",
		Cause:   "Yahoo saw characteristics of spam in the message, or complaints about mail from your network.",
		Fix:     "Let the queue retry and review content and complaint rates.",
		Refs:    []string{refYahooCodes},
	},
	{
		Provider: "Yahoo", Code: 535,
		Match:   `#AUTH0\d\d|Too many bad auth attempts`,
		Sample:  "(#AUTH005) Too many bad auth attempts.",
		Summary: "Yahoo's SMTP server locked out logins after too many failed attempts.",
		Cause:   "Repeated failed logins, e.g. an app retrying a wrong or revoked app password.",
		Fix:     "Wait, then log in with an app password generated in the Yahoo account security settings.",
		Refs:    []string{refYahooCodes},
	},

	// --- iCloud / Apple -----------------------------------------------------
	// iCloud tags local-policy rejections: HM codes for its own filters, CS for
	// Cloudmark; 550 and 554 both occur, so only the class is constrained.
	{
		Provider: "iCloud", Enhanced: "5.7.1",
		Match:   `\[(HM|CS)\d\d\]|rejected due to local policy`,
		Sample:  "[HM08] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137",
		Summary: "iCloud Mail rejected the message under its local filtering policy.",
		Cause:   "Sender reputation, failed or missing authentication, or content (links, URL shorteners) that iCloud's filters flagged; CS01 points at Cloudmark reputation.",
		Fix:     "Make SPF, DKIM and DMARC pass, check the IP and link domains against blocklists, and contact the iCloud postmaster with the full reply if it persists.",
		Refs:    []string{refApplePM},
	},
	{
		Provider: "iCloud",
		Match:    `rejected due to [\w.-]+ DMARC policy`,
		Sample:   "Your message was rejected due to example.com DMARC policy. Please visit https://support.apple.com/en-us/HT204137",
		Summary:  "iCloud rejected the message because it fails DMARC for the From domain and that domain's policy is reject.",
		Cause:    "The From domain publishes DMARC p=reject, and neither SPF nor DKIM passed for a domain aligned with From.",
		Fix:      fixAuthRecords,
		Refs:     []string{refApplePM, refRFC9989},
	},
	{
		Provider: "iCloud",
		Match:    `deferred due to excessive volume`,
		Sample:   "Messages to someone@icloud.com deferred due to excessive volume. Try again later - https://support.apple.com/en-us/HT204137",
		Summary:  "iCloud deferred the message because the recipient is receiving too much mail right now.",
		Cause:    "Too many messages to one iCloud recipient in a short time.",
		Fix:      "Let the queue retry later.",
		Refs:     []string{refApplePM},
	},
	{
		Provider: "iCloud",
		Match:    `domain present in the Spamhaus DBL`,
		Sample:   "Your email was rejected due to having a domain present in the Spamhaus DBL -- see https://www.spamhaus.org/dbl/",
		Summary:  "iCloud rejected the message because a domain in it (often a link) is on the Spamhaus Domain Block List.",
		Cause:    "A domain in the message (a link, or the From or Return-Path domain) is listed for spam or abuse.",
		Fix:      "Find the listed domain at check.spamhaus.org, remove links to it, or get it delisted.",
		Refs:     []string{refApplePM, refSpamhaus},
	},
	{
		Provider: "iCloud", Code: 550, Enhanced: "5.1.1",
		Match:   `@(icloud|me|mac)\.com>?: user does not exist|unknown or illegal alias`,
		Sample:  "<someone@icloud.com>: user does not exist",
		Summary: "iCloud says the recipient address does not exist.",
		Cause:   "A typo, or an iCloud address that was never created or has been deleted.",
		Fix:     "Correct the address and stop sending to it.",
		Refs:    []string{refApplePM},
	},
	// iCloud's MX and many companies use Proofpoint; the link identifies it.
	{
		Provider: "Proofpoint (iCloud and others)", Code: 550,
		Match:   `Blocked - see https?://\S*proofpoint`,
		Sample:  "Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.10",
		Summary: "A Proofpoint-filtered receiver (iCloud and many companies) refuses mail from your IP because of its reputation.",
		Cause:   "Proofpoint's reputation service scores the sending IP as a source of spam.",
		Fix:     "Check the IP at the link in the reply and request a reputation review there after fixing the cause.",
		Refs:    []string{"Proofpoint: IP reputation check, https://ipcheck.proofpoint.com/", refApplePM},
	},

	// --- Submission services --------------------------------------------------
	// Submission services answer in the SMTP session, before the message
	// leaves: these are the replies an application sees directly.
	{
		Provider: "Amazon SES", Code: 554,
		Match:   `Email address is not verified`,
		Sample:  "Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: noreply@example.com",
		Summary: "Amazon SES rejected the message because the From (or Sender, Return-Path) identity is not verified in this region; in the sandbox, recipients must be verified too.",
		Cause:   "SES only sends from identities verified in the same region; accounts still in the sandbox may also only send to verified addresses.",
		Fix:     "Verify the domain (or address) in the SES console of the region your SMTP endpoint belongs to; request production access to send to unverified recipients.",
		Refs:    []string{refSESVerify, refSESErrors},
	},
	{
		Provider: "Amazon SES", Code: 454,
		Match:   `Throttling failure: Maximum sending rate exceeded`,
		Sample:  "Throttling failure: Maximum sending rate exceeded.",
		Summary: "Amazon SES refused the message because you exceeded your per-second sending rate.",
		Cause:   "More messages per second than the account's maximum send rate.",
		Fix:     "Slow down to the account's maximum send rate and retry with back-off; request a higher quota if needed.",
		Refs:    []string{refSESErrors},
	},
	{
		Provider: "Amazon SES", Code: 454,
		Match:   `Throttling failure: Daily message quota exceeded`,
		Sample:  "Throttling failure: Daily message quota exceeded.",
		Summary: "Amazon SES refused the message because the account used up its 24-hour sending quota.",
		Cause:   "More messages in the last 24 hours than the account's sending quota.",
		Fix:     "Wait for the rolling quota to free up, or request a quota increase.",
		Refs:    []string{refSESErrors},
	},
	{
		Provider: "Amazon SES", Code: 535,
		// SES's exact capitalisation, no enhanced code: go-smtp and others
		// say "Authentication credentials invalid" in lower case.
		Match:   `(?-i)^Authentication Credentials Invalid\s*$`,
		Sample:  "Authentication Credentials Invalid",
		Summary: "Amazon SES rejected the SMTP login.",
		Cause:   "SES SMTP needs SMTP credentials made for the region (created in the SES console, or derived from an IAM secret key with the SMTP password algorithm), not the IAM access key secret itself.",
		Fix:     "Create SMTP credentials in the SES console of the endpoint's region and use them.",
		Refs:    []string{refSESErrors},
	},
	{
		Provider: "SendGrid", Code: 550,
		Match:   `does not match a verified Sender Identity`,
		Sample:  "The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to see the Sender Identity requirements",
		Summary: "SendGrid refused the message because the From address is not a verified Sender Identity.",
		Cause:   "SendGrid requires the From address to belong to a verified single sender or an authenticated domain.",
		Fix:     "Verify the single sender address, or authenticate the whole domain, in SendGrid's Sender Authentication settings.",
		Refs:    []string{refSendGridID},
	},
	{
		Provider: "SendGrid", Code: 535,
		Match:   `Authentication failed: Bad username / password`,
		Sample:  "Authentication failed: Bad username / password",
		Summary: "SendGrid rejected the SMTP login.",
		Cause:   "SendGrid SMTP takes the literal username \"apikey\" and an API key with Mail Send permission as the password.",
		Fix:     "Use username apikey and a valid API key as password.",
		Refs:    []string{refSendGridSMTP},
	},
	{
		Provider: "SendGrid", Code: 535,
		Match:   `authorization grant is invalid, expired, or revoked`,
		Sample:  "Authentication failed: The provided authorization grant is invalid, expired, or revoked",
		Summary: "SendGrid rejected the API key used as SMTP password: it is invalid, expired or revoked.",
		Cause:   "The API key used as password was deleted, revoked or mistyped.",
		Fix:     "Create a new API key with Mail Send permission and use it with username apikey.",
		Refs:    []string{refSendGridSMTP},
	},
	{
		Provider: "SendGrid", Code: 451,
		Match:   `Maximum credits exceeded`,
		Sample:  "Authentication failed: Maximum credits exceeded",
		Summary: "SendGrid refused to send because the account has no sending credits left for its plan.",
		Cause:   "The account used up the emails included in its plan for the period.",
		Fix:     "Upgrade the plan or wait for the credits to reset.",
		Refs:    []string{refSendGridSMTP},
	},
	{
		Provider: "SendGrid", Code: 550,
		Match:   `Unauthenticated senders not allowed`,
		Sample:  "Unauthenticated senders not allowed",
		Summary: "SendGrid refused MAIL FROM because the client did not log in.",
		Cause:   "MAIL FROM came before AUTH; SendGrid never relays anonymously.",
		Fix:     "Authenticate with username apikey and an API key after STARTTLS.",
		Refs:    []string{refSendGridSMTP},
	},
	{
		Provider: "Mailgun", Code: 535,
		Match:   `Mailgun is not loving your login or password`,
		Sample:  "Mailgun is not loving your login or password",
		Summary: "Mailgun rejected the SMTP login.",
		Cause:   "Wrong SMTP username or password, credentials of another domain, or the other region's host.",
		Fix:     "Use the SMTP credentials of the sending domain (postmaster@your-domain or a created SMTP user) and its password, on the right region's host (smtp.mailgun.org or smtp.eu.mailgun.org).",
		Refs:    []string{refMailgun},
	},
	{
		Provider: "Mailgun",
		Match:    `(Sandbox subdomains|Free accounts) are for test purposes only`,
		Sample:   "Domain sandbox0123456789abcdef.mailgun.org is not allowed to send: Free accounts are for test purposes only. Please upgrade or add the address to authorized recipients in Account Settings.",
		Summary:  "Mailgun refused the message: a sandbox domain can only send to authorized recipients.",
		Cause:    "Mailgun sandbox domains only deliver to a few authorized recipients, for testing.",
		Fix:      "Add the recipient to the sandbox's authorized recipients, or add and verify your own sending domain.",
		Refs:     []string{refMailgun},
	},
	// Postmark: its SMTP service answers with the texts of its API errors
	// (postmarkapp.com/developer/api/overview#error-codes) and its
	// suppression list ("SMTP API Error").
	{
		Provider: "Postmark", Code: 535,
		Match:   `postmark|server api token`,
		Sample:  "Authentication failed: use a Server API Token from Postmark as both user name and password",
		Summary: "Postmark rejected the SMTP login.",
		Cause:   "Postmark's SMTP service takes a Server API Token (or an SMTP token of a message stream) as both user name and password; an Account API Token, a token of another server or a stray space fails.",
		Fix:     "Use the Server API Token of the server that sends (Servers → API Tokens) as user name and password, or the stream's SMTP token pair.",
		Refs:    []string{refPostmarkSMTP, refPostmarkErrors},
	},
	{
		Provider: "Postmark",
		Match:    `(sender signature|not a Sender Signature|signature not (confirmed|defined))`,
		Sample:   "The 'From' address you supplied (no-reply@app.example) is not a Sender Signature on your account. Please add and confirm this address in order to be able to use it in the 'From' field of your messages.",
		Summary:  "Postmark refused the message: its From address is not a confirmed sender signature or verified domain.",
		Cause:    "Postmark only sends From addresses (or domains) you have added and confirmed; a new domain's DKIM and Return-Path records may also still be pending.",
		Fix:      "Add and confirm the From address or verify its domain in Postmark (Sender Signatures), then send from exactly that address.",
		Refs:     []string{refPostmarkErrors},
	},
	{
		Provider: "Postmark",
		Match:    `marked as inactive|inactive recipient`,
		Sample:   "You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: bob@example.org. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.",
		Summary:  "Postmark did not send: the recipient is on the server's suppression list.",
		Cause:    "An earlier hard bounce, spam complaint, unsubscribe or manual suppression deactivated the address in that Postmark server's message stream.",
		Fix:      "Check the suppression in Postmark (Message Streams → Suppressions); reactivate the recipient if the address works again. A reset email to a suppressed address never leaves Postmark.",
		Refs:     []string{refPostmarkErrors, refPostmarkSuppression},
	},
	// Mimecast replies carry a link to its error code page; the words are enough.
	{
		Provider: "Mimecast",
		Match:    `Open relay not allowed`,
		Sample:   "Open relay not allowed - https://community.mimecast.com/docs/DOC-1369#451 [AbCdEfGhIjK.uk123]",
		Summary:  "Mimecast refused to relay: the recipient domain is not one Mimecast accepts mail for from you.",
		Cause:    "The recipient's MX points to Mimecast but the domain is not set up there, or you are relaying through Mimecast without authorization.",
		Fix:      "Check the recipient address and MX; if it is your own domain, add it in the Mimecast administration console.",
		Refs:     []string{refMimecast},
	},
	{
		Provider: "Mimecast",
		Match:    `envelope blocked`,
		Sample:   "Administrative prohibition - envelope blocked - https://community.mimecast.com/docs/DOC-1369#550 [AbCdEfGhIjK.uk123]",
		Summary:  "Mimecast blocked the message on its envelope: the recipient's administrator blocks this sender or domain.",
		Cause:    "A blocked-senders policy or a reputation block matched the envelope sender or your IP.",
		Fix:      "Ask the recipient's administrator to allow your sender address or domain.",
		Refs:     []string{refMimecast},
	},
	{
		Provider: "Mimecast",
		Match:    `rejected due to security policies`,
		Sample:   "Email rejected due to security policies - https://community.mimecast.com/docs/DOC-1369#554 [AbCdEfGhIjK.uk123]",
		Summary:  "Mimecast rejected the message under the recipient's security policies (content, attachment or reputation).",
		Cause:    "A content, attachment or anti-spoofing policy of the recipient matched the message.",
		Fix:      "Ask the recipient's administrator which policy matched.",
		Refs:     []string{refMimecast},
	},

	// --- Postfix (and Zimbra, which uses Postfix as its MTA) ----------------
	// Postfix texts come from smtpd_check.c and are stable across versions; the
	// reply code is configurable (relay_domains_reject_code and friends), so only
	// the class is constrained by the table's matching rule.
	{
		Provider: "Postfix", Code: 554, Enhanced: "5.7.1",
		Match:   `Relay access denied`,
		Sample:  "<someone@example.net>: Relay access denied",
		Summary: "The Postfix server refused to relay: it does not accept mail for that recipient domain from an unauthenticated client.",
		Cause:   "Sending to an outside domain without logging in (or from an IP not in mynetworks), or an MX/host mix-up: submitting to a receiving server instead of your submission server.",
		Fix:     "Authenticate (AUTH) on port 587 before sending to other domains, or send to an MX of the recipient's domain.",
		Refs:    []string{refPostconf + "#smtpd_relay_restrictions", refRFC5321Relay},
	},
	// 450 while DNS may yet answer (unknown_client_reject_code), 550 when permanent.
	{
		Provider: "Postfix",
		Match:    `Client host rejected: cannot find your (reverse )?hostname`,
		Sample:   "Client host rejected: cannot find your hostname, [192.0.2.10]",
		Summary:  "The Postfix server refused your IP because its reverse DNS does not check out.",
		Cause:    "reject_unknown_client_hostname requires a PTR name that resolves back to the IP; reject_unknown_reverse_client_hostname only requires a PTR. The 4xx form is also used when DNS lookups failed temporarily.",
		Fix:      fixPTR,
		Refs:     []string{refPostconf + "#reject_unknown_client_hostname"},
	},
	{
		Provider: "Postfix", Enhanced: "X.1.8",
		Match:   `Sender address rejected: Domain not found`,
		Sample:  "<noreply@app.internal>: Sender address rejected: Domain not found",
		Summary: "The Postfix server refused the sender: the MAIL FROM domain has no DNS records (reject_unknown_sender_domain).",
		Cause:   "The envelope sender uses an unregistered or internal domain, or the machine host name was used by default.",
		Fix:     "Set the envelope sender explicitly to an address on a real domain you own.",
		Refs:    []string{refPostconf + "#reject_unknown_sender_domain"},
	},
	{
		Provider: "Postfix", Enhanced: "X.1.2",
		Match:   `Recipient address rejected: Domain not found`,
		Sample:  "<someone@exampel.com>: Recipient address rejected: Domain not found",
		Summary: "The Postfix server refused the recipient: its domain has no DNS records.",
		Cause:   "reject_unknown_recipient_domain found no MX, A or AAAA record for the recipient's domain: a typo, or an expired domain.",
		Fix:     "Check the recipient's domain for typos.",
		Refs:    []string{refPostconf + "#reject_unknown_recipient_domain"},
	},
	// The table named tells the server admin which map lacks the address.
	{
		Provider: "Postfix",
		Match:    `User unknown in (virtual mailbox|virtual alias|local recipient|relay recipient) table`,
		Sample:   "<nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
		Summary:  "The Postfix server has no such recipient.",
		Cause:    "The address is not in the server's list of valid recipients (a typo, or an account not created yet).",
		Fix:      "Correct the address; if you run the server, add the mailbox or alias to the table named in the reply.",
		Refs:     []string{refPostconf + "#smtpd_reject_unlisted_recipient"},
	},
	{
		Provider: "Postfix",
		Match:    `Recipient address rejected: unverified address`,
		Sample:   "<someone@example.com>: Recipient address rejected: unverified address: host mx.example.com[192.0.2.20] said: 550 5.1.1 User unknown",
		Summary:  "The Postfix relay checked the recipient with the next server and it does not accept it (reject_unverified_recipient).",
		Cause:    "The next-hop server refused a probe for this recipient, or could not be asked.",
		Fix:      "Read the downstream reply quoted in the text; usually the address does not exist.",
		Refs:     []string{refPostconf + "#reject_unverified_recipient"},
	},
	{
		Provider: "Postfix", Code: 504, Enhanced: "5.5.2",
		Match:   `Helo command rejected: need fully-qualified hostname`,
		Sample:  "<localhost>: Helo command rejected: need fully-qualified hostname",
		Summary: "The Postfix server refused the EHLO/HELO name because it is not a fully-qualified domain name.",
		Cause:   "The client sent a bare host name such as \"localhost\" or \"app\" (reject_non_fqdn_helo_hostname).",
		Fix:     "Configure the sending library to send EHLO with a real FQDN, ideally the sending IP's PTR name.",
		Refs:    []string{refPostconf + "#reject_non_fqdn_helo_hostname", "RFC 5321 §4.1.1.1"},
	},
	{
		Provider: "Postfix",
		Match:    `Helo command rejected: Host not found`,
		Sample:   "<mail.invalid.example>: Helo command rejected: Host not found",
		Summary:  "The Postfix server refused the EHLO/HELO name because it does not resolve in DNS (reject_unknown_helo_hostname).",
		Cause:    "The name sent in EHLO has no DNS record; clients often send an internal or machine name.",
		Fix:      "Send EHLO with a name that has an A or MX record, ideally the sending IP's PTR name.",
		Refs:     []string{refPostconf + "#reject_unknown_helo_hostname"},
	},
	// postgrey's default reply; it must precede the generic greylisting entry.
	{
		Provider: "Postfix + postgrey", Code: 450,
		Match:   `Greylisted, see`,
		Sample:  "<someone@example.com>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.com.html",
		Summary: "The server greylisted the message: it defers the first attempt from an unknown sender and accepts a retry after a few minutes.",
		Cause:   "Greylisting stops spam tools that never retry; real mail servers retry and get through.",
		Fix:     "Nothing, if mail goes through a queue that retries (most MTAs retry within 5-30 minutes). An app talking SMTP directly to the recipient's MX must retry itself, or send through a relay.",
		Refs:    []string{refPostgrey, refGreylisting},
	},
	// Also sent by Amazon SES and others without an enhanced code; the Gmail
	// form is matched above.
	{
		Provider: "Postfix", Code: 530, Enhanced: "5.7.0",
		Match:   `Must issue a STARTTLS command first`,
		Sample:  "Must issue a STARTTLS command first",
		Summary: "The server requires TLS before this command: the client did not issue STARTTLS.",
		Cause:   "smtpd_tls_security_level=encrypt (usual on submission port 587), and the client sent MAIL or AUTH on plaintext.",
		Fix:     fixTLSSubmission,
		Refs:    []string{refPostconf + "#smtpd_tls_security_level", refRFC3207},
	},
	{
		Provider: "Postfix", Code: 535, Enhanced: "5.7.8",
		Match:   `Error: authentication failed`,
		Sample:  "Error: authentication failed: authentication failure",
		Summary: "The Postfix server rejected the login (SASL authentication failed).",
		Cause:   "Wrong username or password, the wrong username format (full address or local part), or a mechanism the SASL backend cannot check.",
		Fix:     "Check the credentials; if you run the server, the SASL backend's log (Dovecot or Cyrus) says why.",
		Refs:    []string{refPostfixSASL},
	},
	{
		Provider: "Postfix", Code: 503, Enhanced: "5.5.1",
		Match:   `Error: authentication not enabled`,
		Sample:  "Error: authentication not enabled",
		Summary: "The Postfix server does not offer AUTH here: SASL is not enabled on this port.",
		Cause:   "AUTH sent to port 25, or before STARTTLS where smtpd_tls_auth_only=yes hides it.",
		Fix:     "Use the submission port 587 (after STARTTLS) and check the EHLO reply lists AUTH.",
		Refs:    []string{refPostfixSASL},
	},
	{
		Provider: "Postfix", Code: 552, Enhanced: "5.3.4",
		Match:   `Message size exceeds fixed limit`,
		Sample:  "Message size exceeds fixed limit",
		Summary: "The Postfix server rejected the message because it is larger than its message_size_limit.",
		Cause:   "The message exceeds message_size_limit (the SIZE the server advertises); base64 makes attachments a third larger.",
		Fix:     "Send a smaller message; the server's SIZE in its EHLO reply is the limit.",
		Refs:    []string{refPostconf + "#message_size_limit"},
	},
	// anvil(8) rate limits: smtpd_client_connection_count_limit,
	// smtpd_client_connection_rate_limit, smtpd_client_message_rate_limit and
	// the recipient, new TLS session and AUTH rate limits.
	{
		Provider: "Postfix",
		Match:    `Error: too (many (connections|messages|recipients|new TLS sessions|AUTH commands)|much mail) from`,
		Sample:   "mail.example.com Error: too many connections from 192.0.2.10",
		Summary:  "The Postfix server is rate limiting your IP (anvil client limits).",
		Cause:    "More parallel connections, connections per minute, messages, recipients or AUTH attempts from one IP than smtpd_client_*_limit allows.",
		Fix:      "Use fewer parallel connections and send several messages per connection; retry later.",
		Refs:     []string{refPostconf + "#smtpd_client_connection_count_limit"},
	},
	{
		Provider: "Postfix",
		Match:    `Error: too many errors`,
		Sample:   "mail.example.com Error: too many errors",
		Summary:  "The Postfix server closed the session because the client made too many errors.",
		Cause:    "The client kept sending commands the server rejected (smtpd_hard_error_limit), e.g. repeating a bad command in a loop.",
		Fix:      "Look at the earlier replies in the session: the first error is the real problem.",
		Refs:     []string{refPostconf + "#smtpd_hard_error_limit"},
	},
	{
		Provider: "Postfix", Code: 454, Enhanced: "4.7.0",
		Match:   `TLS not available due to local problem`,
		Sample:  "TLS not available due to local problem",
		Summary: "The Postfix server offers STARTTLS but cannot start TLS: its own TLS setup is broken.",
		Cause:   "A missing or unreadable certificate or key file, or a key that does not match the certificate.",
		Fix:     "The server admin must fix smtpd_tls_cert_file/smtpd_tls_key_file (the mail log names the error).",
		Refs:    []string{refPostconf + "#smtpd_tls_cert_file"},
	},
	// Zimbra runs Postfix and enforces reject_sender_login_mismatch, hence the
	// shared entry.
	{
		Provider: "Postfix / Zimbra", Code: 553, Enhanced: "5.7.1",
		Match:   `Sender address rejected: not owned by user`,
		Sample:  "<ceo@example.com>: Sender address rejected: not owned by user app@example.com",
		Summary: "The server refused MAIL FROM: the logged-in account is not allowed to send as that address.",
		Cause:   "reject_sender_login_mismatch (Zimbra enforces it too): the envelope sender does not belong to the authenticated user.",
		Fix:     "Send with MAIL FROM set to the authenticated account's address, or have the admin add the address to the account (alias or sender login map).",
		Refs:    []string{refPostconf + "#reject_sender_login_mismatch"},
	},
	{
		Provider: "Postfix / Zimbra", Code: 553, Enhanced: "5.7.1",
		Match:   `Sender address rejected: not logged in`,
		Sample:  "<noreply@example.com>: Sender address rejected: not logged in",
		Summary: "The server refused MAIL FROM because that address may only be used after logging in.",
		Cause:   "smtpd_sender_login_maps assigns this address to an account, and the client used it without authenticating.",
		Fix:     "Authenticate (AUTH) before MAIL FROM.",
		Refs:    []string{refPostconf + "#reject_sender_login_mismatch"},
	},
	{
		Provider: "Postfix", Code: 554, Enhanced: "5.5.1",
		Match:   `Error: no valid recipients`,
		Sample:  "Error: no valid recipients",
		Summary: "DATA was refused because no recipient was accepted.",
		Cause:   "Every RCPT TO was refused, so there was nobody to deliver to; the client should not have sent DATA.",
		Fix:     "Look at the replies to RCPT TO: each recipient was rejected for its own reason.",
		Refs:    []string{"RFC 5321 §3.3"},
	},
	{
		Provider: "Postfix", Code: 503, Enhanced: "5.5.1",
		Match:   `Error: need (MAIL|RCPT) command|Error: send HELO/EHLO first`,
		Sample:  "Error: need RCPT command",
		Summary: "Commands came in the wrong order (e.g. DATA before an accepted RCPT, MAIL before EHLO).",
		Cause:   "The client skipped a step or ignored a failed one: RCPT after a refused MAIL, DATA after refused RCPTs, MAIL before EHLO.",
		Fix:     "Follow the order EHLO, MAIL, RCPT, DATA and stop at the first error.",
		Refs:    []string{"RFC 5321 §4.1.4"},
	},
	{
		Provider: "Postfix", Code: 451, Enhanced: "4.3.0",
		Match:   `Error: queue file write error`,
		Sample:  "Error: queue file write error",
		Summary: "The Postfix server failed to store the message (often a content filter or milter failure, or a full disk).",
		Cause:   "The server could not write the message to its queue: a content filter or milter failed, or the disk is full.",
		Fix:     "Retry later; the server admin finds the cause in the mail log.",
		Refs:    []string{refPostconf},
	},
	{
		Provider: "Postfix", Code: 452, Enhanced: "4.3.1",
		Match:   `Insufficient system storage`,
		Sample:  "Insufficient system storage",
		Summary: "The server's queue file system is (nearly) full.",
		Cause:   "Free space on the queue file system is below queue_minfree (by default 1.5 times message_size_limit).",
		Fix:     "Retry later; the server admin must free disk space.",
		Refs:    []string{refPostconf + "#queue_minfree"},
	},
	// The queue ID lets the server admin follow the message in the mail log.
	{
		Provider: "Postfix", Code: 250, Enhanced: "2.0.0",
		Match:   `Ok: queued as`,
		Sample:  "Ok: queued as 4WbXyZ1abcz9vQ",
		Summary: "The Postfix server accepted the message; the queue ID names it in that server's mail log.",
		Cause:   "Postfix stored the message in its queue with this reply; delivery happens afterwards, and a later failure bounces to the envelope sender.",
		Fix:     "Nothing to fix in the SMTP session. If the message is missing, search that server's mail log for the queue ID to follow its delivery.",
		Refs:    []string{refPostconf},
	},

	// --- Exim ----------------------------------------------------------------
	// cPanel's Exim configuration wording; generic Exim follows.
	{
		Provider: "Exim (cPanel)", Code: 550,
		Match:   `not permitted to relay through this server without authentication|turn on SMTP Authentication`,
		Sample:  "Please turn on SMTP Authentication in your mail client, or login to the IMAP/POP3 server before sending your message. mail.example.com [192.0.2.10]:54321 is not permitted to relay through this server without authentication.",
		Summary: "The Exim (cPanel) server refused to relay: the client did not log in.",
		Cause:   "The mail client sent to another domain without SMTP authentication, and the server is not an open relay.",
		Fix:     "Enable SMTP authentication in the sending app (same account as for IMAP), on port 587 with STARTTLS.",
		Refs:    []string{refEximACL},
	},
	// Exim texts below come from its default configuration and source; Exim
	// sends no enhanced codes by default, so none are required.
	{
		Provider: "Exim", Code: 550,
		Match:   `relay not permitted`,
		Sample:  "relay not permitted",
		Summary: "The Exim server refused to relay for that recipient domain.",
		Cause:   "Unauthenticated mail to a domain the server does not handle, from a host not allowed to relay.",
		Fix:     "Authenticate before sending to other domains, or deliver to the recipient domain's MX.",
		Refs:    []string{refEximACL, refRFC5321Relay},
	},
	// Multi-line: "550-Verification failed for <x>", "550-Unrouteable address",
	// "550 Sender verify failed"; must precede the plain Unrouteable entry.
	{
		Provider: "Exim", Code: 550,
		Match:   `Verification failed for|Sender verify failed`,
		Sample:  "Verification failed for <noreply@app.internal> Unrouteable address Sender verify failed",
		Summary: "The Exim server refused the sender: it could not verify that the MAIL FROM address can receive a bounce.",
		Cause:   "The sender domain has no MX/A records, or its server rejected a callout to the address.",
		Fix:     "Send from an address on a real domain that accepts mail for that address.",
		Refs:    []string{refEximACL},
	},
	{
		Provider: "Exim", Code: 451,
		Match:   `Could not complete sender verify`,
		Sample:  "Could not complete sender verify",
		Summary: "The Exim server could not verify the sender address for now (DNS or callout failed temporarily).",
		Cause:   "A DNS lookup or callout for the sender's domain failed or timed out.",
		Fix:     "Retry later; make sure the sender domain's DNS and MX answer reliably.",
		Refs:    []string{refEximACL},
	},
	{
		Provider: "Exim", Code: 451,
		Match:   `Temporary local problem`,
		Sample:  "Temporary local problem - please try later",
		Summary: "The Exim server hit an internal problem (spool, database, filter) and deferred the message.",
		Cause:   "A local failure while Exim handled the message: spool, lookup database or a filter.",
		Fix:     "Retry later; the server admin finds the cause in the Exim main and panic logs.",
		Refs:    []string{refEximSpec},
	},
	{
		Provider: "Exim", Code: 535,
		Match:   `Incorrect authentication data`,
		Sample:  "Incorrect authentication data",
		Summary: "The Exim server rejected the login: wrong username or password.",
		Cause:   "Wrong credentials, or a username in the wrong form (full address or local part).",
		Fix:     "Check the credentials; the username is usually the full email address.",
		Refs:    []string{refEximSpec},
	},
	{
		Provider: "Exim", Code: 550,
		Match:   `Unrouteable address`,
		Sample:  "Unrouteable address",
		Summary: "The Exim server found no route for the address: the domain does not resolve or no router accepts it.",
		Cause:   "The domain does not exist or has no MX or A records, or no Exim router handles it.",
		Fix:     "Check the address's domain and its MX records.",
		Refs:    []string{refEximSpec},
	},
	{
		Provider: "Exim (cPanel)", Code: 550,
		Match:   `No Such User Here`,
		Sample:  "No Such User Here",
		Summary: "The server (Exim on cPanel) has no such recipient.",
		Cause:   "The cPanel account has no mailbox, forwarder or alias for that address, and no catch-all.",
		Fix:     "Correct the address; the account or forwarder does not exist.",
		Refs:    []string{refEximSpec},
	},
	{
		Provider: "Exim", Code: 503,
		Match:   `AUTH command used when not advertised`,
		Sample:  "AUTH command used when not advertised",
		Summary: "The client sent AUTH, but the Exim server did not offer it in this session.",
		Cause:   "AUTH before STARTTLS on a server that offers it only over TLS, or on port 25 where it is not offered at all.",
		Fix:     fixTLSSubmission,
		Refs:    []string{refEximSpec, refRFC4954},
	},
	{
		Provider: "Exim", Code: 503,
		Match:   `valid RCPT command must precede DATA`,
		Sample:  "valid RCPT command must precede DATA",
		Summary: "DATA was refused because no recipient was accepted first.",
		Cause:   "Every RCPT TO was refused, or none was sent, before DATA.",
		Fix:     "Look at the replies to RCPT TO: each was refused for its own reason.",
		Refs:    []string{refEximSpec},
	},
	// RFC 5321 §4.3.1 requires the client to wait for the greeting and each
	// reply, unless PIPELINING (RFC 2920) was offered.
	{
		Provider: "Exim", Code: 554,
		Match:   `SMTP synchronization error`,
		Sample:  "SMTP synchronization error",
		Summary: "The Exim server dropped the session because the client sent commands before the server's reply.",
		Cause:   "The client talked before the greeting, or pipelined commands without the server offering PIPELINING.",
		Fix:     "Wait for the greeting and for each reply, unless PIPELINING is advertised.",
		Refs:    []string{refEximSpec, "RFC 2920 (PIPELINING)"},
	},
	{
		Provider: "Exim", Code: 552,
		Match:   `Message size exceeds maximum permitted`,
		Sample:  "Message size exceeds maximum permitted",
		Summary: "The Exim server rejected the message because it is larger than message_size_limit.",
		Cause:   "The message exceeds the server's message_size_limit (the SIZE it advertises).",
		Fix:     "Send a smaller message; the SIZE in the EHLO reply is the limit.",
		Refs:    []string{refEximSpec},
	},
	{
		Provider: "Exim", Code: 501,
		Match:   `Syntactically invalid (HELO|EHLO) argument`,
		Sample:  "Syntactically invalid EHLO argument(s)",
		Summary: "The Exim server refused the EHLO/HELO name because it is not a valid host name.",
		Cause:   "An underscore, a space or other characters not allowed in a domain name (e.g. a Windows machine name).",
		Fix:     "Send EHLO with a valid fully-qualified host name.",
		Refs:    []string{refEximSpec, "RFC 5321 §4.1.1.1"},
	},
	{
		Provider: "Exim", Code: 421,
		Match:   `Too many concurrent SMTP connections`,
		Sample:  "mail.example.com Too many concurrent SMTP connections; please try again later.",
		Summary: "The Exim server is at its connection limit (smtp_accept_max or per-host limit).",
		Cause:   "The server is busy, or your IP holds too many connections open at once.",
		Fix:     "Retry later with fewer parallel connections.",
		Refs:    []string{refEximSpec},
	},
	// Anchored: Mimecast's "Administrative prohibition - envelope blocked" is
	// matched above.
	{
		Provider: "Exim", Code: 550,
		Match:   `^Administrative prohibition`,
		Sample:  "Administrative prohibition",
		Summary: "The Exim server refused by local policy (an ACL deny without a message).",
		Cause:   "An Exim ACL denied the command without giving a reason (that is its default message).",
		Fix:     "Ask the receiving postmaster which rule matched.",
		Refs:    []string{refEximACL},
	},
	{
		Provider: "Exim", Code: 250,
		Match:   `^OK id=`,
		Sample:  "OK id=1rXyZa-000AbC-12",
		Summary: "The Exim server accepted the message; the id names it in that server's log.",
		Cause:   "Exim stored the message in its spool with this reply; delivery happens afterwards.",
		Fix:     "Nothing to fix in the SMTP session. If the message is missing, look the id up in that server's Exim main log.",
		Refs:    []string{refEximSpec},
	},

	// --- Sendmail -------------------------------------------------------------
	// sendmail prefixes texts with "<address>... "; the words after it are stable.
	{
		Provider: "Sendmail", Code: 550, Enhanced: "5.7.1",
		Match:   `Relaying denied`,
		Sample:  "<someone@example.net>... Relaying denied. Proper authentication required.",
		Summary: "The sendmail server refused to relay to that domain for an unauthenticated client.",
		Cause:   "sendmail relays only for its own networks and authenticated clients, and this client is neither.",
		Fix:     "Authenticate before sending to other domains, or deliver to the recipient domain's MX.",
		Refs:    []string{refSendmailCF, refRFC5321Relay},
	},
	{
		Provider: "Sendmail", Code: 553, Enhanced: "5.1.8",
		Match:   `Domain of sender address .* does not exist`,
		Sample:  "<noreply@app.internal>... Domain of sender address noreply@app.internal does not exist",
		Summary: "The sendmail server refused the sender: the MAIL FROM domain does not exist in DNS.",
		Cause:   "The envelope sender's domain has no DNS records: a typo, an internal name or an unregistered domain.",
		Fix:     "Set the envelope sender to an address on a real domain you own.",
		Refs:    []string{refSendmailCF},
	},
	{
		Provider: "Sendmail", Code: 451, Enhanced: "4.1.8",
		Match:   `Domain of sender address .* does not resolve`,
		Sample:  "<noreply@example.com>... Domain of sender address noreply@example.com does not resolve",
		Summary: "The sendmail server could not resolve the sender's domain right now.",
		Cause:   "DNS lookups for the sender's domain failed or timed out.",
		Fix:     "Retry later; make sure the domain's DNS servers answer reliably.",
		Refs:    []string{refSendmailCF},
	},
	{
		Provider: "Sendmail", Code: 421, Enhanced: "4.3.2",
		Match:   `Connection rate limit exceeded|Too many open connections`,
		Sample:  "Connection rate limit exceeded.",
		Summary: "The sendmail server is rate limiting your IP (FEATURE ratecontrol or conncontrol).",
		Cause:   "Too many connections per minute (ratecontrol) or at once (conncontrol) from your IP.",
		Fix:     "Retry later with fewer and longer-lived connections.",
		Refs:    []string{refSendmailCF},
	},
	{
		Provider: "Sendmail", Code: 550, Enhanced: "5.1.1",
		Match:   `\.\.\. User unknown`,
		Sample:  "<nobody@example.com>... User unknown",
		Summary: "The sendmail server has no such recipient.",
		Cause:   "No local user or alias by that name on the server.",
		Fix:     "Correct the address.",
		Refs:    []string{refSendmailCF},
	},
	{
		Provider: "Sendmail", Code: 452, Enhanced: "4.4.5",
		Match:   `Insufficient disk space`,
		Sample:  "Insufficient disk space; try again later",
		Summary: "The sendmail server is short of queue disk space.",
		Cause:   "The queue file system has less free space than sendmail's MinFreeBlocks.",
		Fix:     "Retry later.",
		Refs:    []string{refSendmailCF},
	},
	{
		Provider: "Sendmail", Code: 503,
		Match:   `Need MAIL before RCPT|Need RCPT \(recipient\)`,
		Sample:  "Need MAIL before RCPT",
		Summary: "Commands came in the wrong order for the sendmail server.",
		Cause:   "The client sent RCPT before a successful MAIL, or DATA before a successful RCPT.",
		Fix:     "Follow the order EHLO, MAIL, RCPT, DATA and stop at the first error.",
		Refs:    []string{"RFC 5321 §4.1.4"},
	},

	// --- Blocklists and greylisting, whatever the MTA --------------------------
	// Blocklist rejections look alike whatever the MTA (Postfix "blocked using",
	// Exim "is in a black list at", sendmail "listed at"); the list's name
	// decides, so known lists come before the generic DNSBL entry (RFC 5782).
	{
		Provider: "Spamhaus (DNSBL)",
		Match:    `spamhaus`,
		Sample:   "Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.10",
		Summary:  "The receiver refused you because your sending IP (or a domain in the message) is on a Spamhaus blocklist.",
		Cause:    "SBL/XBL: the IP sent spam or is infected; PBL: the IP is dynamic or residential and should not send directly to MX servers; DBL: a domain in the message is listed.",
		Fix:      fixBlocklistIP,
		Refs:     []string{refSpamhaus, refRFC5782DNSBL},
	},
	{
		Provider: "Barracuda",
		Match:    `barracuda`,
		Sample:   "Service unavailable; Client host [192.0.2.10] blocked using Barracuda Reputation; http://www.barracudanetworks.com/reputation/?r=1&ip=192.0.2.10",
		Summary:  "A Barracuda-protected receiver refused your IP because of its Barracuda Reputation listing.",
		Cause:    "Barracuda Reputation lists the IP for sending spam, or as a dynamic or residential address sending directly.",
		Fix:      "Check the IP at barracudacentral.org and request removal after fixing the cause.",
		Refs:     []string{refBarracuda},
	},
	{
		Provider: "SpamCop (DNSBL)",
		Match:    `spamcop`,
		Sample:   "Service unavailable; Client host [192.0.2.10] blocked using bl.spamcop.net; Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.10",
		Summary:  "The receiver refused your IP because it is on the SpamCop blocking list (spam reports in the last days).",
		Cause:    "SpamCop users reported spam coming from this IP.",
		Fix:      "Stop the spam source; SpamCop listings expire by themselves about 24 hours after reports stop.",
		Refs:     []string{refSpamCop},
	},
	{
		Provider: "DNS blocklist",
		Match:    `blocked using [\w.-]+|listed (at|in|on) [\w-]+\.[\w.-]+|in a black ?list at|block ?listed|black ?listed`,
		Sample:   "Rejected because 192.0.2.10 is in a black list at dnsbl.example.org",
		Summary:  "The receiver refused your IP because a DNS blocklist it uses lists it.",
		Cause:    "The IP was seen sending spam, is infected, or is in a dynamic or residential range that should send through a relay.",
		Fix:      fixBlocklistIP,
		Refs:     []string{refRFC5782DNSBL},
	},
	// Greylisting (RFC 6647) is always temporary, hence the 4xx class.
	{
		Provider: "Greylisting", Code: 450,
		Match:   `gr[ae]y-?list`,
		Sample:  "Recipient address rejected: Greylisted for 5 minutes",
		Summary: "The server greylisted the message: it defers the first attempt and accepts a retry later.",
		Cause:   "Greylisting defers the first delivery from an unknown sender, IP and recipient triple; spam tools rarely retry, real mail servers do.",
		Fix:     "Nothing if your mail goes through a queue that retries; an app sending directly must retry after a few minutes.",
		Refs:    []string{refGreylisting},
	},
	// Last: the loosest expression, so it is constrained to 451 4.7.1, the
	// common greylisting answer.
	{
		Provider: "Greylisting (probable)", Code: 451, Enhanced: "4.7.1",
		Match:   `try again later`,
		Sample:  "Please try again later",
		Summary: "The server deferred the message by policy, very likely greylisting.",
		Cause:   "451 4.7.1 \"try again later\" is the usual greylisting answer; temporary rate limits and DNS checks give it too.",
		Fix:     "Retry after a few minutes: a mail queue does this by itself.",
		Refs:    []string{refGreylisting},
	},
}
