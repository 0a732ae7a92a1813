package dialogue

import (
	"errors"
	"github.com/mailprobe/mailprobe/pkg/smtpclient"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/report"
)

const examplesDir = "../../testdata/scripts"

func exampleFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.script"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("want at least 8 example scripts in %s, found %d", examplesDir, len(files))
	}
	return files
}

func mustParse(t testing.TB, src string) *Script {
	t.Helper()
	sc, err := ParseScript("test.script", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
	return sc
}

// Every example parses, binds with the variables its header names, and
// documents how to run it.
func TestExampleScripts_Parse(t *testing.T) {
	for _, f := range exampleFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := ParseScript(f, src)
			if err != nil {
				t.Fatal(err)
			}
			text := string(src)
			if !strings.Contains(text, "# Run") || !strings.Contains(text, "mailprobe smtp script testdata/scripts/"+filepath.Base(f)) {
				t.Errorf("the header must show how to run the script")
			}
			if !strings.Contains(text, "Variables") {
				t.Errorf("the header must name the variables the script needs")
			}
			if !strings.Contains(text, "Against Postfix") {
				t.Errorf("the header must say what to expect against Postfix")
			}
			o := RunOptions{Host: "mx.test.local", User: testUser, Vars: map[string]string{"FROM": "bob@test.local", "TO": "alice@test.local"}}
			if _, err := sc.Bind(o); err != nil {
				t.Fatalf("bind: %v", err)
			}
		})
	}
}

func TestParseScript_Structure(t *testing.T) {
	src := `# comment
default NAME world
connect tls mail.example.com:465
expect 220
ehlo ${HELO}
if-capability !AUTH PLAIN
  note no PLAIN
else
  auth PLAIN as ${USER} else warn "no login"
end
repeat 3
  send NOOP
  expect 250
end
pipeline
  send MAIL FROM:<a@b>
  expect 250
  sendraw RCPT TO:<c@d>\r\n
  expect 2xx|close enhanced 2.1.x /ok/i else info "rcpt"
end
  data <<EOF
  Subject: hi
    indented
  .leading dot
  EOF
expect-close
quit
`
	sc := mustParse(t, src)
	if len(sc.Vars) != 1 || sc.Vars[0].Name != "NAME" || sc.Vars[0].Text != "world" {
		t.Errorf("vars = %+v", sc.Vars)
	}
	kinds := []string{}
	for _, s := range sc.Steps {
		kinds = append(kinds, s.Kind)
	}
	want := "connect expect ehlo if-capability repeat pipeline data expect-close quit"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("steps = %v, want %s", kinds, want)
	}
	c := sc.Steps[0]
	if !c.TLS || c.Text != "mail.example.com:465" || c.Line != 3 {
		t.Errorf("connect = %+v", c)
	}
	ifc := sc.Steps[3]
	if !ifc.Negate || ifc.Name != "AUTH" || ifc.Param != "PLAIN" || len(ifc.Then) != 1 || len(ifc.Otherwise) != 1 || ifc.EndLine != 10 {
		t.Errorf("if-capability = %+v", ifc)
	}
	auth := ifc.Otherwise[0]
	if auth.Name != "PLAIN" || auth.Text != "${USER}" || auth.Else == nil || *auth.Else != report.Warn || auth.Message != "no login" {
		t.Errorf("auth = %+v", auth)
	}
	if sc.Steps[4].Count != 3 || len(sc.Steps[4].Then) != 2 {
		t.Errorf("repeat = %+v", sc.Steps[4])
	}
	pl := sc.Steps[5].Then
	if len(pl) != 4 || pl[3].Expect.Enhanced != "2.1.x" || !pl[3].Expect.Close || pl[3].Expect.Regex == nil || pl[3].Message != "rcpt" {
		t.Errorf("pipeline = %+v / %+v", pl, pl[3].Expect)
	}
	d := sc.Steps[6]
	if d.Terminator != "EOF" || strings.Join(d.Body, "|") != "Subject: hi|  indented|.leading dot" {
		t.Errorf("data body = %q (terminator %q)", d.Body, d.Terminator)
	}
	if q := sc.Steps[8]; q.Else == nil || *q.Else != report.Info {
		t.Errorf("quit should default to else info: %+v", q)
	}
	if sc.UsesAuth() != auth {
		t.Errorf("UsesAuth = %v", sc.UsesAuth())
	}
}

