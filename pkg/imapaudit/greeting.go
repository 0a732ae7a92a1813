package imapaudit

import (
	"context"
	"fmt"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// greetingKind is what a server's first line says.
type greetingKind int

const (
	greetOK        greetingKind = iota // ready: IMAP "* OK", POP3 "+OK"
	greetPreauth                       // IMAP "* PREAUTH": logged in without credentials
	greetRefused                       // IMAP "* BYE", POP3 "-ERR": service refused
	greetMalformed                     // anything else
)

// greeting runs the greeting stage of either protocol: it reads the first
// line, records it as a fact, lets classify say what it is (and, when it
// is not the protocol at all, what was expected), and reports refusals,
// pre-authentication and garbage the same way for IMAP and POP3. It
// returns false when the audit of the port cannot go on.
func (a *auditor) greeting(ctx context.Context, c *lineConn, port int, wait time.Duration, classify func(string) (greetingKind, string)) bool {
	st := a.begin("greeting", port)
	line, err := c.readLine(ctx, wait)
	if err != nil {
		st.fail(err)
		return false
	}
	a.rep.SetFact(fmt.Sprintf("greeting:%d", port), line)
	kind, want := classify(line)
	switch kind {
	case greetOK:
		st.end(report.StatusOK, "%s", line)
	case greetPreauth:
		st.end(report.StatusOK, "%s", line)
		a.add("greeting.preauth", st.Name, "%q.", line)
	case greetRefused:
		st.end(report.StatusFail, "%s", line)
		a.add("greeting.refused", st.Name, "The server said %q instead of a greeting.", line)
		return false
	default:
		st.end(report.StatusError, "%s", line)
		a.add("greeting.malformed", st.Name, "Expected %q, got %q.", want, line)
		a.rep.Incomplete = true
		return false
	}
	a.banner(st.Name, line)
	return true
}
