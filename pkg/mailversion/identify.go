// Package mailversion names the mail server software and version that a
// greeting, an EHLO reply, an IMAP ID response or a POP3 greeting reveals,
// and matches the version against a small table of critical mail-server
// vulnerabilities shipped with mailprobe (cves.yaml, embedded at build).
//
// A version the server hides is reported as unknown, never guessed: a
// product is named only from its own words in the text, and a version only
// from a number printed next to that name. Only the upstream version is
// compared; distributions backport fixes without changing it, which every
// vulnerability finding says.
//
// The audit command calls Assess with the texts it collected from each
// port; Identify and the DB are there for callers that want the parts.
package mailversion

import (
	"regexp"
	"strings"
	"sync"

	"github.com/mailprobe/mailprobe/internal/lazyre"
)

// Protocol says where a text came from; it narrows what a text can mean
// ("Hello there." is Courier only in a POP3 greeting).
type Protocol string

const (
	SMTP Protocol = "smtp"
	IMAP Protocol = "imap"
	POP3 Protocol = "pop3"
	Any  Protocol = ""
)

// Software is what a text revealed.
type Software struct {
	Product string `json:"product"`
	// Version as the text printed it ("4.84_2", "2.3.7.2"); empty when the
	// text names the product without a version.
	Version string `json:"version,omitempty"`
	// Partial is set when the version lacks a part the vulnerability
	// table needs (Zimbra's patch level: "8.8.15_GA_3869" does not say
	// which patch is installed).
	Partial bool `json:"partial,omitempty"`
	// Detail is what else the text said about the build: "Debian",
	// "Exchange Server 2007", "IIS on Windows".
	Detail string `json:"detail,omitempty"`
	// Evidence is the line the product (and version) came from.
	Evidence string `json:"evidence"`
}

// Known reports whether the version is known.
func (s Software) Known() bool { return s.Version != "" }

// Product names, as reports print them and cves.yaml spells them.
const (
	Postfix     = "Postfix"
	Exim        = "Exim"
	Sendmail    = "Sendmail"
	Dovecot     = "Dovecot"
	Courier     = "Courier"
	Cyrus       = "Cyrus"
	Exchange    = "Microsoft Exchange"
	MSSMTP      = "Microsoft SMTP Service"
	Zimbra      = "Zimbra"
	HMailServer = "hMailServer"
	Qmail       = "qmail"
	OpenSMTPD   = "OpenSMTPD"
	MDaemon     = "MDaemon"
	Kerio       = "Kerio Connect"
	IceWarp     = "IceWarp"
	Haraka      = "Haraka"
	CommuniGate = "CommuniGate Pro"
	SmarterMail = "SmarterMail"
	Axigen      = "Axigen"
	ApacheJames = "Apache James"
	Chasquid    = "chasquid"
	Maddy       = "maddy"
	Stalwart    = "Stalwart"
	Mox         = "mox"
	UWIMAP      = "UW IMAP"
)

// Products lists every product Identify can name.
func Products() []string {
	out := make([]string, 0, len(rules()))
	seen := map[string]bool{}
	for _, r := range rules() {
		if !seen[r.product] {
			seen[r.product] = true
			out = append(out, r.product)
		}
	}
	return out
}

// rule recognises one product. re is matched against one line; group ver
// (when > 0) is the version, detail (when > 0) a build detail.
type rule struct {
	product string
	proto   Protocol // Any: every protocol
	re      *regexp.Regexp
	ver     int
	detail  int
	// fixDetail is a fixed detail for this form.
	fixDetail string
	// partial marks versions that lack the patch level.
	partial bool
	// clean post-processes the version token.
	clean func(string) string
}

