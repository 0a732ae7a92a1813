package maillog

import (
	"net/netip"
	"sort"
	"time"
)

// Options bound and tune the analysis. Zero values take the defaults.
type Options struct {
	// MaxRetry and FindTime are the fail2ban jail being simulated: a
	// source is banned when it fails MaxRetry times within FindTime
	// (fail2ban's defaults: 5 in 10 minutes).
	MaxRetry int
	FindTime time.Duration
	// BanTime is how long a ban lasts: failures during it are not
	// counted towards another (the address was blocked). Default 10m.
	BanTime time.Duration
	// AlarmAfter is how many failures from an address before a
	// successful login from it make the alarming pattern (default
	// MaxRetry).
	AlarmAfter int
	// MaxSources and MaxAccounts cap the state kept; events of sources
	// and accounts beyond the cap are counted, not tracked.
	MaxSources, MaxAccounts int
	// MaxLineBytes caps a line; longer lines are counted and skipped.
	MaxLineBytes int
	// Top is how many sources and accounts the report lists.
	Top int
	// Progress, when set, is called from the reading goroutine every
	// 4096 lines with the input's name and the lines read so far.
	Progress func(input string, lines int64)
}

// Defaults.
const (
	DefaultMaxRetry     = 5
	DefaultFindTime     = 10 * time.Minute
	DefaultBanTime      = 10 * time.Minute
	DefaultMaxSources   = 100_000
	DefaultMaxAccounts  = 100_000
	DefaultMaxLineBytes = 8 << 10
	DefaultTop          = 10
	// maxAccountsPerSource bounds the names kept for one source.
	maxAccountsPerSource = 16
	maxSessions          = 10_000
	// maxAccountSources bounds the addresses remembered per account.
	maxAccountSources = 32
	maxBuckets        = 24 * 400
)

