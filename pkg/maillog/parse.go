// Package maillog reads mail server logs (Postfix, Dovecot, Exim; as
// syslog files, the servers' own log files or journalctl output) and
// finds what a security review asks of them: authentication failures per
// source address and per account, the top sources, the accounts under
// attack, a successful login from an address after many failures (the
// alarming pattern), and whether a fail2ban-style ban would have
// triggered.
//
// It streams: one line at a time, with a cap on line length and on the
// number of sources and accounts it tracks (what was dropped is counted
// and reported), so a multi-gigabyte log costs bounded memory.
package maillog

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/internal/lazyre"
)

// Kind is what a log line says happened.
type Kind uint8

const (
	// AuthFail is one or more failed authentications (Count says how
	// many: Dovecot logs one line per connection with "N attempts").
	AuthFail Kind = iota + 1
	// AuthOK is a successful authentication.
	AuthOK
)

func (k Kind) String() string {
	switch k {
	case AuthFail:
		return "auth-fail"
	case AuthOK:
		return "auth-ok"
	}
	return "none"
}

// Event is one authentication outcome read from a line.
type Event struct {
	Kind Kind
	// Time is when it happened; zero when the line has no timestamp.
	Time time.Time
	// Server is "postfix", "dovecot" or "exim"; Service the program or
	// listener ("postfix/submission/smtpd", "imap-login").
	Server, Service string
	// Source is the client's address; invalid when the line has none.
	Source netip.Addr
	// User is the account tried; "" when the line does not say.
	User string
	// Mechanism is the SASL mechanism or method, when logged.
	Mechanism string
	// Count is how many attempts the line stands for (at least 1).
	Count int
	// session identifies a Postfix smtpd session (program, pid and
	// client) so that its success is counted once: on its first client=
	// line with sasl_username, or else on its disconnect line's auth=N.
	session    string
	sessionEnd bool
}

// Parser turns lines into events. Lines in RFC 3164 form carry no year:
// it is taken from Year, or from Now (a date more than a day in Now's
// future belongs to the year before).
type Parser struct {
	Year int
	Now  func() time.Time
	// Location for timestamps without a zone (default: UTC).
	Location *time.Location

	lastMonth time.Month
	yearShift int
}

var months = map[string]time.Month{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}

// Parse reads one line. ok is false for lines that say nothing about
// authentication (the vast majority).
func (p *Parser) Parse(line string) (ev Event, ok bool) {
	// Cheap rejection first: every line we read has one of these words.
	if !strings.Contains(line, "auth") && !strings.Contains(line, "Login: ") && !strings.Contains(line, "sasl_username=") && !strings.Contains(line, " A=") {
		return Event{}, false
	}
	ts, msg := p.timestamp(line)
	switch {
	case strings.Contains(msg, "-login: "):
		ev, ok = parseDovecot(msg)
	case strings.Contains(msg, "postfix"):
		ev, ok = parsePostfix(msg)
	case strings.Contains(msg, "authenticator failed") || strings.Contains(msg, " <= "):
		ev, ok = parseExim(msg)
	}
	if !ok {
		return Event{}, false
	}
	ev.Time = ts
	if ev.Count < 1 {
		ev.Count = 1
	}
	return ev, true
}

