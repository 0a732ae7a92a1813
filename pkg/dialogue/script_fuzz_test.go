package dialogue

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseScript: the parser never panics or hangs, every step it returns
// points at a line of the input, and binding a parsed script (which
// expands every template) never panics either. Seeds: every example script
// and a few fragments of each construct.
func FuzzParseScript(f *testing.F) {
	for _, file := range exampleFiles(f) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"connect\nexpect 250|2xx|none|close enhanced 5.7.x /a\\/b/i else warn \"m\"\n",
		"connect tls h:1\nsendraw \\r\\n.\\x00${A}$$\n",
		"connect\nif-capability !AUTH PLAIN\nelse\nend\nif-reply !334\nend\n",
		"repeat 3\nrepeat 4\nnote ${ITER}\nend\nend\n",
		"connect\npipeline\nsend A\nexpect 250\nend\n",
		"connect\n  data <<EOF\n  .x\n  EOF\nbody\n.\n",
		"default X ${Y}\ntimeout ${X}\npause 1s\n",
		"connect\nauth CRAM-MD5 as \"x\" else info\n",
		"\"\n/\n${\n\\\nelse\nend\n",
		"\r ", // a line of blanks that are not all spaces
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		sc, err := ParseScript("fuzz", src)
		if err != nil {
			if _, ok := err.(ScriptErrors); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		lines := strings.Count(string(src), "\n") + 1
		sc.Walk(func(s *Step) {
			if s.Line < 1 || s.Line > lines {
				t.Fatalf("step %q at line %d of %d", s.Source, s.Line, lines)
			}
			if s.Kind == "" {
				t.Fatal("step without a kind")
			}
		})
		_, _ = sc.Bind(RunOptions{Host: "h", User: "u", Vars: map[string]string{"FROM": "a@b", "TO": "c@d", "A": "x", "Y": "1s"}})
	})
}