func TestParseScript_Errors(t *testing.T) {
	cases := []struct {
		name, src string
		line      int
		want      string
	}{
		{"unknown step", "connect\nfrobnicate\n", 2, `unknown step "frobnicate"`},
		{"smtp without send", "connect\nMAIL FROM:<a@b>\n", 2, "write send MAIL FROM:<a@b>"},
		{"send before connect", "send NOOP\n", 1, "send before connect"},
		{"expect no code", "connect\nexpect\n", 2, "expect needs a reply code"},
		{"bad code", "connect\nexpect 650\n", 2, `"650" is not a reply code`},
		{"bad code letters", "connect\nexpect abc\n", 2, "is not a reply code"},
		{"spaces around bar", "connect\nexpect 250 | 251\n", 2, "alternatives are joined with |"},
		{"bad enhanced", "connect\nexpect 550 enhanced 5.07\n", 2, "not class.subject.detail"},
		{"bad enhanced class", "connect\nexpect 550 enhanced 3.1.1\n", 2, "class must be 2, 4 or 5"},
		{"bad regex", "connect\nexpect 250 /a(/\n", 2, "regular expression"},
		{"unterminated regex", "connect\nexpect 250 /abc\n", 2, "no closing /"},
		{"regex flag", "connect\nexpect 250 /abc/x\n", 2, "unknown flag"},
		{"else level", "connect\nexpect 250 else maybe\n", 2, "fail, warn or info"},
		{"message not last", "connect\nexpect 250 \"m\" else warn\n", 2, "must come last"},
		{"unterminated message", "connect\nexpect 250 \"m\n", 2, "no closing"},
		{"bad escape", "connect\nsend A\\qB\n", 2, `unknown escape \q`},
		{"bad hex escape", "connect\nsend A\\xZZ\n", 2, `\x needs two hex digits`},
		{"trailing backslash", "connect\nsend A\\\n", 2, "single backslash"},
		{"bad var", "connect\nsend ${1X}\n", 2, "is not a variable name"},
		{"unterminated var", "connect\nsend ${X\n", 2, "unterminated variable"},
		{"empty sendraw", "connect\nsendraw\n", 2, "sendraw needs"},
		{"auth mech", "connect\nauth GSSAPI\n", 2, "unknown AUTH mechanism"},
		{"auth as", "connect\nauth PLAIN as\n", 2, "user name is missing"},
		{"pause bad", "pause soon\n", 1, "not a duration"},
		{"pause long", "pause 11m\n", 1, "between 0 and 10m"},
		{"timeout short", "timeout 1ms\n", 1, "between 10ms"},
		{"repeat zero", "repeat 0\nnote x\nend\n", 1, "from 1 to 100"},
		{"repeat nested", "repeat 100\nrepeat 100\nnote x\nend\nend\n", 2, "limit is 1000"},
		{"unclosed block", "connect\nif-capability AUTH\nnote x\n", 2, "not closed"},
		{"stray end", "connect\nend\n", 2, "end without an open block"},
		{"stray else", "connect\nelse\n", 2, "else outside"},
		{"double else", "connect\nif-reply 250\nelse\nelse\nend\n", 4, "second else"},
		{"else in repeat", "repeat 2\nnote a\nelse\nend\n", 3, "else outside"},
		{"pipeline content", "connect\npipeline\nehlo\nend\n", 3, "only send, sendraw and expect"},
		{"pipeline no send", "connect\npipeline\nexpect 250\nend\n", 2, "no send line"},
		{"data unterminated", "connect\ndata\nSubject: x\n", 2, "not terminated"},
		{"data in pipeline", "connect\npipeline\nsend DATA\ndata\nx\n.\nend\n", 4, "cannot be inside a pipeline"},
		{"body args", "connect\nbody else warn\nx\n.\n", 2, "body takes no arguments"},
		{"default in block", "connect\nif-reply 250\ndefault X y\nend\n", 3, "only allowed outside blocks"},
		{"default name", "default 9X y\n", 1, "is not a variable name"},
		{"capability keyword", "connect\nrequire-capability AU_TH\n", 2, "not an EHLO keyword"},
		{"if-reply else level", "connect\nif-reply 250 else warn\nend\n", 2, "takes no else"},
		{"connect args", "connect tls a b\n", 1, "too many arguments"},
		{"no steps", "# nothing\n", 1, "no steps"},
		{"else with args", "connect\nif-reply 250\nelse warn\nend\n", 3, "stands alone"},
		{"ehlo regex", "connect\nehlo x /y/\n", 2, "takes no /regular expression/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseScript("t.script", []byte(c.src))
			var errs ScriptErrors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("want an error, got %v", err)
			}
			for _, e := range errs {
				if e.Line == c.line && strings.Contains(e.Msg, c.want) {
					if !strings.HasPrefix(e.Error(), "t.script:") {
						t.Errorf("error %q does not name the file", e.Error())
					}
					return
				}
			}
			t.Errorf("want line %d: %q; got:\n%v", c.line, c.want, err)
		})
	}
}

