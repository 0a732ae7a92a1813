// Package exporter is mailprobe's Prometheus probe exporter, in the
// blackbox_exporter style: GET /probe?module=NAME&target=HOST[:PORT] runs
// one check — a mailprobe command line from the module — and answers with
// the report as metrics in the Prometheus exposition format; /metrics has
// the exporter's own metrics.
//
// The package knows nothing of flags or commands: the CLI gives it a Runner
// that turns a command line into a *report.Report (the same path `check -f`
// takes), and it turns reports into metrics with client_golang.
package exporter

import (
	"bytes"
	"fmt"
	"net"
	"path"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/suite"
)

// Limits bound the work a scrape can cause.
type Limits struct {
	// Concurrency is the most probes running at once (default 16).
	Concurrency int `yaml:"concurrency"`
	// PerTarget is the most probes of one target running at once (default
	// 2): a dozen Prometheus replicas scraping one MX must not look like
	// an attack on it.
	PerTarget int `yaml:"per_target"`
	// MaxTimeout caps every probe, whatever the module or the scrape asks
	// (default 120s).
	MaxTimeout time.Duration `yaml:"max_timeout"`
}

// Module is one kind of probe: a mailprobe command line with the target
// put where {target} is (or appended), a timeout and the severity that
// makes the probe unsuccessful.
type Module struct {
	Run     string        `yaml:"run"`
	Timeout time.Duration `yaml:"timeout"`
	FailOn  string        `yaml:"fail_on"`

	args   []string
	failOn report.Severity
}

// Config is the exporter's YAML file.
type Config struct {
	Modules map[string]*Module `yaml:"modules"`
	// Allow lists the targets a probe may connect to: host names, globs
	// ("*.example.com"), IP addresses and CIDR ranges ("127.0.0.0/8").
	// "*" allows anything and must be written out: an exporter that
	// connects wherever a URL tells it is an open proxy.
	Allow  []string `yaml:"allow"`
	Limits Limits   `yaml:"limits"`

	allow allowList
}

// DefaultTimeout is a module's timeout when it sets none; a scrape's own
// timeout (X-Prometheus-Scrape-Timeout-Seconds) shortens it.
const DefaultTimeout = 30 * time.Second

// maxConfigSize bounds the config file.
const maxConfigSize = 1 << 20

// ParseConfig reads and validates a config. validate, when set, checks a
// module's command line (the CLI parses its flags without running it).
func ParseConfig(b []byte, validate func(args []string) error) (*Config, error) {
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("config: larger than %d KiB", maxConfigSize>>10)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %v", err)
	}
	var problems []string
	if len(c.Modules) == 0 {
		problems = append(problems, "no modules")
	}
	names := make([]string, 0, len(c.Modules))
	for n := range c.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		m := c.Modules[name]
		if err := m.prepare(validate); err != nil {
			problems = append(problems, fmt.Sprintf("module %s: %v", name, err))
		}
	}
	if len(c.Allow) == 0 {
		problems = append(problems, `allow: list the targets probes may connect to (host names, "*.example.com", 192.0.2.0/24; "*" for any)`)
	}
	al, err := parseAllow(c.Allow)
	if err != nil {
		problems = append(problems, err.Error())
	}
	c.allow = al
	if c.Limits.Concurrency == 0 {
		c.Limits.Concurrency = 16
	}
	if c.Limits.PerTarget == 0 {
		c.Limits.PerTarget = 2
	}
	if c.Limits.MaxTimeout == 0 {
		c.Limits.MaxTimeout = 120 * time.Second
	}
	if c.Limits.Concurrency < 0 || c.Limits.PerTarget < 0 || c.Limits.MaxTimeout < 0 {
		problems = append(problems, "limits must not be negative")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("config:\n  %s", strings.Join(problems, "\n  "))
	}
	return &c, nil
}

