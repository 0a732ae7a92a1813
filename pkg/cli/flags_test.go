package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/dialogue"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/imapaudit"
	"github.com/mailprobe/mailprobe/pkg/iostreams"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/resetmail"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
	"github.com/mailprobe/mailprobe/pkg/tlsprobe"
)

// parsed runs mailprobe up to the engine call and returns the Options the
// engine would have been given: flag parsing tested apart from running,
// with no server and no DNS.
func parsed(t *testing.T, vars map[string]string, args ...string) (opts any, stderr string) {
	t.Helper()
	io, _, _, errOut := iostreams.Test()
	io.Getenv = func(k string) string { return vars[k] }
	env := &Env{IO: io, inspect: func(o any) { opts = o }}
	if code := Main(args, env); code != 0 || opts == nil {
		t.Fatalf("mailprobe %s: exit %d, no options reached the engine\n%s", strings.Join(args, " "), code, errOut)
	}
	return opts, errOut.String()
}

// wantNotice checks stderr is exactly one line naming old and its
// replacement.
func wantNotice(t *testing.T, stderr, old, replacement string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], old+" is deprecated") || !strings.Contains(lines[0], replacement) {
		t.Errorf("want one line saying %s is deprecated in favour of %s, got %q", old, replacement, stderr)
	}
}

func wantQuiet(t *testing.T, stderr string) {
	t.Helper()
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
}

func TestFlags_smtpCheckVocabulary(t *testing.T) {
	base := []string{"smtp", "check", "mx.test", "--no-ptr"}
	for _, tc := range []struct {
		name        string
		args        []string
		old, newer  string // the deprecated spelling and what replaces it; "" for a new spelling
		from        string
		to          []string
		mode        netx.TLSMode
		requireTLS  bool
		role        smtpprobe.Role
		implicitTLS bool
	}{
		{name: "new envelope", args: []string{"--from", "a@x.test", "--to", "b@y.test", "--to", "c@y.test"}, from: "a@x.test", to: []string{"b@y.test", "c@y.test"}, mode: netx.TLSAuto},
		{name: "--mail-from", args: []string{"--mail-from", "a@x.test", "--to", "b@y.test"}, old: "--mail-from", newer: "--from", from: "a@x.test", to: []string{"b@y.test"}, mode: netx.TLSAuto},
		{name: "--rcpt-to", args: []string{"--rcpt-to", "b@y.test", "--rcpt-to", "c@y.test"}, old: "--rcpt-to", newer: "--to", to: []string{"b@y.test", "c@y.test"}, mode: netx.TLSAuto},
		{name: "--tls implicit", args: []string{"--tls", "implicit"}, mode: netx.TLSImplicit, implicitTLS: true},
		{name: "--tls=none", args: []string{"--tls=none"}, mode: netx.TLSNone},
		{name: "--tls starttls --require-tls", args: []string{"--tls", "starttls", "--require-tls"}, mode: netx.TLSStartTLS, requireTLS: true},
		{name: "bare --tls last", args: []string{"--tls"}, old: "--tls without a value", newer: "--tls implicit", mode: netx.TLSImplicit, implicitTLS: true},
		{name: "bare --tls before a flag", args: []string{"--tls", "--role", "submission"}, old: "--tls without a value", newer: "--tls implicit", mode: netx.TLSImplicit, implicitTLS: true, role: smtpprobe.RoleSubmissions},
		{name: "--no-starttls", args: []string{"--no-starttls"}, old: "--no-starttls", newer: "--tls none", mode: netx.TLSNone},
		{name: "--role mx", args: []string{"--role", "mx"}, mode: netx.TLSAuto, role: smtpprobe.RoleMX},
		{name: "--role submission", args: []string{"--role", "submission"}, mode: netx.TLSAuto, role: smtpprobe.RoleSubmission},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, stderr := parsed(t, nil, append(append([]string{}, base...), tc.args...)...)
			opts := o.(smtpprobe.Options)
			if tc.old != "" {
				wantNotice(t, stderr, tc.old, tc.newer)
			} else {
				wantQuiet(t, stderr)
			}
			if opts.MailFrom != tc.from || !reflect.DeepEqual(opts.RcptTo, tc.to) {
				t.Errorf("envelope = %q %q, want %q %q", opts.MailFrom, opts.RcptTo, tc.from, tc.to)
			}
			if opts.TLSMode != tc.mode || opts.RequireTLS != tc.requireTLS || opts.ImplicitTLS != tc.implicitTLS {
				t.Errorf("TLS = %q require %v implicit %v, want %q %v %v", opts.TLSMode, opts.RequireTLS, opts.ImplicitTLS, tc.mode, tc.requireTLS, tc.implicitTLS)
			}
			if opts.Role != tc.role {
				t.Errorf("role = %q, want %q", opts.Role, tc.role)
			}
		})
	}
}

