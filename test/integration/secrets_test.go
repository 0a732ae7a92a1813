//go:build integration

package integration

import (
	"encoding/base64"
	"strings"
	"testing"
)

// secretForms are the ways a password can leak: as is, in every base64
// alphabet with and without padding, and inside the SASL PLAIN message
// (RFC 4616: authzid NUL authcid NUL passwd) with and without an authzid.
func secretForms(user, pass string) map[string]string {
	forms := map[string]string{"password": pass}
	encs := map[string]*base64.Encoding{
		"std": base64.StdEncoding, "raw": base64.RawStdEncoding,
		"url": base64.URLEncoding, "rawurl": base64.RawURLEncoding,
	}
	for name, enc := range encs {
		forms["base64-"+name+"(password)"] = enc.EncodeToString([]byte(pass))
		forms["base64-"+name+"(PLAIN \\0user\\0pass)"] = enc.EncodeToString([]byte("\x00" + user + "\x00" + pass))
		forms["base64-"+name+"(PLAIN user\\0user\\0pass)"] = enc.EncodeToString([]byte(user + "\x00" + user + "\x00" + pass))
	}
	return forms
}

// wantNoSecrets fails when any form of any password appears in stdout or
// stderr.
func wantNoSecrets(t *testing.T, r *Result, user string, passwords ...string) {
	t.Helper()
	for _, p := range passwords {
		for name, form := range secretForms(user, p) {
			for stream, out := range map[string]string{"stdout": r.Stdout, "stderr": r.Stderr} {
				if i := strings.Index(out, form); i >= 0 {
					lo, hi := max(0, i-80), min(len(out), i+len(form)+80)
					t.Errorf("%s of %q found in %s: …%s…", name, p, stream, out[lo:hi])
				}
			}
		}
	}
}

// Every command that takes credentials, in every output format, with the
// transcript on: no password, nor any base64 form of it, is ever printed.
// Successful and failed logins, PLAIN and LOGIN, STARTTLS and implicit TLS,
// passwords from an environment variable, a file and the command line.
func TestSecrets_neverPrinted(t *testing.T) {
	// Distinctive wrong passwords, each from a different source.
	const wrongEnv, wrongFile, wrongFlag = "Leak-Env-9c41f7", "Leak-File-3b8e20", "Leak-Flag-d05a66"
	wrongFilePath := writeFile(t, "pw", wrongFile+"\n")
	goodFilePath := writeFile(t, "pw-good", E.Pass1+"\n")
	sub, subs := E.Addr(E.SubmissionPort), E.Addr(E.SubmissionsPort)
	tlsArgs := E.TLSArgs()

	type tc struct {
		name      string
		args      []string
		env       []string
		user      string
		passwords []string
	}
	cases := []tc{
		{"check-plain-env", []string{"smtp", "check", sub, "--role", "submission", "--user", E.User1, "--password-env", "MP_IT_PASS1"}, nil, E.User1, []string{E.Pass1}},
		{"check-login-file", []string{"smtp", "check", sub, "--role", "submission", "--auth-mech", "LOGIN", "--user", E.User1, "--password-file", goodFilePath}, nil, E.User1, []string{E.Pass1}},
		{"check-implicit-flag", []string{"smtp", "check", subs, "--tls", "implicit", "--role", "submission", "--user", E.User1, "--password", E.Pass1}, nil, E.User1, []string{E.Pass1}},
		{"check-wrong-env", []string{"smtp", "check", sub, "--role", "submission", "--user", E.User1, "--password-env", "MP_IT_WRONG"}, []string{"MP_IT_WRONG=" + wrongEnv}, E.User1, []string{wrongEnv}},
		{"check-wrong-login-file", []string{"smtp", "check", sub, "--role", "submission", "--auth-mech", "LOGIN", "--user", E.User1, "--password-file", wrongFilePath}, nil, E.User1, []string{wrongFile}},
		{"check-wrong-flag-implicit", []string{"smtp", "check", subs, "--tls", "implicit", "--role", "submission", "--user", E.User1, "--password", wrongFlag}, nil, E.User1, []string{wrongFlag}},
		{"send-plain-env", []string{"smtp", "send", sub, "--user", E.User1, "--password-env", "MP_IT_PASS1", "--from", E.User1, "--to", E.User1, "--subject", "secrets"}, nil, E.User1, []string{E.Pass1}},
		{"send-wrong-flag", []string{"smtp", "send", subs, "--tls", "implicit", "--require-tls", "--user", E.User1, "--password", wrongFlag, "--from", E.User1, "--to", E.User1}, nil, E.User1, []string{wrongFlag}},
		{"reset-smtp-and-imap", []string{"reset", "send", "--smtp", sub, "--user", E.User1, "--password-env", "MP_IT_PASS1", "--from", E.User1, "--to", E.User2,
			"--imap", E.Addr(E.IMAPSPort), "--imap-servername", E.ServerName, "--imap-password-env", "MP_IT_PASS2", "--wait", "20s", "--cleanup"}, nil, E.User2, []string{E.Pass1, E.Pass2}},
		{"reset-wrong-imap", []string{"reset", "send", "--smtp", sub, "--user", E.User1, "--password-env", "MP_IT_PASS1", "--from", E.User1, "--to", E.User2,
			"--imap", E.Addr(E.IMAPSPort), "--imap-servername", E.ServerName, "--imap-password-env", "MP_IT_WRONG", "--wait", "5s"}, []string{"MP_IT_WRONG=" + wrongEnv}, E.User2, []string{E.Pass1, wrongEnv}},
	}
	for _, c := range cases {
		for _, format := range []string{"text", "json", "junit", "sarif"} {
			t.Run(c.name+"/"+format, func(t *testing.T) {
				t.Parallel()
				args := append(append(append([]string{}, c.args...), tlsArgs...), "--format", format, "-v")
				r := RunWith(t, RunOptions{Env: c.env}, args...)
				if r.Code != 0 && r.Code != 1 && r.Code != 3 {
					t.Fatalf("exit %d: the command did not run\n%s", r.Code, r)
				}
				// Both users' names are checked: PLAIN carries the user
				// that logs in, which differs per protocol in reset send.
				wantNoSecrets(t, r, E.User1, c.passwords...)
				wantNoSecrets(t, r, E.User2, c.passwords...)
				// Each case really sends a password, so a redacted client
				// line proves the test is not vacuous.
				switch format {
				case "text":
					if !strings.Contains(r.Stdout, "<redacted>") {
						t.Errorf("text -v transcript shows no <redacted> line: was the password sent?\n%s", r)
					}
				case "json":
					rep := r.JSON(t)
					n := 0
					for _, e := range rep.Transcript {
						if e.Dir == "C" && e.Redacted {
							n++
						}
					}
					if n == 0 {
						t.Errorf("JSON transcript has no redacted client line: was the password sent? stages %s", rep.StageList())
					}
				}
			})
		}
	}
}