func (m *Module) prepare(validate func([]string) error) error {
	args, err := suite.SplitArgs(m.Run)
	if err != nil {
		return fmt.Errorf("run: %v", err)
	}
	if len(args) > 0 && args[0] == "mailprobe" {
		args = args[1:]
	}
	if len(args) == 0 {
		return fmt.Errorf("run: a mailprobe command line, e.g. \"smtp check --tls starttls\"")
	}
	cmd := strings.Join(args[:min(2, len(args))], " ")
	if !suite.Commands[cmd] && !suite.Commands[args[0]] {
		return fmt.Errorf("run: %q is not a check command", cmd)
	}
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "password" || strings.HasSuffix(name, "-password")) {
			return fmt.Errorf("run: --%s puts a password in the config; use --%s-env VAR or --%s-file FILE", name, name, name)
		}
	}
	placeholders := 0
	for _, a := range args {
		placeholders += strings.Count(a, "{target}")
	}
	if placeholders == 0 {
		args = append(args, "{target}")
	}
	m.args = args
	if m.Timeout < 0 {
		return fmt.Errorf("timeout must not be negative")
	}
	if m.Timeout == 0 {
		m.Timeout = DefaultTimeout
	}
	m.failOn = report.Fail
	if m.FailOn != "" {
		s, err := report.ParseSeverity(m.FailOn)
		if err != nil || s == report.Pass {
			return fmt.Errorf("fail_on must be info, warn or fail, not %q", m.FailOn)
		}
		m.failOn = s
	}
	if validate != nil {
		if err := validate(m.Args("example.com")); err != nil {
			return fmt.Errorf("run: %v", err)
		}
	}
	return nil
}

// Args is the module's command line for target.
func (m *Module) Args(target string) []string {
	out := make([]string, len(m.args))
	for i, a := range m.args {
		out[i] = strings.ReplaceAll(a, "{target}", target)
	}
	return out
}

// allowList matches targets against host names, globs and networks.
type allowList struct {
	any   bool
	nets  []*net.IPNet
	hosts []string // lower case; may hold path.Match globs
}

func parseAllow(entries []string) (allowList, error) {
	var a allowList
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "*":
			a.any = true
		case strings.Contains(e, "/"):
			_, n, err := net.ParseCIDR(e)
			if err != nil {
				return a, fmt.Errorf("allow %q: %v", e, err)
			}
			a.nets = append(a.nets, n)
		case net.ParseIP(e) != nil:
			ip := net.ParseIP(e)
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			a.nets = append(a.nets, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
		case e == "":
			return a, fmt.Errorf("allow: empty entry")
		default:
			if _, err := path.Match(e, ""); err != nil {
				return a, fmt.Errorf("allow %q: %v", e, err)
			}
			a.hosts = append(a.hosts, strings.TrimSuffix(e, "."))
		}
	}
	return a, nil
}

// host is the host part of a target: "mx.example.com:25" → "mx.example.com",
// "[::1]:25" → "::1", "example.com" → "example.com".
func host(target string) string {
	if h, _, err := net.SplitHostPort(target); err == nil {
		return h
	}
	return strings.Trim(target, "[]")
}

// allows reports whether target may be probed. A host name is matched by
// name: an entry for an address range does not admit names that resolve
// into it (resolving here would let DNS decide what is allowed).
func (a allowList) allows(target string) bool {
	if a.any {
		return true
	}
	h := strings.TrimSuffix(strings.ToLower(host(target)), ".")
	if ip := net.ParseIP(h); ip != nil {
		for _, n := range a.nets {
			if n.Contains(ip) {
				return true
			}
		}
		return false
	}
	for _, p := range a.hosts {
		if ok, _ := path.Match(p, h); ok {
			return true
		}
	}
	return false
}

// validTarget refuses what cannot be a host, host:port or domain: a value
// a command would read as a flag, spaces, control characters, URLs.
func validTarget(t string) error {
	switch {
	case t == "":
		return fmt.Errorf("target is empty")
	case len(t) > 300:
		return fmt.Errorf("target is longer than 300 bytes")
	case strings.HasPrefix(t, "-"):
		return fmt.Errorf("target %q starts with '-'", t)
	case strings.ContainsAny(t, " \t\r\n/\\?#@{}\"'"):
		return fmt.Errorf("target %q is not a host, host:port or domain", t)
	}
	for _, r := range t {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("target has a control character")
		}
	}
	return nil
}