func TestParseScript_ManyErrorsAreBounded(t *testing.T) {
	src := strings.Repeat("bogus line\n", 500)
	_, err := ParseScript("t", []byte(src))
	var errs ScriptErrors
	if !errors.As(err, &errs) || len(errs) != maxErrors {
		t.Fatalf("want %d errors, got %v", maxErrors, err)
	}
	if _, err := ParseScript("t", make([]byte, MaxScriptBytes+1)); err == nil {
		t.Fatal("an oversized script must be refused")
	}
}

func TestParseScript_CRLFAndCase(t *testing.T) {
	sc := mustParse(t, "CONNECT\r\nExpect 220\r\nsend NOOP  \r\ndata\r\nx\r\n.\r\n")
	if sc.Steps[2].Text != "NOOP" {
		t.Errorf("trailing blanks and CR must be trimmed: %q", sc.Steps[2].Text)
	}
	if got := sc.Steps[3].Body; len(got) != 1 || got[0] != "x" {
		t.Errorf("body = %q", got)
	}
}

func TestExpectation_Match(t *testing.T) {
	rp := func(code int, enh string, lines ...string) Outcome {
		return Outcome{Kind: OutcomeReply, Reply: smtpclient.Reply{Code: code, Enhanced: enh, Lines: lines}}
	}
	cases := []struct {
		spec string
		out  Outcome
		want bool
	}{
		{"250", rp(250, "", "ok"), true},
		{"250", rp(251, "", "ok"), false},
		{"25x", rp(251, "", "ok"), true},
		{"2xx|3xx", rp(354, "", "go"), true},
		{"success", rp(221, "", ""), true},
		{"negative", rp(451, "", ""), true},
		{"permanent", rp(451, "", ""), false},
		{"any", rp(599, "", ""), true},
		{"any", Outcome{Kind: OutcomeNone}, false},
		{"none", Outcome{Kind: OutcomeNone}, true},
		{"close", Outcome{Kind: OutcomeClose}, true},
		{"5xx|close", Outcome{Kind: OutcomeClose}, true},
		{"5xx", Outcome{Kind: OutcomeClose}, false},
		{"5xx enhanced 5.7.1", rp(554, "5.7.1", "5.7.1 Relay access denied"), true},
		{"5xx enhanced 5.7.x", rp(554, "5.7.26", "5.7.26 unauthenticated"), true},
		{"5xx enhanced 5.1.x", rp(554, "5.7.1", "5.7.1 x"), false},
		{"5xx enhanced 5.7.1", rp(554, "", "no code here"), false},
		{"5xx enhanced *.7.1", rp(554, "5.7.1", "5.7.1 x"), true},
		{"5xx /relay access/i", rp(554, "5.7.1", "5.7.1 <x>: Relay Access denied"), true},
		{"5xx /^second$/m", rp(550, "", "first", "second"), true},
		{"5xx /^second$/", rp(550, "", "first", "second"), false},
		{"250 /a\\/b/", rp(250, "", "a/b"), true},
	}
	for _, c := range cases {
		sc := mustParse(t, "connect\nexpect "+c.spec+"\n")
		if got := sc.Steps[1].Expect.Match(c.out); got != c.want {
			t.Errorf("expect %s vs %v: got %v, want %v", c.spec, c.out, got, c.want)
		}
	}
}

