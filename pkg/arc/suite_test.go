package arc

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// suiteTest is one validation test of the ARC test suite
// (testdata/arc-draft-validation-tests.yml, ValiMail, MIT licence).
type suiteTest struct {
	scenario, name string
	message        string
	cv             string
	txt            map[string]string
}

// loadSuite reads every scenario. Tests are read from the YAML nodes, not
// a map: a few names appear twice in one scenario, and both run.
func loadSuite(t *testing.T) []suiteTest {
	t.Helper()
	b, err := os.ReadFile("testdata/arc-draft-validation-tests.yml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	var out []suiteTest
	for n := 0; ; n++ {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("scenario %d: %v", n, err)
		}
		root := doc.Content[0]
		var tests *yaml.Node
		txt := map[string]string{}
		desc := ""
		for i := 0; i+1 < len(root.Content); i += 2 {
			switch root.Content[i].Value {
			case "tests":
				tests = root.Content[i+1]
			case "txt-records", "txt_records":
				m := root.Content[i+1]
				for j := 0; j+1 < len(m.Content); j += 2 {
					txt[strings.ToLower(m.Content[j].Value)] = m.Content[j+1].Value
				}
			case "description":
				desc = strings.TrimSpace(root.Content[i+1].Value)
			}
		}
		for i := 0; i+1 < len(tests.Content); i += 2 {
			st := suiteTest{scenario: desc, name: tests.Content[i].Value, txt: txt}
			body := tests.Content[i+1]
			for j := 0; j+1 < len(body.Content); j += 2 {
				switch body.Content[j].Value {
				case "message":
					st.message = body.Content[j+1].Value
				case "cv":
					st.cv = strings.ToLower(strings.TrimSpace(body.Content[j+1].Value))
				}
			}
			out = append(out, st)
		}
	}
	return out
}

func lookupFrom(txt map[string]string) func(context.Context, string) ([]string, error) {
	return func(_ context.Context, name string) ([]string, error) {
		v, ok := txt[strings.ToLower(strings.TrimSuffix(name, "."))]
		if !ok {
			return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
		}
		return []string{v}, nil
	}
}

// rfcOverrides are the suite's tests whose expected cv RFC 8617 changes
// (the suite was written for draft 12–16). Each asserts the RFC's answer.
var rfcOverrides = map[string]struct {
	cv, why string
}{
	// The draft the suite follows defaulted an absent c= to relaxed/relaxed;
	// RFC 8617 §4.1.2 gives the AMS DKIM-Signature's semantics but for
	// the field name, v= and i=, so c= defaults to simple/simple (RFC 6376
	// §3.5). The signature was made with relaxed headers: it does not
	// validate under simple, and the chain fails.
	"ams_fields_c_na": {"fail", "RFC 8617 §4.1.2 + RFC 6376 §3.5: c= defaults to simple/simple"},
	// An empty h= signs no From field: RFC 6376 §6.1.1 (imported by RFC
	// 8617 §4.1.2) says such a signature MUST be ignored (PERMFAIL).
	"ams_fields_h_empty": {"fail", "RFC 6376 §6.1.1: From must be signed"},
	// Three tests give no status at all ("cv: |" followed by an empty
	// line): the draft left a chain that carries cv=fail unevaluated. RFC
	// 8617 gives it one: fail.
	"cv_fail_i1_as_cv_fail": {"fail", "RFC 8617 §5.2 step 2: the newest (and only) seal says cv=fail"},
	"cv_fail_i2_as2_fail":   {"fail", "RFC 8617 §5.2 step 2: the newest seal says cv=fail"},
	"cv_fail_i2_as1_fail":   {"fail", "RFC 8617 §5.2 step 3: the seal of i=1 says cv=fail, not none"},
}

// The whole validation suite, no test skipped.
func TestValidationSuite(t *testing.T) {
	tests := loadSuite(t)
	if len(tests) < 170 {
		t.Fatalf("read %d tests, want the whole suite (175)", len(tests))
	}
	pass, failed := 0, []string{}
	overridden := map[string]bool{}
	for _, st := range tests {
		want := st.cv
		if o, ok := rfcOverrides[st.name]; ok {
			want = o.cv
			overridden[st.name] = true
			t.Logf("%s: RFC 8617 answer %s (suite: %q): %s", st.name, o.cv, st.cv, o.why)
		}
		if want == "" {
			t.Errorf("%s: the suite gives no cv and the override table no RFC answer", st.name)
			continue
		}
		r := Verify(context.Background(), []byte(st.message), Options{LookupTXT: lookupFrom(st.txt)})
		if string(r.Status) != want {
			failed = append(failed, fmt.Sprintf("%s: cv=%s, want %s (%s)", st.name, r.Status, want, r.Reason))
			continue
		}
		pass++
	}
	for name := range rfcOverrides {
		if !overridden[name] {
			t.Errorf("override %s names no suite test", name)
		}
	}
	t.Logf("ARC validation suite: %d of %d pass (%d of them answered per RFC 8617 over the draft)", pass, len(tests), len(overridden))
	for _, f := range failed {
		t.Error(f)
	}
}

func suiteCase(t *testing.T, name string) suiteTest {
	t.Helper()
	for _, st := range loadSuite(t) {
		if st.name == name {
			return st
		}
	}
	t.Fatalf("no suite test %s", name)
	return suiteTest{}
}

