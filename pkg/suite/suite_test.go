package suite

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	cases := map[string][]string{
		`smtp check mx.example.com`:                 {"smtp", "check", "mx.example.com"},
		`  a   b  `:                                 {"a", "b"},
		`reset send --from "App <a@b.example>" --x`: {"reset", "send", "--from", "App <a@b.example>", "--x"},
		`a 'it''s' "q\"uote" b\ c`:                  {"a", "its", `q"uote`, "b c"},
		`a ""`:                                      {"a", ""},
	}
	for in, want := range cases {
		got, err := SplitArgs(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`a "b`, `a 'b`, `dns x | tee y`, `dns x; rm -rf /`, "dns `id`"} {
		if _, err := SplitArgs(bad); err == nil {
			t.Errorf("SplitArgs(%q) accepted", bad)
		}
	}
}

func FuzzSplitArgs(f *testing.F) {
	f.Add(`smtp check "a b" 'c' d\ e`)
	f.Fuzz(func(t *testing.T, s string) {
		args, err := SplitArgs(s)
		if err == nil && strings.Trim(s, " \t\n\r\v\f") == "" && len(args) != 0 {
			t.Fatalf("blank line gave %q", args)
		}
	})
}

func TestExpandBraced(t *testing.T) {
	env := map[string]string{"HOST": "mx.example.com"}
	got := ExpandBraced(`smtp send ${HOST} --body 'costs $5 for $HOME'`, func(k string) string { return env[k] })
	if got != `smtp send mx.example.com --body 'costs $5 for $HOME'` {
		t.Errorf("%q", got)
	}
}

func TestLoad(t *testing.T) {
	env := map[string]string{"HOST": "mx.example.com"}
	runs, s, err := Load([]byte(`timeout: 20s
parallel: 2
checks:
  - name: mx
    run: mailprobe smtp check ${HOST}:25
  - dns example.com --timeout 5s
`), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := []Run{
		{Name: "mx", Args: []string{"smtp", "check", "mx.example.com:25", "--timeout", "20s"}, Raw: "mailprobe smtp check ${HOST}:25", Named: true, Line: 5, Number: 1},
		{Name: "dns example.com", Args: []string{"dns", "example.com", "--timeout", "5s"}, Raw: "dns example.com --timeout 5s", Line: 6, Number: 2},
	}
	if s.Parallel != 2 || !reflect.DeepEqual(runs, want) {
		t.Errorf("parallel %d, runs %+v", s.Parallel, runs)
	}
	for in, wantErr := range map[string]string{
		"checks: []\n":                     "no checks",
		"timeout: soon\nchecks: [dns a]\n": "want a duration",
		"chekcs: [dns a]\n":                "chekcs",
		"checks: ['dns a | b']\n":          "not a shell pipeline",
		"checks: ['']\n":                   "empty command",
	} {
		if _, _, err := Load([]byte(in), func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%q: %v, want %q", in, err, wantErr)
		}
	}
}

// A check without a name is named by its command words and target, never
// by the rest of its line (which may hold a password); the file and its
// lines are bounded, and errors never quote a line (issue 15).
func TestLoad_namesAndBounds(t *testing.T) {
	getenv := func(k string) string { return map[string]string{"MPW": "Zq9-secret"}[k] }
	runs, _, err := Load([]byte("checks:\n  - smtp chek mx.example.com --user a --password=${MPW}\n  - smtp check --password x mx\n"), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if runs[0].Name != "smtp chek mx.example.com" || runs[1].Name != "smtp check" || runs[0].Named {
		t.Errorf("names %q, %q", runs[0].Name, runs[1].Name)
	}
	if _, _, err := Load([]byte("checks:\n  - 'smtp check x --password=${MPW} \"'\n"), getenv); err == nil || strings.Contains(err.Error(), "MPW") || strings.Contains(err.Error(), "Zq9") {
		t.Errorf("unterminated quote: %v", err)
	}
	big := "checks:\n  - dns " + strings.Repeat("a", MaxFileSize) + "\n"
	if _, _, err := Load([]byte(big), getenv); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
	long := "checks:\n  - dns " + strings.Repeat("a", MaxLineSize) + "\n"
	if _, _, err := Load([]byte(long), getenv); err == nil || !strings.Contains(err.Error(), "check 1: the line is") || len(err.Error()) > 200 {
		t.Errorf("long line: %.200v", err)
	}
	expands := "checks:\n  - dns ${BIG}\n"
	if _, _, err := Load([]byte(expands), func(string) string { return strings.Repeat("b", MaxLineSize) }); err == nil || !strings.Contains(err.Error(), "once ${VAR}s are replaced") {
		t.Errorf("long expansion: %.200v", err)
	}
	if n := DefaultName([]string{"dns", strings.Repeat("x", 5000)}); len(n) > 100 {
		t.Errorf("name of %d bytes", len(n))
	}
}

// A ${VAR} value with quotes, spaces or dashes stays one argument: the
// split happens before the expansion (a password holding `"` broke the
// line, and a value could add flags).
func TestLoad_expandsAfterSplitting(t *testing.T) {
	getenv := func(k string) string { return map[string]string{"MPW": `Zq9"Se\cr3t Pw --insecure`}[k] }
	runs, _, err := Load([]byte("checks:\n  - smtp check mx --password=${MPW} --user 'a b'\n"), getenv)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"smtp", "check", "mx", `--password=Zq9"Se\cr3t Pw --insecure`, "--user", "a b"}
	if !reflect.DeepEqual(runs[0].Args, want) {
		t.Errorf("args %q", runs[0].Args)
	}
}

// Every problem of a file is listed at once, each with its line, in
// words a user wrote (no Go type names), never quoting a check's line.
func TestLoad_everyProblemWithItsLine(t *testing.T) {
	file := `timeout: soon
parallel: many
checks:
  - dns example.com
  - name: mx
    run: smtp check ${SMTP_HOST}:25 --password=${MPW}
    retries: 3
  - 'smtp check x "'
chekcs: []
`
	_, _, err := Load([]byte(file), func(k string) string { return map[string]string{"MPW": "Zq9-secret"}[k] })
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("err %T %v", err, err)
	}
	want := []string{
		`line 1: timeout "soon": want a duration such as 60s`,
		`line 2: parallel "many": want a number from 1 to 64`,
		`line 6: check 2: ${SMTP_HOST} is not set`,
		`line 7: check 2: unknown key "retries" (known: name, run)`,
		`line 8: check 3: unterminated double quote`,
		`line 9: unknown key "chekcs" (did you mean "checks")`,
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	for _, bad := range []string{"Zq9", "suite.Suite", "cli.", "yaml:"} {
		if strings.Contains(err.Error(), bad) {
			t.Errorf("problems mention %q", bad)
		}
	}
	if _, _, err := Load([]byte("checks:\n  - dns a\n bad indent: [\n"), func(string) string { return "" }); err == nil || !strings.HasPrefix(err.Error(), "line ") {
		t.Errorf("syntax error: %v", err)
	}
}

// Load never panics, and every problem it reports has a message.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{"checks:\n  - dns a\n", "timeout: 1s\nparallel: 2\nchecks:\n  - name: x\n    run: smtp check ${H}:25\n", "chekcs: [1]\n", "checks: {a: b}\n", "- a\n", "checks:\n  - [1, 2]\n  - {name: [x]}\n", "\xff: \x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, err := Load(b, func(k string) string { return "v" })
		var ps Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				if p.Msg == "" {
					t.Fatalf("empty problem in %v", ps)
				}
			}
		}
	})
}