var (
	isoTS    = lazyre.New(`^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?)(Z|[+-]\d\d:?\d\d)? `)
	eximPid  = lazyre.New(`^\[\d+\] `)
	fullTS   = lazyre.New(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,9})?) ([A-Z][A-Za-z0-9+-]{0,9}) `)
	unixTS   = lazyre.New(`^(\d{9,11})(?:\.(\d{1,9}))? `)
	tsLayout = []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"}
)

// timestamp reads a leading ISO 8601 (journalctl -o short-iso, rsyslog's
// high-precision format, Exim's mainlog) or RFC 3164 ("Dec  4 21:39:20",
// journalctl -o short, Dovecot's log_timestamp) timestamp and returns it
// with the rest of the line.
func (p *Parser) timestamp(line string) (time.Time, string) {
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	// journalctl -o short-full: "Fri 2026-12-04 21:39:20 UTC host ...".
	if m := fullTS.FindStringSubmatch(line); m != nil {
		t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", m[1], loc)
		if err == nil {
			if m[2] == "UTC" || m[2] == "GMT" {
				t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
			}
			return t, line[len(m[0]):]
		}
	}
	// journalctl -o short-unix: "1796420360.123456 host ...".
	if m := unixTS.FindStringSubmatch(line); m != nil {
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		ns, _ := strconv.Atoi((m[2] + "000000000")[:9])
		return time.Unix(sec, int64(ns)).In(loc), line[len(m[0]):]
	}
	if m := isoTS.FindStringSubmatch(line); m != nil {
		rest := line[len(m[0]):]
		var t time.Time
		var err error
		for _, l := range tsLayout {
			if t, err = time.ParseInLocation(l, m[1], loc); err == nil {
				break
			}
		}
		if err == nil && m[2] != "" {
			if z, zerr := parseZone(m[2]); zerr == nil {
				t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), z)
			}
		}
		return t, eximPid.ReplaceAllString(rest, "")
	}
	if t, n, ok := p.rfc3164(line, loc); ok {
		return t, line[n:]
	}
	return time.Time{}, line
}

// rfc3164 reads "Dec  4 21:39:20 " and "Dec 04 21:39:20.123456 " without
// a regexp (it is on every line read): the time and its length.
func (p *Parser) rfc3164(line string, loc *time.Location) (time.Time, int, bool) {
	if len(line) < 16 || line[3] != ' ' {
		return time.Time{}, 0, false
	}
	mon, ok := months[strings.ToLower(line[:3])]
	if !ok {
		return time.Time{}, 0, false
	}
	i := 4
	if line[i] == ' ' {
		i++
	}
	day, j := digits(line, i, 2)
	if j == i || j >= len(line) || line[j] != ' ' {
		return time.Time{}, 0, false
	}
	i = j + 1
	var hms [3]int
	for k := 0; k < 3; k++ {
		v, e := digits(line, i, 2)
		if e != i+2 || (k < 2 && (e >= len(line) || line[e] != ':')) {
			return time.Time{}, 0, false
		}
		hms[k] = v
		i = e + 1
	}
	i-- // at the byte after the seconds
	ns := 0
	if i < len(line) && line[i] == '.' {
		v, e := digits(line, i+1, 9)
		if e == i+1 {
			return time.Time{}, 0, false
		}
		for k := e - (i + 1); k < 9; k++ {
			v *= 10
		}
		ns, i = v, e
	}
	if i >= len(line) || line[i] != ' ' || day < 1 || day > 31 || hms[0] > 23 || hms[1] > 59 || hms[2] > 60 {
		return time.Time{}, 0, false
	}
	return time.Date(p.year(mon), mon, day, hms[0], hms[1], hms[2], ns, loc), i + 1, true
}

// digits reads up to max decimal digits of s from i: the value and the
// index after them.
func digits(s string, i, max int) (int, int) {
	v, j := 0, i
	for j < len(s) && j-i < max && s[j] >= '0' && s[j] <= '9' {
		v = v*10 + int(s[j]-'0')
		j++
	}
	return v, j
}

// year picks the year of an RFC 3164 timestamp: --year, else Now's year
// (the year before for a month in Now's future); a log that runs from
// December into January moves on a year.
func (p *Parser) year(mon time.Month) int {
	base := p.Year
	if base == 0 {
		now := time.Now()
		if p.Now != nil {
			now = p.Now()
		}
		base = now.Year()
		if p.lastMonth == 0 && mon > now.Month() {
			p.yearShift = -1
		}
	}
	if p.lastMonth == time.December && mon == time.January {
		p.yearShift++
	}
	p.lastMonth = mon
	return base + p.yearShift
}

func parseZone(z string) (*time.Location, error) {
	if z == "Z" {
		return time.UTC, nil
	}
	z = strings.ReplaceAll(z, ":", "")
	h, err := strconv.Atoi(z[1:3])
	if err != nil {
		return nil, err
	}
	m, err := strconv.Atoi(z[3:5])
	if err != nil {
		return nil, err
	}
	off := h*3600 + m*60
	if z[0] == '-' {
		off = -off
	}
	return time.FixedZone("", off), nil
}

var (
	// warning: unknown[1.2.3.4]: SASL PLAIN authentication failed: UGFzc3dvcmQ6, sasl_username=alice
	pfFail = lazyre.New(`(postfix[\w/.-]*)\[(\d+)\]: warning: [^\s\[]*\[([0-9A-Fa-f.:]+)\]: SASL ([\w-]+) authentication failed(?:: .*?)?(?:, sasl_username=(\S+))?$`)
	// 4F2B81C0A: client=unknown[1.2.3.4], sasl_method=PLAIN, sasl_username=alice
	pfOK = lazyre.New(`(postfix[\w/.-]*)\[(\d+)\]: (?:\w+: )?client=[^\s\[]*\[([0-9A-Fa-f.:]+)\](?::\d+)?, sasl_method=([\w-]+), sasl_username=(\S+)`)
	// disconnect from unknown[1.2.3.4] ehlo=2 starttls=1 auth=1 quit=1 commands=5
	pfDisc = lazyre.New(`(postfix[\w/.-]*)\[(\d+)\]: disconnect from [^\s\[]*\[([0-9A-Fa-f.:]+)\].* auth=(\d+)(?:/\d+)?\b`)
)

func parsePostfix(msg string) (Event, bool) {
	// Substring checks first: the regexps run only on lines that can
	// match (most "auth" lines are disconnects with auth=0/N).
	if strings.Contains(msg, "authentication failed") {
		m := pfFail.FindStringSubmatch(msg)
		if m == nil {
			return Event{}, false
		}
		a, ok := addr(m[3])
		return Event{Kind: AuthFail, Server: "postfix", Service: m[1], Source: a, Mechanism: m[4], User: m[5]}, ok
	}
	if !strings.Contains(msg, "sasl_username=") && !strings.Contains(msg, " auth=") {
		return Event{}, false
	}
	if i := strings.Index(msg, " auth="); i >= 0 && strings.HasPrefix(msg[i:], " auth=0") {
		return Event{}, false // auth=0/N: the failures were logged one by one
	}
	if m := pfOK.FindStringSubmatch(msg); m != nil {
		a, ok := addr(m[3])
		return Event{Kind: AuthOK, Server: "postfix", Service: m[1], Source: a, Mechanism: m[4], User: strings.TrimSuffix(m[5], ","), session: m[1] + "|" + m[2] + "|" + m[3]}, ok
	}
	if m := pfDisc.FindStringSubmatch(msg); m != nil && m[4] != "0" {
		a, ok := addr(m[3])
		n, _ := strconv.Atoi(m[4])
		return Event{Kind: AuthOK, Server: "postfix", Service: m[1], Source: a, Count: n, session: m[1] + "|" + m[2] + "|" + m[3], sessionEnd: true}, ok
	}
	return Event{}, false
}

var (
	dcLogin    = lazyre.New(`\b((?:imap|pop3|managesieve|submission|lmtp)-login): (?:Info: )?(.*)$`)
	dcUser     = lazyre.New(`\buser=<([^>]*)>`)
	dcRip      = lazyre.New(`\brip=([0-9A-Fa-f.:]+)`)
	dcMethod   = lazyre.New(`\bmethod=([\w-]+)`)
	dcAttempts = lazyre.New(`\bauth failed, (\d+) attempts?\b`)
)

// parseDovecot reads the login processes' lines, logged at info level by
// default (the auth process's own lines need auth_verbose):
//
//	imap-login: Login: user=<alice>, method=PLAIN, rip=1.2.3.4, ...
//	imap-login: Disconnected: Connection closed (auth failed, 3 attempts in 6 secs): user=<alice>, method=PLAIN, rip=1.2.3.4, ...
//	pop3-login: Aborted login (auth failed, 1 attempts in 2 secs): user=<bob>, ...   (Dovecot 2.2)
func parseDovecot(msg string) (Event, bool) {
	m := dcLogin.FindStringSubmatch(msg)
	if m == nil {
		return Event{}, false
	}
	body := m[2]
	ev := Event{Server: "dovecot", Service: m[1]}
	switch {
	case strings.HasPrefix(body, "Login: "):
		ev.Kind = AuthOK
	case strings.Contains(body, "(auth failed, "):
		ev.Kind = AuthFail
		if a := dcAttempts.FindStringSubmatch(body); a != nil {
			ev.Count, _ = strconv.Atoi(a[1])
			ev.Count = min(ev.Count, 1000)
		}
	default:
		return Event{}, false
	}
	if u := dcUser.FindStringSubmatch(body); u != nil {
		ev.User = u[1]
	}
	if r := dcMethod.FindStringSubmatch(body); r != nil {
		ev.Mechanism = r[1]
	}
	r := dcRip.FindStringSubmatch(body)
	if r == nil {
		return Event{}, false
	}
	a, ok := addr(r[1])
	ev.Source = a
	return ev, ok
}

var (
	// login authenticator failed for (helo) [1.2.3.4]:51234 I=[5.6.7.8]:587: 535 Incorrect authentication data (set_id=alice)
	exFail = lazyre.New(`\b([\w-]+) authenticator failed for (?:\S+ )?(?:\([^)]*\) )?\[([0-9A-Fa-f.:]+)\](?::\d+)?(?: [A-Za-z]+=\S+)*: 535 .*?(?:\(set_id=([^)]*)\))?$`)
	// 1rABCD-000123-EF <= alice@example.org H=(helo) [1.2.3.4]:51234 P=esmtpsa X=... A=plain:alice S=1234
	exOK = lazyre.New(`<= \S+ .*?\bH=[^\[]*\[([0-9A-Fa-f.:]+)\](?::\d+)?.*? A=([\w-]+):(\S+)`)
)

func parseExim(msg string) (Event, bool) {
	if m := exFail.FindStringSubmatch(msg); m != nil {
		a, ok := addr(m[2])
		return Event{Kind: AuthFail, Server: "exim", Service: "exim", Source: a, Mechanism: m[1], User: m[3]}, ok
	}
	if m := exOK.FindStringSubmatch(msg); m != nil {
		a, ok := addr(m[1])
		return Event{Kind: AuthOK, Server: "exim", Service: "exim", Source: a, Mechanism: m[2], User: m[3]}, ok
	}
	return Event{}, false
}

// addr parses a client address; IPv4-mapped IPv6 is shown as IPv4.
func addr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
