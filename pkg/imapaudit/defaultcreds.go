package imapaudit

import (
	"context"
	"fmt"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// Credential is one account and password to try (the default-credentials
// check of mailprobe audit). Source says where the pair comes from.
type Credential struct {
	User, Password string
	Source         string
}

// MaxDefaultCredentials bounds the pairs one audit tries.
const MaxDefaultCredentials = 20

// defaultCredentials tries each pair over TLS on port, one after the
// other, reconnecting when the server hangs up, and stops at the first
// sign of rate limiting or lockout (the lockout test's blockedRe, or a
// new connection refused): it must never lock an account out or get the
// auditor's address banned. A pair that logs in is a failure; its
// password is never printed (it is registered as a secret, so the
// transcript redacts it too).
func (a *auditor) defaultCredentials(ctx context.Context, port int) {
	st := a.begin("default-credentials", port)
	var c *lineConn
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	for _, cr := range a.o.DefaultCredentials {
		a.rec.AddSecret(cr.Password)
	}
	tried, stopped := 0, ""
	var working []string
	for _, cr := range a.o.DefaultCredentials {
		var reply string
		var err error
		// A server that hangs up after a failure is reconnected to, and
		// the pair tried again once on the new connection.
		for try := 0; try < 2; try++ {
			if c == nil {
				if c, err = a.session(ctx, port); err != nil {
					c = nil
					break
				}
			}
			reply, err = a.attemptAs(ctx, c, cr.User, cr.Password)
			if err == nil {
				break
			}
			c.close()
			c = nil
		}
		if err != nil {
			if tried == 0 {
				st.fail(err)
				return
			}
			stopped = fmt.Sprintf("after %d attempts the server no longer answered (%v)", tried, err)
			break
		}
		tried++
		switch {
		case strings.HasPrefix(reply, "+OK") || imapStatus(reply) == "OK":
			working = append(working, cr.User)
			a.add("login.default-credentials", st.Name, "The account %s logs in with a default password (%s); the password is not shown.", cr.User, cr.Source)
			// Logged in: start again on a fresh connection.
			c.close()
			c = nil
		case blockedRe.MatchString(strings.ToLower(reply)):
			stopped = fmt.Sprintf("after %d attempts the server answered %q", tried, reply)
		}
		if stopped != "" {
			break
		}
	}
	summary := fmt.Sprintf("%d of %d pairs tried", tried, len(a.o.DefaultCredentials))
	switch {
	case len(working) > 0:
		st.end(report.StatusFail, "%s; %d log in: %s", summary, len(working), strings.Join(working, ", "))
	case stopped != "":
		st.end(report.StatusInfo, "%s; stopped %s", summary, stopped)
	default:
		st.end(report.StatusOK, "%s; none logs in", summary)
	}
	if stopped != "" {
		a.add("default-credentials.stopped", st.Name, "The default-credentials check stopped %s, so as not to lock accounts out or get this address banned (%s).", stopped, summary)
	}
	if len(working) == 0 && tried > 0 {
		a.add("default-credentials.refused", st.Name, "None of the %d default pairs tried logs in.", tried)
	}
}