// WithDefaults fills zero fields.
func (o Options) WithDefaults() Options {
	if o.MaxRetry <= 0 {
		o.MaxRetry = DefaultMaxRetry
	}
	o.MaxRetry = min(o.MaxRetry, 10_000)
	if o.FindTime <= 0 {
		o.FindTime = DefaultFindTime
	}
	if o.BanTime <= 0 {
		o.BanTime = DefaultBanTime
	}
	if o.AlarmAfter <= 0 {
		o.AlarmAfter = o.MaxRetry
	}
	if o.MaxSources <= 0 {
		o.MaxSources = DefaultMaxSources
	}
	if o.MaxAccounts <= 0 {
		o.MaxAccounts = DefaultMaxAccounts
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.Top <= 0 {
		o.Top = DefaultTop
	}
	return o
}

// Peak is the busiest hour of failures seen so far (logs run forward in
// time; an hour that comes back after another starts a new count).
type Peak struct {
	Hour     time.Time `json:"peak_hour,omitzero"`
	Failures int       `json:"peak_hour_failures,omitempty"`

	cur   time.Time
	count int
}

func (p *Peak) add(t time.Time, n int) {
	if t.IsZero() {
		return
	}
	h := t.UTC().Truncate(time.Hour)
	if !h.Equal(p.cur) {
		p.cur, p.count = h, 0
	}
	p.count += n
	if p.count > p.Failures {
		p.Hour, p.Failures = h, p.count
	}
}

// Source is what one client address did.
type Source struct {
	Addr      string `json:"address"`
	Failures  int    `json:"failures"`
	Successes int    `json:"successes"`
	// First and Last are the first and last failure.
	First time.Time `json:"first_failure,omitzero"`
	Last  time.Time `json:"last_failure,omitzero"`
	Peak
	// Accounts are the first accounts it tried (at most 16);
	// AccountsTried counts them all up to that bound.
	Accounts []string `json:"accounts,omitempty"`
	Servers  []string `json:"servers,omitempty"`
	// Banned is when the simulated fail2ban jail would first have
	// banned it; Bans how many times it would have been banned.
	Banned time.Time `json:"banned,omitzero"`
	Bans   int       `json:"bans,omitempty"`

	window      []time.Time // the last MaxRetry failure times (ring)
	bannedUntil time.Time
	next        int
	full        bool
}

// Account is what happened to one account.
type Account struct {
	Name      string `json:"account"`
	Failures  int    `json:"failures"`
	Successes int    `json:"successes"`
	// Sources counts the distinct addresses that failed against it, up
	// to maxAccountSources (SourcesCapped: that many or more).
	Sources       int       `json:"sources"`
	SourcesCapped bool      `json:"sources_capped,omitempty"`
	First         time.Time `json:"first_failure,omitzero"`
	Last          time.Time `json:"last_failure,omitzero"`
	Peak

	sources []netip.Addr
}

// Alarm is a successful login from an address after many failures.
type Alarm struct {
	Addr           string    `json:"address"`
	Account        string    `json:"account,omitempty"`
	Server         string    `json:"server"`
	Time           time.Time `json:"time,omitzero"`
	FailuresBefore int       `json:"failures_before"`
	// Logins counts the successful logins of this address and account
	// after the threshold; Time and FailuresBefore are of the latest.
	Logins int `json:"logins"`
}

// maxAlarms bounds the alarms kept (one per address, account and server).
const maxAlarms = 1000

// alarm records a login after failures: one alarm per address, account
// and server, updated by later logins (so a login after more failures is
// never hidden behind an earlier one).
func (a *Analyzer) alarm(al Alarm) {
	key := al.Addr + "|" + al.Account + "|" + al.Server
	if i, ok := a.alarmIndex[key]; ok {
		old := &a.alarms[i]
		old.Time, old.FailuresBefore, old.Logins = al.Time, al.FailuresBefore, old.Logins+1
		return
	}
	if len(a.alarms) >= maxAlarms {
		return
	}
	a.alarmIndex[key] = len(a.alarms)
	a.alarms = append(a.alarms, al)
}

// Stats counts what was read.
type Stats struct {
	Lines           int64            `json:"lines"`
	Bytes           int64            `json:"bytes"`
	Events          int64            `json:"events"`
	Failures        int64            `json:"auth_failures"`
	Successes       int64            `json:"auth_successes"`
	LongLines       int64            `json:"long_lines_skipped"`
	DroppedSources  int64            `json:"events_of_untracked_sources"`
	DroppedAccounts int64            `json:"events_of_untracked_accounts"`
	ByServer        map[string]int64 `json:"failures_by_server,omitempty"`
}

// Analyzer accumulates events. Not safe for concurrent use.
type Analyzer struct {
	o        Options
	Parser   Parser
	Stats    Stats
	sources  map[netip.Addr]*Source
	accounts map[string]*Account
	alarms   []Alarm
	// alarmIndex finds an address, account and server's alarm.
	alarmIndex map[string]int
	sessions   map[string]bool
	// input is the name of the input being read, for Progress.
	input string
	// hourly counts failures per hour (UTC), bounded.
	hourly map[time.Time]int
}

// NewAnalyzer starts an analysis.
func NewAnalyzer(o Options) *Analyzer {
	o = o.WithDefaults()
	return &Analyzer{o: o, sources: map[netip.Addr]*Source{}, accounts: map[string]*Account{},
		sessions: map[string]bool{}, alarmIndex: map[string]int{}, hourly: map[time.Time]int{}, Stats: Stats{ByServer: map[string]int64{}}}
}

// Options returns the options in effect.
func (a *Analyzer) Options() Options { return a.o }

// Line feeds one line (without its newline).
func (a *Analyzer) Line(line string) {
	a.Stats.Lines++
	a.Stats.Bytes += int64(len(line)) + 1
	ev, ok := a.Parser.Parse(line)
	if ok {
		a.Event(ev)
	}
}

// Event feeds one event.
func (a *Analyzer) Event(ev Event) {
	if ev.Count < 1 {
		ev.Count = 1
	}
	if ev.Kind == AuthOK && ev.session != "" {
		// One success per Postfix session: the first client= line
		// with sasl_username, else the disconnect line's auth=N.
		seen := a.sessions[ev.session]
		if ev.sessionEnd {
			delete(a.sessions, ev.session)
		} else if !seen {
			if len(a.sessions) >= maxSessions {
				clear(a.sessions)
			}
			a.sessions[ev.session] = true
		}
		if seen {
			return
		}
	}
	a.Stats.Events++
	src := a.source(ev.Source)
	acct := a.account(ev.User)
	switch ev.Kind {
	case AuthFail:
		a.Stats.Failures += int64(ev.Count)
		a.Stats.ByServer[ev.Server] += int64(ev.Count)
		if !ev.Time.IsZero() && (len(a.hourly) < maxBuckets || a.hourly[ev.Time.UTC().Truncate(time.Hour)] > 0) {
			a.hourly[ev.Time.UTC().Truncate(time.Hour)] += ev.Count
		}
		if src != nil {
			touch(&src.First, &src.Last, ev.Time)
			src.Peak.add(ev.Time, ev.Count)
			src.Failures += ev.Count
			for i := 0; i < min(ev.Count, a.o.MaxRetry); i++ {
				a.fail2ban(src, ev.Time)
			}
			src.addAccount(ev.User)
			src.addServer(ev.Server)
		}
		if acct != nil {
			touch(&acct.First, &acct.Last, ev.Time)
			acct.Peak.add(ev.Time, ev.Count)
			acct.Failures += ev.Count
			acct.addSource(ev.Source)
		}
	case AuthOK:
		a.Stats.Successes += int64(ev.Count)
		if src != nil {
			if src.Failures >= a.o.AlarmAfter {
				a.alarm(Alarm{Addr: src.Addr, Account: ev.User, Server: ev.Server, Time: ev.Time, FailuresBefore: src.Failures, Logins: 1})
			}
			src.Successes += ev.Count
			src.addServer(ev.Server)
		}
		if acct != nil {
			acct.Successes += ev.Count
		}
	}
}

// fail2ban pushes one failure at t into the source's window; when the
// window holds MaxRetry failures within FindTime the source is banned
// and the window starts over (fail2ban forgets a banned IP's failures).
func (a *Analyzer) fail2ban(s *Source, t time.Time) {
	if t.IsZero() || t.Before(s.bannedUntil) {
		return
	}
	if s.window == nil {
		s.window = make([]time.Time, a.o.MaxRetry)
	}
	s.window[s.next] = t
	s.next = (s.next + 1) % len(s.window)
	if s.next == 0 {
		s.full = true
	}
	if !s.full {
		return
	}
	oldest := s.window[s.next]
	if t.Sub(oldest) <= a.o.FindTime {
		if s.Banned.IsZero() {
			s.Banned = t
		}
		s.Bans++
		s.bannedUntil = t.Add(a.o.BanTime)
		clear(s.window)
		s.next, s.full = 0, false
	}
}

func (s *Source) addAccount(u string) {
	if u == "" || len(s.Accounts) >= maxAccountsPerSource {
		return
	}
	for _, x := range s.Accounts {
		if x == u {
			return
		}
	}
	s.Accounts = append(s.Accounts, u)
}

func (acct *Account) addSource(ip netip.Addr) {
	if !ip.IsValid() || acct.SourcesCapped {
		return
	}
	for _, x := range acct.sources {
		if x == ip {
			return
		}
	}
	if len(acct.sources) == maxAccountSources {
		acct.SourcesCapped = true
		return
	}
	acct.sources = append(acct.sources, ip)
	acct.Sources = len(acct.sources)
}

func (s *Source) addServer(n string) {
	for _, x := range s.Servers {
		if x == n {
			return
		}
	}
	s.Servers = append(s.Servers, n)
}

func (a *Analyzer) source(ip netip.Addr) *Source {
	if !ip.IsValid() {
		return nil
	}
	s, ok := a.sources[ip]
	if !ok {
		if len(a.sources) >= a.o.MaxSources {
			a.Stats.DroppedSources++
			return nil
		}
		s = &Source{Addr: ip.String()}
		a.sources[ip] = s
	}
	return s
}

func (a *Analyzer) account(name string) *Account {
	if name == "" {
		return nil
	}
	if len(name) > 256 {
		name = name[:256]
	}
	acct, ok := a.accounts[name]
	if !ok {
		if len(a.accounts) >= a.o.MaxAccounts {
			a.Stats.DroppedAccounts++
			return nil
		}
		acct = &Account{Name: name}
		a.accounts[name] = acct
	}
	return acct
}

func touch(first, last *time.Time, t time.Time) {
	if t.IsZero() {
		return
	}
	if first.IsZero() || t.Before(*first) {
		*first = t
	}
	if t.After(*last) {
		*last = t
	}
}

// Summary is the result of an analysis.
type Summary struct {
	Options Options  `json:"-"`
	Stats   Stats    `json:"stats"`
	Sources []Source `json:"top_sources"`
	// AllSources and AllAccounts count what was tracked.
	AllSources  int       `json:"sources"`
	AllAccounts int       `json:"accounts"`
	Accounts    []Account `json:"top_accounts"`
	Banned      []Source  `json:"would_ban"`
	// MoreSources counts sources at or above MaxRetry failures beyond
	// the top list.
	MoreSources int     `json:"more_sources_at_threshold,omitempty"`
	Alarms      []Alarm `json:"success_after_failures"`
	// Hourly is failures per hour (UTC), oldest first.
	Hourly []HourCount `json:"failures_per_hour,omitempty"`
}

// HourCount is the failures of one hour.
type HourCount struct {
	Hour     time.Time `json:"hour"`
	Failures int       `json:"failures"`
}

// Summary ranks what was gathered: the top sources and accounts by
// failures (ties by address or name, so the output is stable), every
// source the jail would have banned (top first, bounded by Top), and the
// alarms.
func (a *Analyzer) Summary() Summary {
	s := Summary{Options: a.o, Stats: a.Stats, AllSources: len(a.sources), AllAccounts: len(a.accounts), Alarms: append([]Alarm(nil), a.alarms...)}
	srcs := make([]*Source, 0, len(a.sources))
	for _, x := range a.sources {
		if x.Failures > 0 {
			srcs = append(srcs, x)
		}
	}
	sort.Slice(srcs, func(i, j int) bool {
		if srcs[i].Failures != srcs[j].Failures {
			return srcs[i].Failures > srcs[j].Failures
		}
		return srcs[i].Addr < srcs[j].Addr
	})
	for _, x := range srcs {
		if len(s.Sources) < a.o.Top {
			s.Sources = append(s.Sources, *x)
		} else if x.Failures >= a.o.MaxRetry {
			s.MoreSources++
		}
		if x.Bans > 0 && len(s.Banned) < a.o.Top {
			s.Banned = append(s.Banned, *x)
		}
	}
	accts := make([]*Account, 0, len(a.accounts))
	for _, x := range a.accounts {
		if x.Failures > 0 {
			accts = append(accts, x)
		}
	}
	sort.Slice(accts, func(i, j int) bool {
		if accts[i].Failures != accts[j].Failures {
			return accts[i].Failures > accts[j].Failures
		}
		return accts[i].Name < accts[j].Name
	})
	for _, x := range accts[:min(len(accts), a.o.Top)] {
		s.Accounts = append(s.Accounts, *x)
	}
	for h, n := range a.hourly {
		s.Hourly = append(s.Hourly, HourCount{Hour: h, Failures: n})
	}
	sort.Slice(s.Hourly, func(i, j int) bool { return s.Hourly[i].Hour.Before(s.Hourly[j].Hour) })
	return s
}

// BannedCount is how many sources the jail would have banned in all.
func (a *Analyzer) BannedCount() int {
	n := 0
	for _, x := range a.sources {
		if x.Bans > 0 {
			n++
		}
	}
	return n
}