func TestExpandTemplate(t *testing.T) {
	vars := map[string]string{"A": "x\\ny", "B": "$B"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	cases := []struct {
		in      string
		escapes bool
		want    string
	}{
		{"${A}", true, "x\\ny"}, // values are never unescaped
		{"a\\r\\nb", true, "a\r\nb"},
		{"a\\r\\nb", false, "a\\r\\nb"},
		{"$$ and $x and ${B}", false, "$ and $x and $B"},
		{"\\x00\\x7f\\t\\\\", true, "\x00\x7f\t\\"},
	}
	for _, c := range cases {
		got, err := expandTemplate(c.in, c.escapes, lookup)
		if err != nil || got != c.want {
			t.Errorf("expand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := expandTemplate("${NOPE}", false, lookup); err == nil || !strings.Contains(err.Error(), "--var NOPE=") {
		t.Errorf("undefined variable: %v", err)
	}
	// quoteSend is expandTemplate's inverse.
	for _, s := range []string{"MAIL FROM:<a@b>", " lead", "trail ", "a\\b$c\r\n\x01", "${X}"} {
		got, err := expandTemplate(quoteSend(s), true, lookup)
		if err != nil || got != s {
			t.Errorf("round trip %q: %q, %v", s, got, err)
		}
	}
}

func TestBind(t *testing.T) {
	sc := mustParse(t, `default FROM me@${HELO}
default TO you@example.org
default WAIT 1s
connect
timeout ${WAIT}
send MAIL FROM:<${FROM}> ${TO_DOMAIN} ${FROM_DOMAIN}
`)
	vars, err := sc.Bind(RunOptions{Host: "h", Helo: "client.example", Vars: map[string]string{"TO": "x@given.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if vars["FROM"] != "me@client.example" || vars["TO"] != "x@given.example" || vars["TO_DOMAIN"] != "given.example" || vars["FROM_DOMAIN"] != "client.example" {
		t.Errorf("vars = %v", vars)
	}
	if vars["PORT"] != "25" || vars["HOST"] != "h" || vars["DATE"] == "" || !strings.HasSuffix(vars["MSGID"], "@client.example") {
		t.Errorf("built-ins = %v", vars)
	}

	_, err = sc.Bind(RunOptions{Host: "h", Vars: map[string]string{"WAIT": "forever"}})
	if err == nil || !strings.Contains(err.Error(), "test.script:5:") {
		t.Errorf("a bad duration from --var must be reported at its line: %v", err)
	}

	sc = mustParse(t, "connect\nsend ${MISSING}\nauth PLAIN\n")
	_, err = sc.Bind(RunOptions{Host: "h"})
	if err == nil || !strings.Contains(err.Error(), "test.script:2: ${MISSING} is not set") || !strings.Contains(err.Error(), "test.script:3: auth PLAIN needs a user name") {
		t.Errorf("got %v", err)
	}
}
