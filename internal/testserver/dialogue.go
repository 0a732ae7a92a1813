package testserver

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Dialogue serves a scripted conversation and fails t when the client
// deviates from it. The file has one step a line:
//
//	S: 220 mail.test.example ESMTP      server sends this line
//	C: EHLO mailprobe.invalid           client must send exactly this
//	C~ ^MAIL FROM:<[^>]+>$              client must send a line matching this regexp
//	C* DATA-BODY                        client sends lines up to a lone "."
//	CLOSE                               server closes the connection
//	# comment, blank lines ignored
//
// When the script ends the server waits for the client to close.
func Dialogue(t testing.TB, path string) Handler {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type step struct {
		kind, text string
		re         *regexp.Regexp
		line       int
	}
	var steps []step
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		switch {
		case strings.HasPrefix(l, "S: "), strings.HasPrefix(l, "C: "), strings.HasPrefix(l, "C* "):
			steps = append(steps, step{kind: l[:2], text: l[3:], line: n})
		case strings.HasPrefix(l, "C~ "):
			steps = append(steps, step{kind: "C~", re: regexp.MustCompile(l[3:]), line: n})
		case l == "CLOSE":
			steps = append(steps, step{kind: "CLOSE", line: n})
		default:
			t.Fatalf("%s:%d: unknown step %q", path, n, l)
		}
	}
	return func(c *Conn) {
		for _, s := range steps {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			switch s.kind {
			case "S:":
				c.Send(s.text)
			case "CLOSE":
				return
			case "C*":
				for {
					l, err := c.Line()
					if err != nil {
						t.Errorf("%s:%d: client closed during DATA: %v", path, s.line, err)
						return
					}
					if l == "." {
						break
					}
				}
			default:
				got, err := c.Line()
				if err != nil {
					t.Errorf("%s:%d: client closed or went silent, expected %s %s: %v", path, s.line, s.kind, s.text+fmt.Sprint(s.re), err)
					return
				}
				if (s.re == nil && got != s.text) || (s.re != nil && !s.re.MatchString(got)) {
					want := s.text
					if s.re != nil {
						want = "/" + s.re.String() + "/"
					}
					t.Errorf("%s:%d: client sent %q, script expects %s", path, s.line, got, want)
					c.Send("500 5.5.2 unexpected command (test script)")
					return
				}
			}
		}
		Silent(c)
	}
}