// rules are compiled on first use, not at start-up: 50-odd
// case-insensitive patterns cost every mailprobe command about 17 ms
// (a third of its start-up) before it did anything.
var rules = sync.OnceValue(func() []rule {
	return []rule{
		// Exchange's own words first: its SMTP banner hides the version,
		// its Received header and OWA do not.
		{product: Exchange, re: regexp.MustCompile(`(?i)\bwith Microsoft SMTP Server\b.*?\bid (\d+\.\d+\.\d+\.\d+)\b`), ver: 1},
		{product: Exchange, re: regexp.MustCompile(`(?i)\bX-OWA-Version:\s*(\d+\.\d+\.\d+\.\d+)\b`), ver: 1},
		{product: Exchange, re: regexp.MustCompile(`(?i)\bMicrosoft Exchange (?:Server )?(?:(2000|2003|2007|2010|2013|2016|2019) )?(?:IMAP4(?:rev1)?|POP3)(?:rev1)?(?:-Server)?,? (?:server |service )?version (\d+\.\d+\.\d+\.\d+)`), ver: 2, detail: 1},
		{product: Exchange, re: regexp.MustCompile(`(?i)\bDer Microsoft Exchange Server (2003) IMAP4rev1-Server, Version (\d+\.\d+\.\d+\.\d+)`), ver: 2, detail: 1},
		{product: Exchange, re: regexp.MustCompile(`(?i)\bMicrosoft Exchange Server (2007|2010|2013|2016|2019) (?:IMAP4|POP3) service ready`), detail: 1},
		{product: Exchange, re: regexp.MustCompile(`(?i)\bThe? Microsoft Exchange (?:IMAP4|POP3) service is ready`)},
		{product: Exchange, re: regexp.MustCompile(`(?i)\bMicrosoft Exchange Internet Mail Service (\d+\.\d+\.\d+\.\d+)`), ver: 1},
		// IIS's SMTP service (Windows; Exchange 2000/2003 used it too): the
		// version is the Windows build, not Exchange's.
		{product: MSSMTP, re: regexp.MustCompile(`(?i)\bMicrosoft E?SMTP MAIL(?: Service)?,? (?:ready at .*? )?Version: +(\d+\.\d+\.\d+\.\d+(?:\.\d+)?)`), ver: 1, fixDetail: "IIS SMTP service"},
		// Exchange 2007 and later: "Microsoft ESMTP MAIL Service ready at <date>".
		{product: Exchange, re: regexp.MustCompile(`(?i)\bMicrosoft ESMTP MAIL Service ready at\b`), fixDetail: "Exchange 2007 or later (the banner hides the build)"},

		{product: Postfix, re: regexp.MustCompile(`(?i)\bPostfix \((?:Postfix-)?(\d+\.\d+[\w.]*(?:-\d{8})?)\)`), ver: 1},
		{product: Postfix, re: regexp.MustCompile(`(?i)\bPostfix[ /-]v?(\d+\.\d+(?:\.\d+)*)\b`), ver: 1},
		{product: Postfix, re: regexp.MustCompile(`(?i)\bPostfix\b(?: \((Ubuntu|Debian/GNU|Debian|FreeBSD|Raspbian)\))?`), detail: 1},

		{product: Exim, re: regexp.MustCompile(`(?i)\bExim\)? ?(?:v(?:ersion)? ?)?(\d+\.\d+[\w.~+\-]*)`), ver: 1},
		{product: Exim, re: regexp.MustCompile(`(?i)\bExim\b`)},

		{product: Sendmail, re: regexp.MustCompile(`(?i)\bSendmail\b.*?\(Berkeley (\d+\.\d+[\w.+]*)\)`), ver: 1},
		{product: Sendmail, re: regexp.MustCompile(`(?i)\bSendmail version (\d+\.\d+[\w.+]*)`), ver: 1},
		{product: Sendmail, re: regexp.MustCompile(`(?i)\bSendmail AIX ?[\d.]+/(?:UCB )?(\d+\.\d+[\w.+]*)`), ver: 1},
		{product: Sendmail, re: regexp.MustCompile(`(?i)\bSendmail SMI-(\d+\.\d+[\w.+]*)`), ver: 1},
		{product: Sendmail, re: regexp.MustCompile(`(?i)\bSendmail +(\d+\.\d+[^/ ;()]*)`), ver: 1, clean: dropSunTag},
		{product: Sendmail, re: regexp.MustCompile(`(?i)\bSendmail\b`)},

		{product: Dovecot, re: regexp.MustCompile(`(?i)\bDovecot(?: \(\w+\))? v?(\d+\.\d+(?:\.\d+)*)\b`), ver: 1},
		{product: Dovecot, re: regexp.MustCompile(`(?i)\bDovecot\b(?: (?:DA|\((Ubuntu|Debian|Raspbian|FreeBSD)\)))?`), detail: 1},

		{product: Courier, re: regexp.MustCompile(`(?i)\bCourier-(?:IMAP|POP3|MTA|ESMTP)\b,? ?(?:v(?:ersion)? ?)?(\d+\.\d+[\w.]*)?`), ver: 1},
		{product: Courier, proto: POP3, re: regexp.MustCompile(`^Hello there\.?$`), fixDetail: "Courier POP3 greeting"},

		{product: Cyrus, re: regexp.MustCompile(`(?i)\bCyrus (?:IMAP4?|POP3)(?: Murder)? v?(\d+\.\d+\S*?)(?:-OS X|\s|$)`), ver: 1},
		{product: Cyrus, re: regexp.MustCompile(`(?i)\bCyrus (?:IMAP4?|POP3)\b`)},

		{product: Zimbra, re: regexp.MustCompile(`(?i)\bZimbra (\d+\.\d+\.\d+[\w.]*)`), ver: 1, partial: true},
		{product: Zimbra, re: regexp.MustCompile(`(?i)\bZimbra\b`)},

		{product: HMailServer, re: regexp.MustCompile(`(?i)\bhMailServer(?: v?(\d+\.\d+[\w.\-]*))?`), ver: 1},
		{product: Qmail, re: regexp.MustCompile(`(?i)\b(?:net)?qmail\b(?: v?(\d+\.\d+[\w.]*))?`), ver: 1},
		{product: OpenSMTPD, re: regexp.MustCompile(`(?i)\bOpenSMTPD\b(?: v?(\d+\.\d+[\w.]*))?`), ver: 1},
		{product: MDaemon, re: regexp.MustCompile(`(?i)\bMDaemon v?(\d+\.\d+[\w.]*)`), ver: 1},
		{product: MDaemon, re: regexp.MustCompile(`(?i)\bMDaemon\b`)},
		{product: Kerio, re: regexp.MustCompile(`(?i)\bKerio Connect (\d+\.\d+[\w.]*(?: patch \d+)?)`), ver: 1},
		{product: Kerio, re: regexp.MustCompile(`(?i)\bKerio (?:Connect|MailServer)\b`)},
		// IceWarp was called Merak until version 9.
		{product: IceWarp, re: regexp.MustCompile(`(?i)\b(?:IceWarp|Merak)(?: Mail Server)? v?(\d+\.\d+[\w.]*)`), ver: 1, clean: trimDot},
		{product: IceWarp, re: regexp.MustCompile(`(?i)\b(?:IceWarp|Merak)\b`)},
		{product: Haraka, re: regexp.MustCompile(`(?i)\bHaraka(?:[/ ]v?(\d+\.\d+[\w.]*))?`), ver: 1},
		{product: CommuniGate, re: regexp.MustCompile(`(?i)\bCommuniGate Pro (\d+\.\w+(?:\.\w+)*)`), ver: 1, clean: trimDot},
		{product: CommuniGate, re: regexp.MustCompile(`(?i)\bCommuniGate Pro\b`)},
		{product: SmarterMail, re: regexp.MustCompile(`(?i)\bSmarterMail\b(?: v?(\d+\.\d+[\w.]*))?`), ver: 1},
		{product: Axigen, re: regexp.MustCompile(`(?i)\bAxigen\b(?: v?(\d+\.\d+[\w.]*))?`), ver: 1},
		{product: ApacheJames, re: regexp.MustCompile(`(?i)\bJAMES\b.*?(?:Server )?(\d+\.\d+[\w.\-]*)?`), ver: 1},
		{product: Chasquid, re: regexp.MustCompile(`(?i)\bchasquid\b`)},
		{product: Maddy, re: regexp.MustCompile(`(?i)\bmaddy\b`)},
		{product: Stalwart, re: regexp.MustCompile(`(?i)\bStalwart\b(?: (?:SMTP|IMAP|Mail Server) v?(\d+\.\d+[\w.]*))?`), ver: 1},
		{product: Mox, re: regexp.MustCompile(`\bmox\b(?: v?(\d+\.\d+[\w.]*))?`), ver: 1},
		{product: UWIMAP, re: regexp.MustCompile(`(?i)\bIMAP4rev1 (?:Service|server) (20\d\d\.[\w.\-]+) at\b`), ver: 1},
	}
})