// A bare --tls before the target is the old boolean; the target stays the
// target.
func TestFlags_bareTLSBeforeTarget(t *testing.T) {
	o, stderr := parsed(t, nil, "smtp", "check", "--tls", "mx.test:2465", "--no-ptr")
	opts := o.(smtpprobe.Options)
	if opts.TLSMode != netx.TLSImplicit || opts.Host != "mx.test" || opts.Port != 2465 {
		t.Errorf("got mode %q target %s:%d", opts.TLSMode, opts.Host, opts.Port)
	}
	wantNotice(t, stderr, "--tls without a value", "--tls implicit")
}

func TestFlags_usageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"smtp", "check", "mx.test", "--tls", "sometimes"},
		{"smtp", "check", "mx.test", "--role", "imap"},
		{"smtp", "check", "mx.test", "--from", "a@x.test"}, // a probe sender needs a recipient
		{"smtp", "send", "mx.test", "--from", "a@x.test", "--to", "b@y.test", "--tls-mode", "sometimes"},
		{"tls", "mail.test:993", "--tls", "none"},
		{"tls", "mail.test:993", "--starttls", "ftp"},
		{"tls", "mail.test", "--tls", "implicit"}, // implicit TLS needs a port
		{"imap", "audit", "mail.test", "--tls", "maybe"},
		{"reset", "send", "--smtp", "mx.test", "--from", "a@x.test", "--to", "b@y.test", "--imap-tls", "ssl3"},
		{"capture", "--format", "junit"},
	} {
		r := run(t, nil, args...)
		if r.code != 2 || r.out != "" {
			t.Errorf("%v: exit %d, stdout %q; want 2 and nothing", args, r.code, r.out)
		}
	}
}

func TestFlags_smtpSend(t *testing.T) {
	base := []string{"smtp", "send", "mx.test", "--no-ptr", "--from", "Alice <a@x.test>", "--to", "b@y.test"}
	for _, tc := range []struct {
		args       []string
		old        string
		mode       netx.TLSMode
		requireTLS bool
	}{
		{nil, "", netx.TLSAuto, false},
		{[]string{"--tls", "implicit"}, "", netx.TLSImplicit, false},
		{[]string{"--tls", "starttls", "--require-tls"}, "", netx.TLSStartTLS, true},
		{[]string{"--tls-mode", "required"}, "--tls-mode", netx.TLSStartTLS, true},
		{[]string{"--tls-mode", "implicit"}, "--tls-mode", netx.TLSImplicit, true},
		{[]string{"--tls-mode", "none"}, "--tls-mode", netx.TLSNone, false},
	} {
		o, stderr := parsed(t, nil, append(append([]string{}, base...), tc.args...)...)
		opts := o.(smtpprobe.Options)
		if tc.old != "" {
			wantNotice(t, stderr, tc.old, "--tls")
		} else {
			wantQuiet(t, stderr)
		}
		if opts.MailFrom != "a@x.test" || !reflect.DeepEqual(opts.RcptTo, []string{"b@y.test"}) || opts.Message == nil {
			t.Errorf("%v: envelope %q %q, message %d bytes", tc.args, opts.MailFrom, opts.RcptTo, len(opts.Message))
		}
		if opts.TLSMode != tc.mode || opts.RequireTLS != tc.requireTLS {
			t.Errorf("%v: TLS %q require %v, want %q %v", tc.args, opts.TLSMode, opts.RequireTLS, tc.mode, tc.requireTLS)
		}
	}
}

func TestFlags_shellAndScript(t *testing.T) {
	o, stderr := parsed(t, nil, "smtp", "shell", "mx.test", "--tls")
	if so := o.(dialogue.ShellOptions); so.TLSMode != netx.TLSImplicit || !so.ImplicitTLS {
		t.Errorf("shell --tls: mode %q implicit %v", so.TLSMode, so.ImplicitTLS)
	}
	wantNotice(t, stderr, "--tls without a value", "--tls implicit")
	o, stderr = parsed(t, nil, "smtp", "shell", "mx.test:2525", "--tls", "none")
	if so := o.(dialogue.ShellOptions); so.TLSMode != netx.TLSNone || so.ImplicitTLS {
		t.Errorf("shell --tls none: mode %q implicit %v", so.TLSMode, so.ImplicitTLS)
	}
	wantQuiet(t, stderr)

	script := filepath.Join("..", "..", "testdata", "scripts", "plain-send.script")
	o, stderr = parsed(t, nil, "smtp", "script", script, "mx.test:2465", "--var", "FROM=a@x.test", "--var", "TO=b@y.test", "--tls", "implicit")
	if ro := o.(dialogue.RunOptions); ro.TLSMode != netx.TLSImplicit || ro.Port != 2465 {
		t.Errorf("script --tls implicit: mode %q port %d", ro.TLSMode, ro.Port)
	}
	wantQuiet(t, stderr)
}