// Beyond cv: the instance that broke the chain, the oldest instance whose
// AMS still validates, and each instance's details.
func TestVerifyDetails(t *testing.T) {
	cases := []struct {
		name       string
		status     Status
		broken     int
		oldestPass int
	}{
		{"cv_pass_i3_1", Pass, 0, 1},
		{"cv_pass_i2_1_ams1_invalid", Pass, 0, 2},
		{"cv_fail_i2_as1_invalid", Fail, 1, 0},
		{"cv_fail_i2_ams_invalid", Fail, 2, 0},
		{"cv_base1", None, 0, 0},
	}
	for _, c := range cases {
		st := suiteCase(t, c.name)
		r := Verify(context.Background(), []byte(st.message), Options{LookupTXT: lookupFrom(st.txt)})
		if r.Status != c.status || r.Broken != c.broken || r.OldestPass != c.oldestPass {
			t.Errorf("%s: cv=%s broken=%d oldest-pass=%d, want %s %d %d (%s)", c.name, r.Status, r.Broken, r.OldestPass, c.status, c.broken, c.oldestPass, r.Reason)
		}
	}
	st := suiteCase(t, "cv_pass_i2_1")
	r := Verify(context.Background(), []byte(st.message), Options{LookupTXT: lookupFrom(st.txt)})
	if len(r.Instances) != 2 || r.Instances[0].CV != "none" || r.Instances[1].CV != "pass" ||
		r.Instances[1].SealResult != "pass" || r.Instances[0].AuthServID == "" || r.Instances[0].AMSDomain == "" {
		t.Errorf("instances: %+v", r.Instances)
	}
}

// A key that cannot be fetched for a temporary reason makes the result a
// temperror, not a verdict on the message.
func TestVerifyTempError(t *testing.T) {
	st := suiteCase(t, "cv_pass_i1_1")
	r := Verify(context.Background(), []byte(st.message), Options{LookupTXT: func(context.Context, string) ([]string, error) {
		return nil, fmt.Errorf("i/o timeout")
	}})
	if r.Status != Fail || !r.TempError {
		t.Errorf("cv=%s temperror=%v (%s)", r.Status, r.TempError, r.Reason)
	}
	r = Verify(context.Background(), []byte(st.message), Options{LookupTXT: lookupFrom(nil)})
	if r.Status != Fail || r.TempError {
		t.Errorf("missing key: cv=%s temperror=%v", r.Status, r.TempError)
	}
}

// More than 50 sets is a structural failure, read without verifying any.
func TestVerifyTooManyInstances(t *testing.T) {
	var b strings.Builder
	for i := 51; i >= 1; i-- {
		fmt.Fprintf(&b, "ARC-Seal: i=%d; a=rsa-sha256; cv=pass; d=example.org; s=x; b=AAAA\r\n", i)
	}
	b.WriteString("From: a@example.org\r\n\r\nbody\r\n")
	calls := 0
	r := Verify(context.Background(), []byte(b.String()), Options{LookupTXT: func(context.Context, string) ([]string, error) {
		calls++
		return nil, ErrNotFound
	}})
	if r.Status != Fail || !strings.Contains(r.Reason, "50") || calls != 0 {
		t.Errorf("cv=%s (%s), %d key lookups", r.Status, r.Reason, calls)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add([]byte("ARC-Seal: i=1; a=rsa-sha256; cv=none; d=example.org; s=dummy; b=AAAA\r\nFrom: x\r\n\r\nbody"))
	f.Add([]byte("ARC-Authentication-Results: i=1; mx.example; spf=pass\r\n\r\n"))
	f.Add([]byte("From: a\n\tfolded\nSubject: x\n\nbody\n\n\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		r := Verify(context.Background(), msg, Options{LookupTXT: lookupFrom(nil)})
		if r.Status != None && r.Status != Pass && r.Status != Fail {
			t.Fatalf("status %q", r.Status)
		}
		if r.Status == Pass {
			t.Fatalf("a chain passed with no keys: %+v", r)
		}
	})
}

func FuzzCanon(f *testing.F) {
	f.Add([]byte("a  b \t\r\n\r\n\r\n"), true)
	f.Add([]byte(""), false)
	f.Fuzz(func(t *testing.T, body []byte, relaxed bool) {
		c := canonBody(toCRLF(body), relaxed)
		if len(c) > 0 && !strings.HasSuffix(string(c), "\r\n") {
			t.Fatalf("canonical body does not end in CRLF: %q", c)
		}
		if strings.HasSuffix(string(c), "\r\n\r\n") {
			t.Fatalf("trailing empty lines kept: %q", c)
		}
		// Canonicalization is idempotent.
		if again := canonBody(c, relaxed); string(again) != string(c) {
			t.Fatalf("not idempotent: %q → %q", c, again)
		}
	})
}

func TestFindings(t *testing.T) {
	cases := map[string]string{
		"cv_base1":                  "arc.chain.none",
		"cv_pass_i1_1":              "arc.chain.pass",
		"cv_fail_i2_as1_invalid":    "arc.structure.invalid",
		"cv_fail_i1_as_cv_fail":     "arc.chain.sealed-fail", // §5.2 step 2 before step 3
		"cv_fail_i2_as1_fail":       "arc.structure.invalid",
		"ams_fields_bh_mod_body":    "arc.ams.fail",
		"cv_fail_i2_as2_invalid":    "arc.as.fail",
		"cv_fail_i2_as2_fail":       "arc.chain.sealed-fail",
		"cv_pass_i2_1_ams1_invalid": "arc.chain.modified",
	}
	for name, want := range cases {
		st := suiteCase(t, name)
		r := Verify(context.Background(), []byte(st.message), Options{LookupTXT: lookupFrom(st.txt)})
		var codes []string
		for _, f := range r.Findings("arc") {
			codes = append(codes, f.Code)
		}
		if !strings.Contains(strings.Join(codes, " "), want) {
			t.Errorf("%s (%s): findings %v, want %s", name, r.Reason, codes, want)
		}
	}
}