func trimDot(s string) string { return strings.TrimRight(s, ".") }

// dropSunTag removes Solaris' "+Sun" vendor tag from a Sendmail version
// (8.9.3+Sun is Sendmail 8.9.3 as Sun shipped it).
func dropSunTag(s string) string { return strings.TrimSuffix(s, "+Sun") }

// maxLine bounds the text of one line looked at: greetings are short, and
// a hostile server's megabyte line must not cost regexp time.
const maxLine = 1024

// Identify reads text (one or more lines: a greeting, an EHLO reply, an
// IMAP ID response, a Received header) and names the software. A line
// naming a version wins over one naming only the product. ok is false
// when no line names a product mailversion knows.
func Identify(proto Protocol, text string) (sw Software, ok bool) {
	for _, line := range splitLines(text) {
		s, found := identifyLine(proto, line)
		if !found {
			continue
		}
		if !ok || (s.Known() && !sw.Known()) {
			sw, ok = s, true
		}
		if sw.Known() {
			break
		}
	}
	return sw, ok
}

func splitLines(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(text, "\n")
	if len(lines) > 64 {
		lines = lines[:64]
	}
	return lines
}

// identifyLine tries the rules on one line.
func identifyLine(proto Protocol, raw string) (Software, bool) {
	line := strings.TrimSpace(raw)
	if len(line) > maxLine {
		line = line[:maxLine]
	}
	evidence := line
	line = stripProtocol(line)
	// A greeting starts with the server's host name (RFC 5321 §4.3.1;
	// IMAP and POP3 servers do the same by habit): a name such as
	// postfix-relay.example.org must not name the product.
	if first, rest, ok := strings.Cut(line, " "); ok && rest != "" && (strings.ContainsAny(first, ".[") || strings.Count(first, ":") >= 2) {
		line = rest
	}
	if strings.HasPrefix(strings.ToUpper(evidence), "* ID ") {
		return IdentifyID(evidence)
	}
	for _, r := range rules() {
		// A rule for one protocol needs to know the text came from it.
		if r.proto != Any && r.proto != proto {
			continue
		}
		m := r.re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s := Software{Product: r.product, Evidence: evidence, Detail: r.fixDetail}
		if r.ver > 0 && r.ver < len(m) {
			s.Version = strings.TrimRight(m[r.ver], ".-_+")
			if r.clean != nil {
				s.Version = r.clean(s.Version)
			}
			if _, err := ParseVersion(s.Version); err != nil {
				s.Version = ""
			}
			s.Partial = r.partial && s.Version != ""
		}
		if r.detail > 0 && r.detail < len(m) && m[r.detail] != "" {
			s.Detail = m[r.detail]
		}
		return s, true
	}
	return Software{}, false
}

