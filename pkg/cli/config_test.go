package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Command line > MAILPROBE_<FLAG> > the command's section > the file's top
// level > the built-in default.
func TestConfigPrecedence(t *testing.T) {
	cfg := writeConfig(t, `
from: top@example.com
to: [rcpt@example.net]
tls: implicit
helo: top.example.com
smtp check:
  tls: starttls
  from: section@example.com
`)
	base := []string{"smtp", "check", "mx.test", "--no-ptr", "--config", cfg}
	cases := []struct {
		name       string
		vars       map[string]string
		extra      []string
		from, user string
		mode       netx.TLSMode
	}{
		{"section beats top level", nil, nil, "section@example.com", "top.example.com", netx.TLSStartTLS},
		{"environment beats the file", map[string]string{"MAILPROBE_FROM": "env@example.com", "MAILPROBE_TLS": "none"}, nil, "env@example.com", "top.example.com", netx.TLSNone},
		{"command line beats all", map[string]string{"MAILPROBE_FROM": "env@example.com"}, []string{"--from", "cli@example.com", "--tls", "auto"}, "cli@example.com", "top.example.com", netx.TLSAuto},
	}
	for _, c := range cases {
		o, _ := parsed(t, c.vars, append(append([]string{}, base...), c.extra...)...)
		opts := o.(smtpprobe.Options)
		if opts.MailFrom != c.from || opts.Helo != c.user || opts.TLSMode != c.mode {
			t.Errorf("%s: from %q helo %q tls %q, want %q %q %q", c.name, opts.MailFrom, opts.Helo, opts.TLSMode, c.from, c.user, c.mode)
		}
	}
	// The default file is found through XDG_CONFIG_HOME, and MAILPROBE_CONFIG names another.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "mailprobe"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mailprobe", "config.yaml"), []byte("from: xdg@example.com\nto: rcpt@example.net\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, _ := parsed(t, map[string]string{"XDG_CONFIG_HOME": dir}, "smtp", "check", "mx.test", "--no-ptr")
	if got := o.(smtpprobe.Options).MailFrom; got != "xdg@example.com" {
		t.Errorf("XDG config: from %q", got)
	}
	o, _ = parsed(t, map[string]string{"XDG_CONFIG_HOME": dir, "MAILPROBE_CONFIG": cfg}, "smtp", "check", "mx.test", "--no-ptr")
	if got := o.(smtpprobe.Options).MailFrom; got != "section@example.com" {
		t.Errorf("MAILPROBE_CONFIG: from %q", got)
	}
	// No HOME, no XDG_CONFIG_HOME: no config, built-in defaults.
	o, _ = parsed(t, nil, "smtp", "check", "mx.test", "--no-ptr")
	if got := o.(smtpprobe.Options).TLSMode; got != netx.TLSAuto && got != "" {
		t.Errorf("default tls %q", got)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
	}{
		{"plaintext password", "smtp check:\n  password: Hunter2-secret\n", []string{`"password"`, "password-env", "password-file"}},
		{"plaintext imap password", "imap-password: Hunter2-secret\n", []string{"imap-password-env"}},
		{"plaintext token", "oauth2-token: Hunter2-secret\n", []string{"use oauth2-token-env", "or oauth2-token-file"}},
		{"misspelt password", "pasword: Hunter2-secret\n", []string{"use password-env", "or password-file"}},
		{"misspelt flag", "resolvr: 127.0.0.1\nfail-onn: warn\n", []string{`line 1: unknown flag "resolvr" (did you mean "resolver"?)`, `line 2: unknown flag "fail-onn" (did you mean "fail-on"?)`}},
		{"flag the command lacks", "dns:\n  tls: starttls\n", []string{`dns: unknown flag "tls"`}},
		{"not a command", "smtp chek:\n  tls: none\n", []string{`"smtp chek" is not a mailprobe command`}},
		{"not YAML", "tls: [\n", []string{"config"}},
	}
	for _, c := range cases {
		r := run(t, nil, "smtp", "check", "mx.test", "--no-ptr", "--config", writeConfig(t, c.body))
		if r.code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s", c.name, r.code, r.errOut)
		}
		for _, w := range c.want {
			if !strings.Contains(r.errOut, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", c.name, w, r.errOut)
			}
		}
		if strings.Contains(r.errOut+r.out, "Hunter2-secret") {
			t.Errorf("%s: the password was printed", c.name)
		}
	}
	if r := run(t, nil, "dns", "example.com", "--config", "/nonexistent/mailprobe.yaml"); r.code != 2 || !strings.Contains(r.errOut, "no such file") {
		t.Errorf("missing --config: exit %d %q", r.code, r.errOut)
	}
	if r := run(t, map[string]string{"MAILPROBE_TIMEOUT": "soon"}, "smtp", "check", "mx.test", "--no-ptr"); r.code != 2 || !strings.Contains(r.errOut, "--timeout from MAILPROBE_TIMEOUT") {
		t.Errorf("bad MAILPROBE_TIMEOUT: exit %d %q", r.code, r.errOut)
	}
}

// A run builds only the command it names (plainCommand), but the config
// file is shared by all: a top-level key or a section that only another
// command has is valid, and a misspelt one is still caught.
func TestConfigNamesOtherCommands(t *testing.T) {
	cfg := writeConfig(t, `
imap-user: reader@example.com
accounts: ['*@example.org']
from: top@example.com
to: rcpt@example.net
reset send:
  imap-user: section@example.com
smtp send:
  oauth2-token-cmd: print-my-token --account ci
imap audit:
  user: someone
`)
	o, _ := parsed(t, nil, "smtp", "check", "mx.test", "--no-ptr", "--config", cfg)
	if got := o.(smtpprobe.Options).MailFrom; got != "top@example.com" {
		t.Errorf("from = %q, want the config's top@example.com", got)
	}
	bad := writeConfig(t, "imap-usr: x\nreset sned:\n  to: a@b.c\n")
	r := run(t, nil, "smtp", "check", "mx.test", "--no-ptr", "--config", bad)
	if r.code != 2 || !strings.Contains(r.errOut, `did you mean "imap-user"`) || !strings.Contains(r.errOut, `"reset sned" is not a mailprobe command`) {
		t.Errorf("misspelt config: exit %d, stderr %q", r.code, r.errOut)
	}
}
