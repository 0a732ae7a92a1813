package report

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func init() {
	Register(Code{Code: "test.thing.bad", Severity: Fail, Title: "Thing is bad", Fix: "Fix it", Refs: []string{"RFC 1"}},
		Code{Code: "test.thing.meh", Severity: Warn, Title: "Thing is meh"},
		Code{Code: "test.thing.fyi", Severity: Info, Title: "Thing noted"})
}

func TestNew_FillsFromRegistry(t *testing.T) {
	f := New("test.thing.bad", "ehlo", "detail")
	if f.Severity != Fail || f.Title != "Thing is bad" || f.Fix != "Fix it" || f.Refs[0] != "RFC 1" || f.Stage != "ehlo" {
		t.Fatalf("%+v", f)
	}
	u := New("test.unknown.code", "x", "")
	if u.Severity != Fail || !strings.Contains(u.Title, "unregistered") {
		t.Fatalf("unregistered: %+v", u)
	}
}

func TestRegister_RejectsBadCodes(t *testing.T) {
	for _, bad := range []string{"nodot", "Upper.case", "a..b", "a.b c"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%q accepted", bad)
				}
			}()
			Register(Code{Code: bad, Title: "x"})
		}()
	}
}

func TestExitCode_Contract(t *testing.T) {
	r := NewReport("t", "x", time.Unix(0, 0))
	if r.ExitCode(Fail) != ExitOK {
		t.Fatal("empty report should exit 0")
	}
	r.Add(New("test.thing.meh", "s", ""))
	if r.ExitCode(Fail) != ExitOK || r.ExitCode(Warn) != ExitFindings || r.ExitCode(Info) != ExitFindings {
		t.Fatal("warn finding vs --fail-on")
	}
	r.Add(New("test.thing.bad", "s", ""))
	if r.ExitCode(Fail) != ExitFindings {
		t.Fatal("fail finding must exit 1")
	}
	r.AddStage(Stage{Name: "connect", Status: StatusError})
	if r.ExitCode(Fail) != ExitIncomplete {
		t.Fatal("an errored stage must exit 3")
	}
}

func TestSortFindings_WorstFirstThenStageOrder(t *testing.T) {
	r := NewReport("t", "x", time.Unix(0, 0))
	r.AddStage(Stage{Name: "a"})
	r.AddStage(Stage{Name: "b"})
	r.Add(New("test.thing.fyi", "a", "1"), New("test.thing.bad", "b", "2"), New("test.thing.meh", "b", "3"), New("test.thing.bad", "a", "4"))
	r.SortFindings()
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.Detail)
	}
	if strings.Join(got, ",") != "4,2,3,1" {
		t.Fatalf("order %v", got)
	}
}

// A nested stage ("imap:143/capability" under audit's port stage
// "imap:143") ranks with its parent; an unknown stage still ranks last.
func TestSortFindings_nestedStagesRankWithTheirParent(t *testing.T) {
	r := NewReport("t", "x", time.Unix(0, 0))
	r.AddStage(Stage{Name: "a:1"})
	r.AddStage(Stage{Name: "b:2"})
	r.Add(New("test.thing.bad", "zzz/x", "1"), New("test.thing.bad", "b:2/x", "2"), New("test.thing.bad", "a:1/y", "3"), New("test.thing.bad", "a:1", "4"))
	r.SortFindings()
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.Detail)
	}
	if strings.Join(got, ",") != "3,4,2,1" {
		t.Fatalf("order %v", got)
	}
}

func TestJSON_SchemaAndMillis(t *testing.T) {
	r := NewReport("smtp check", "h:25", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	r.Duration = 1500 * time.Microsecond
	r.AddStage(Stage{Name: "connect", Status: StatusOK, Start: time.Millisecond, Duration: 2500 * time.Microsecond})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["schema_version"].(float64) != 1 || m["duration_ms"].(float64) != 1.5 {
		t.Fatalf("%s", b)
	}
	st := m["stages"].([]any)[0].(map[string]any)
	if st["duration_ms"].(float64) != 2.5 || st["start_ms"].(float64) != 1 {
		t.Fatalf("stage %v", st)
	}
	if _, ok := m["findings"].([]any); !ok {
		t.Fatalf("findings must be an array, got %s", b)
	}
}

func TestSeverity_RoundTrip(t *testing.T) {
	for _, s := range []Severity{Pass, Info, Warn, Fail} {
		b, _ := json.Marshal(s)
		var back Severity
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Fatalf("%v -> %s -> %v %v", s, b, back, err)
		}
	}
	if _, err := ParseSeverity("bogus"); err == nil {
		t.Fatal("bogus severity accepted")
	}
}