var (
	smtpCode = lazyre.New(`^\d{3}[ -](?:\d\.\d{1,3}\.\d{1,3} )?`)
	imapCode = lazyre.New(`^(?:\*|[A-Za-z0-9.]+) (?:OK|PREAUTH|BYE|NO) (?:\[[^\]]*\] ?)?`)
	respCode = lazyre.New(`^\[CAPABILITY [^\]]*\] ?`)
)

// stripProtocol removes the reply code, tag or status word a caller may
// have left on the line: "220 ", "* OK [CAPABILITY ...] ", "+OK ".
func stripProtocol(s string) string {
	switch {
	case smtpCode.MatchString(s):
		s = s[len(smtpCode.FindString(s)):]
	case imapCode.MatchString(s):
		s = s[len(imapCode.FindString(s)):]
	case strings.HasPrefix(s, "+OK"):
		s = strings.TrimSpace(s[3:])
	}
	return strings.TrimSpace(respCode.ReplaceAllString(s, ""))
}

var (
	idRe     = lazyre.New(`(?i)^\* ID \((.*)\)\s*$`)
	idPairRe = lazyre.New(`"((?:[^"\\]|\\.)*)"\s+(?:"((?:[^"\\]|\\.)*)"|NIL)`)
)

// IdentifyID reads an IMAP ID response (RFC 2971 §3.3): `* ID ("name"
// "Dovecot" "version" "2.3.19.1" ...)`. The product is named by the
// "name" field when it is one mailversion knows, the version by the
// "version" field.
func IdentifyID(line string) (Software, bool) {
	line = strings.TrimSpace(line)
	if len(line) > 4*maxLine {
		line = line[:4*maxLine]
	}
	m := idRe.FindStringSubmatch(line)
	if m == nil {
		return Software{}, false
	}
	fields := map[string]string{}
	for _, p := range idPairRe.FindAllStringSubmatch(m[1], 32) {
		fields[strings.ToLower(p[1])] = p[2]
	}
	name := fields["name"]
	if name == "" {
		return Software{}, false
	}
	s, ok := identifyLine(IMAP, name)
	if !ok {
		return Software{}, false
	}
	s.Evidence = line
	if v := strings.TrimSpace(fields["version"]); v != "" && s.Version == "" {
		if _, err := ParseVersion(v); err == nil && len(v) <= 64 {
			s.Version = v
			s.Partial = s.Product == Zimbra
		}
	}
	return s, true
}
