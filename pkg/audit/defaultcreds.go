package audit

import (
	"fmt"
	"path"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/imapaudit"
	"github.com/mailprobe/mailprobe/pkg/netx"
)

// DefaultPair is one well-known default or lab account and password
// (docs/audit.md lists them with their sources). Local parts only: the
// account tried is the local part and, with a mail domain, local@domain.
type DefaultPair struct {
	Local, Password, Source string
}

// DefaultPairs is the short list --default-credentials tries (at most 10
// pairs, by design: this is a check for forgotten defaults, not a
// password-guessing tool).
var DefaultPairs = []DefaultPair{
	{"test", "test", "test account left from setup (tutorials, lab images)"},
	{"test", "123456", "test account left from setup (tutorials, lab images)"},
	{"admin", "admin", "appliance and control-panel default"},
	{"admin", "password", "appliance and control-panel default"},
	{"postmaster", "postmaster", "role account created with its own name as password"},
	{"demo", "demo", "demo account of hosted trials and lab images"},
	{"user", "password", "lab default"},
	{"guest", "guest", "lab default"},
	{"root", "root", "system account on servers authenticating against the system's accounts"},
	{"info", "info", "role account created with its own name as password"},
}

// DefaultCredentials are the pairs whose account matches one of the
// patterns (path.Match globs: "test@example.org", "*@example.org",
// "test*"). Only accounts the user named may be tried: no pattern, no
// pair. domain, when set, makes local@domain the account; else the bare
// local part.
func DefaultCredentials(patterns []string, domain string) ([]imapaudit.Credential, error) {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("--accounts %q: %v", p, err)
		}
	}
	var out []imapaudit.Credential
	for _, d := range DefaultPairs {
		account := d.Local
		if domain != "" {
			account += "@" + domain
		}
		for _, p := range patterns {
			if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(account)); ok {
				out = append(out, imapaudit.Credential{User: account, Password: d.Password, Source: d.Source})
				break
			}
		}
	}
	return out, nil
}

// credentialPort picks the one mailbox port the default credentials are
// tried on: IMAP before POP3, implicit TLS before STARTTLS.
func credentialPort(rows []PortResult) int {
	best, rank := 0, 99
	for _, r := range rows {
		if r.State != StateOpen {
			continue
		}
		n := 99
		switch {
		case r.Proto == netx.ProtoIMAP && r.Implicit:
			n = 0
		case r.Proto == netx.ProtoIMAP:
			n = 1
		case r.Proto == netx.ProtoPOP3 && r.Implicit:
			n = 2
		case r.Proto == netx.ProtoPOP3:
			n = 3
		}
		if n < rank {
			best, rank = r.Port, n
		}
	}
	return best
}