func TestFlags_tls(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		old   string
		proto tlsprobe.Proto
		role  tlsprobe.Role
		port  int
	}{
		{[]string{"mail.test:10993", "--tls", "implicit"}, "", tlsprobe.ProtoNone, "", 10993},
		{[]string{"mail.test:10143", "--tls", "starttls", "--role", "imap"}, "", tlsprobe.ProtoIMAP, tlsprobe.RoleIMAP, 10143},
		{[]string{"mail.test:10110", "--tls", "starttls", "--role", "pop3"}, "", tlsprobe.ProtoPOP3, tlsprobe.RolePOP3, 10110},
		{[]string{"mail.test:2587", "--tls", "starttls", "--role", "submission"}, "", tlsprobe.ProtoSMTP, tlsprobe.RoleSubmission, 2587},
		{[]string{"mail.test:2587"}, "", tlsprobe.ProtoAuto, "", 2587},
		{[]string{"mail.test"}, "", tlsprobe.ProtoAuto, "", 25},
		{[]string{"mail.test:10143", "--starttls", "imap"}, "--starttls", tlsprobe.ProtoIMAP, "", 10143},
		{[]string{"mail.test:10993", "--starttls", "none"}, "--starttls", tlsprobe.ProtoNone, "", 10993},
	} {
		o, stderr := parsed(t, nil, append([]string{"tls"}, tc.args...)...)
		opts := o.(tlsprobe.Options)
		if tc.old != "" {
			wantNotice(t, stderr, tc.old, "--tls")
		} else {
			wantQuiet(t, stderr)
		}
		if opts.StartTLS != tc.proto || opts.Role != tc.role || opts.Port != tc.port {
			t.Errorf("%v: proto %q role %q port %d, want %q %q %d", tc.args, opts.StartTLS, opts.Role, opts.Port, tc.proto, tc.role, tc.port)
		}
	}
}

func TestFlags_tlsNoVulns(t *testing.T) {
	o, _ := parsed(t, nil, "tls", "mail.test:993", "--no-vulns")
	if !o.(tlsprobe.Options).NoVulns {
		t.Error("--no-vulns did not reach the engine")
	}
	o, _ = parsed(t, nil, "tls", "mail.test:993")
	if o.(tlsprobe.Options).NoVulns {
		t.Error("the vulnerability checks are off by default")
	}
}

func TestFlags_mailboxAudits(t *testing.T) {
	for _, proto := range []string{"imap", "pop3"} {
		o, stderr := parsed(t, nil, proto, "audit", "mail.test", "--port", "10993", "--tls", "implicit")
		opts := o.(imapaudit.Options)
		if opts.TLSMode != netx.TLSImplicit || !reflect.DeepEqual(opts.Ports, []int{10993}) || string(opts.Protocol) != proto {
			t.Errorf("%s audit: mode %q ports %v protocol %q", proto, opts.TLSMode, opts.Ports, opts.Protocol)
		}
		wantQuiet(t, stderr)
	}
}

func TestFlags_resetSend(t *testing.T) {
	vars := map[string]string{"IMAP_PW": "secret-imap"}
	base := []string{"reset", "send", "--smtp", "smtp.test:2465", "--from", "a@x.test", "--to", "b@y.test",
		"--imap", "imap.test:10143", "--imap-password-env", "IMAP_PW"}
	o, stderr := parsed(t, vars, append(base, "--tls", "implicit", "--require-tls", "--imap-tls", "starttls")...)
	ro := o.(resetmail.Options)
	if ro.SMTP.TLSMode != netx.TLSImplicit || !ro.SMTP.RequireTLS || ro.IMAP.TLS != "starttls" {
		t.Errorf("smtp mode %q require %v, imap %q", ro.SMTP.TLSMode, ro.SMTP.RequireTLS, ro.IMAP.TLS)
	}
	wantQuiet(t, stderr)

	o, stderr = parsed(t, vars, append(base, "--tls")...)
	ro = o.(resetmail.Options)
	if ro.SMTP.TLSMode != netx.TLSImplicit || ro.IMAP.TLS != "" {
		t.Errorf("bare --tls: smtp mode %q, imap %q (want implicit, and the IMAP port to decide)", ro.SMTP.TLSMode, ro.IMAP.TLS)
	}
	wantNotice(t, stderr, "--tls without a value", "--tls implicit")
}

