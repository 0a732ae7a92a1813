package suite

import (
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
		{Name: "mx", Args: []string{"smtp", "check", "mx.example.com:25", "--timeout", "20s"}},
		{Name: "dns example.com --timeout", Args: []string{"dns", "example.com", "--timeout", "5s"}},
	}
	if s.Parallel != 2 || !reflect.DeepEqual(runs, want) {
		t.Errorf("parallel %d, runs %q", s.Parallel, runs)
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