func TestFindingsDoc_ListsCodes(t *testing.T) {
	doc := FindingsDoc()
	if !strings.Contains(doc, "| <a id=\"test.thing.bad\"></a>`test.thing.bad` | fail | Thing is bad | Fix it | RFC 1 |") || !strings.Contains(doc, "## test") {
		t.Fatalf("doc:\n%s", doc)
	}
}

func TestMergeExit(t *testing.T) {
	ok := NewReport("x", "a", time.Time{})
	warn := NewReport("x", "b", time.Time{})
	warn.Add(Finding{Code: "a.b", Severity: Warn})
	broken := NewReport("x", "c", time.Time{})
	broken.Incomplete = true
	stopped := NewReport("x", "d", time.Time{})
	stopped.AddStage(Stage{Name: "banner", Status: StatusInterrupted})
	for _, c := range []struct {
		reps   []*Report
		failOn Severity
		want   int
	}{
		{nil, Fail, ExitOK},
		{[]*Report{ok, nil}, Fail, ExitOK},
		{[]*Report{ok, warn}, Fail, ExitOK},
		{[]*Report{ok, warn}, Warn, ExitFindings},
		{[]*Report{warn, broken, ok}, Warn, ExitIncomplete},
		{[]*Report{broken, warn}, Warn, ExitIncomplete},
		{[]*Report{ok, stopped, broken}, Fail, ExitInterrupted},
	} {
		if got := MergeExit(c.reps, c.failOn); got != c.want {
			t.Errorf("%d reports, fail-on %v: %d, want %d", len(c.reps), c.failOn, got, c.want)
		}
	}
}

func TestClip(t *testing.T) {
	if got := Clip("short", 8); got != "short" {
		t.Errorf("Clip(short) = %q", got)
	}
	s := strings.Repeat("a", 9) + "é" + strings.Repeat("b", 100)
	if got, want := Clip(s, 10), strings.Repeat("a", 9)+"… (111 bytes)"; got != want {
		t.Errorf("Clip = %q, want %q", got, want)
	}
	f := New("x.y", "s", "").WithRecord(strings.Repeat("r", 5000))
	if e := f.Evidence[0].Text; len(e) > MaxRecordEvidence+20 || !strings.HasSuffix(e, "(5000 bytes)") {
		t.Errorf("WithRecord kept %d bytes: %.40q", len(e), e)
	}
}

// FuzzClip: the clip of valid UTF-8 stays valid UTF-8, keeps at most n
// bytes of the text, and is the text itself when short enough.
func FuzzClip(f *testing.F) {
	f.Add("héllo wörld", 3)
	f.Add(strings.Repeat("€", 100), 10)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		got := Clip(s, n)
		if len(s) <= n {
			if got != s {
				t.Fatalf("Clip(%q, %d) = %q", s, n, got)
			}
			return
		}
		kept, _, ok := strings.Cut(got, "… (")
		if !ok || len(kept) > n || !strings.HasPrefix(s, kept) {
			t.Fatalf("Clip(%q, %d) = %q", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Clip(%q, %d) = %q: invalid UTF-8", s, n, got)
		}
	})
}

// Lists in facts come out as [], never null, however deep; nil pointers
// stay null; the caller's values are not changed.
func TestJSON_emptyListsInFacts(t *testing.T) {
	type inner struct {
		Names []string           `json:"names"`
		Sub   map[string][]int   `json:"sub"`
		Ptr   *struct{ X []int } `json:"ptr"`
		At    time.Time          `json:"at"`
	}
	in := &inner{Sub: map[string][]int{"a": nil}}
	r := NewReport("x", "y", time.Unix(0, 0))
	r.SetFact("list", []string(nil))
	r.SetFact("inner", in)
	r.SetFact("values", []inner{{}})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"list":[]`, `"names":[]`, `"sub":{"a":[]}`, `"ptr":null`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b)
		}
	}
	if in.Names != nil || in.Sub["a"] != nil {
		t.Error("the caller's facts were modified")
	}
}