func TestFlags_captureFormat(t *testing.T) {
	o, stderr := parsed(t, nil, "capture", "--json")
	if co := o.(*captureOptions); co.Format != "json" {
		t.Errorf("--json: format %q", co.Format)
	}
	wantNotice(t, stderr, "--json", "--format json")
	o, stderr = parsed(t, nil, "capture", "--format", "json")
	if co := o.(*captureOptions); co.Format != "json" {
		t.Errorf("--format json: format %q", co.Format)
	}
	wantQuiet(t, stderr)
}

func TestFlags_dnsEnvelope(t *testing.T) {
	for _, flag := range []string{"--from", "--sender"} {
		o, stderr := parsed(t, nil, "spf", "example.test", "--ip", "192.0.2.1", flag, "bounce@example.test")
		if so := o.(dnsauth.SPFOptions); so.Sender != "bounce@example.test" {
			t.Errorf("spf %s: sender %q", flag, so.Sender)
		}
		o, stderr2 := parsed(t, nil, "dns", "example.test", "--ip", "192.0.2.1", flag, "bounce@example.test")
		if ao := o.(dnsauth.AuditOptions); ao.Sender != "bounce@example.test" {
			t.Errorf("dns %s: sender %q", flag, ao.Sender)
		}
		if flag == "--sender" {
			wantNotice(t, stderr, "--sender", "--from")
			wantNotice(t, stderr2, "--sender", "--from")
		} else {
			wantQuiet(t, stderr+stderr2)
		}
	}
	msg := filepath.Join(t.TempDir(), "m.eml")
	if err := os.WriteFile(msg, []byte("From: a@example.test\r\nSubject: x\r\n\r\nhello\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--from", "--mail-from"} {
		o, stderr := parsed(t, nil, "dmarc", "--message", msg, "--ip", "192.0.2.1", flag, "bounce@example.test")
		if do := o.(dnsauth.DMARCOptions); do.MailFrom != "bounce@example.test" {
			t.Errorf("dmarc %s: mail from %q", flag, do.MailFrom)
		}
		if flag == "--mail-from" {
			wantNotice(t, stderr, "--mail-from", "--from")
		} else {
			wantQuiet(t, stderr)
		}
	}
}

// A suite repeating an old spelling says so once, not once per line.
func TestFlags_noticeOncePerRun(t *testing.T) {
	io, _, _, errOut := iostreams.Test()
	env := &Env{IO: io, inspect: func(any) {}}
	env.notices = &noticeSet{seen: map[string]bool{}}
	for i := 0; i < 3; i++ {
		root := NewRootCmd(env)
		root.SetArgs(legacyArgs(env, []string{"smtp", "check", "mx.test", "--no-ptr", "--rcpt-to", "b@y.test"}))
		root.SetOut(discard{})
		root.SetErr(discard{})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
	}
	wantNotice(t, errOut.String(), "--rcpt-to", "--to")
}

func TestFlags_oldSpellingsHiddenFromHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		old  []string
	}{
		{[]string{"smtp", "check", "--help"}, []string{"--mail-from", "--rcpt-to", "--no-starttls"}},
		{[]string{"smtp", "send", "--help"}, []string{"--tls-mode"}},
		{[]string{"tls", "--help"}, []string{"--starttls"}},
		{[]string{"spf", "--help"}, []string{"--sender"}},
		{[]string{"capture", "--help"}, []string{"--json"}},
	} {
		r := run(t, nil, tc.args...)
		for _, old := range tc.old {
			if strings.Contains(r.out, old+" ") {
				t.Errorf("%v shows the deprecated %s", tc.args, old)
			}
		}
		if !strings.Contains(r.out, "--") || r.code != 0 {
			t.Errorf("%v: exit %d\n%s", tc.args, r.code, r.out)
		}
	}
}

func TestFlags_valuesComplete(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"smtp", "check", "mx.test", "--tls", ""}, netx.TLSModes},
		{[]string{"imap", "audit", "mail.test", "--tls", ""}, netx.TLSModes},
		{[]string{"reset", "send", "--imap-tls", ""}, netx.TLSModes},
		{[]string{"smtp", "check", "mx.test", "--format", ""}, []string{"text", "json", "junit", "sarif"}},
		{[]string{"smtp", "check", "mx.test", "--fail-on", ""}, []string{"info", "warn", "fail"}},
		{[]string{"smtp", "check", "mx.test", "--role", ""}, []string{"mx", "submission"}},
		{[]string{"tls", "mail.test", "--role", ""}, []string{"mx", "submission", "imap", "pop3"}},
		{[]string{"capture", "--format", ""}, []string{"text", "json"}},
	} {
		r := run(t, nil, append([]string{"__complete"}, tc.args...)...)
		got := strings.Fields(strings.Split(r.out, ":")[0])
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: completions %q, want %q", tc.args, got, tc.want)
		}
	}
}
