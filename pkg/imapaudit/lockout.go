package imapaudit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/internal/lazyre"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// blockedRe recognises a server saying it stopped accepting attempts:
// Dovecot, Courier, Exchange and Gmail wordings, and the IMAP response
// codes for it (RFC 5530 [LIMIT], [UNAVAILABLE]).
var blockedRe = lazyre.New(`\btoo many\b|\b(account|user|login|address|ip) (is |has been )?(temporarily )?(locked|blocked|disabled|banned)\b|\btry again later\b|\brate[- ]?limit|\[limit\]|\[unavailable\]|\bblocked\b`)

// session opens a connection on port ready for a login: greeted and, on a
// STARTTLS port, upgraded.
func (a *auditor) session(ctx context.Context, port int) (*lineConn, error) {
	t := a.o.Timeouts.WithDefaults()
	addr := net.JoinHostPort(a.o.Host, strconv.Itoa(port))
	implicit := a.implicit(port)
	c, err := dial(ctx, &a.o, addr, a.connectMode(port), a.rec)
	if err != nil {
		return nil, err
	}
	greeting, err := c.readLine(ctx, t.Banner)
	if err != nil {
		c.close()
		return nil, err
	}
	if strings.HasPrefix(greeting, "* BYE") || strings.HasPrefix(greeting, "-ERR") {
		c.close()
		return nil, fmt.Errorf("refused: %s", greeting)
	}
	if !implicit {
		var ok bool
		if a.o.Protocol == POP3 {
			var r string
			r, err = c.pop3Cmd(ctx, a, "STLS")
			ok = err == nil && strings.HasPrefix(r, "+OK")
		} else {
			tag := a.tag()
			if err = c.write(ctx, t.Command, tag+" STARTTLS\r\n"); err == nil {
				var tagged string
				_, tagged, err = c.imapResponse(ctx, tag, a)
				ok = err == nil && imapStatus(tagged) == "OK"
			}
		}
		if err != nil || !ok {
			c.close()
			if err == nil {
				err = fmt.Errorf("STARTTLS refused")
			}
			return nil, err
		}
		if _, err := c.handshake(ctx, a.o.tlsConfig()); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// attempt sends one login with a wrong password and returns the reply.
func (a *auditor) attempt(ctx context.Context, c *lineConn, password string) (string, error) {
	return a.attemptAs(ctx, c, a.o.User, password)
}

// attemptAs sends one login for user and returns the reply.
func (a *auditor) attemptAs(ctx context.Context, c *lineConn, user, password string) (string, error) {
	t := a.o.Timeouts.WithDefaults()
	if a.o.Protocol == POP3 {
		r, err := c.pop3Cmd(ctx, a, "USER "+user)
		if err != nil || !strings.HasPrefix(r, "+OK") {
			return r, err
		}
		return c.pop3Cmd(ctx, a, "PASS "+password)
	}
	tag := a.tag()
	if err := c.write(ctx, t.Command, tag+" LOGIN "+quote(user)+" "+quote(password)+"\r\n"); err != nil {
		return "", err
	}
	_, tagged, err := c.imapResponse(ctx, tag, a)
	return tagged, err
}

// lockout sends LockoutTest wrong passwords for the user's account over
// TLS, one after the other (reconnecting when the server hangs up), and
// judges from the reply times and texts whether the server slows the
// attempts down, blocks them, or lets them run at full speed.
func (a *auditor) lockout(ctx context.Context, port int) {
	st := a.begin("lockout", port)
	var times []time.Duration
	var c *lineConn
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	blocked := ""
	for i := 0; i < a.o.LockoutTest && blocked == ""; i++ {
		if c == nil {
			var err error
			c, err = a.session(ctx, port)
			if err != nil {
				if i == 0 {
					st.fail(err)
					return
				}
				blocked = fmt.Sprintf("after %d wrong passwords a new connection failed: %v", i, err)
				break
			}
		}
		b := make([]byte, 9)
		_, _ = rand.Read(b)
		wrong := "wrong-" + hex.EncodeToString(b)
		a.rec.AddSecret(wrong)
		start := time.Now()
		reply, err := a.attempt(ctx, c, wrong)
		times = append(times, time.Since(start))
		lower := strings.ToLower(reply)
		switch {
		case err != nil:
			c.close()
			c = nil
		case strings.HasPrefix(reply, "+OK") || imapStatus(reply) == "OK":
			st.end(report.StatusFail, "a wrong password was accepted: %s", reply)
			a.add("login.any-password", st.Name, "Attempt %d with a random wrong password for %s was accepted: %q.", i+1, a.o.User, reply)
			return
		case blockedRe.MatchString(lower):
			blocked = fmt.Sprintf("after %d wrong passwords the server answered %q", i+1, reply)
		}
	}
	var ms []string
	for _, d := range times {
		ms = append(ms, strconv.FormatInt(d.Milliseconds(), 10))
	}
	a.rep.SetFact("lockout_reply_ms", ms)
	summary := fmt.Sprintf("%d attempts, replies after %s ms", len(times), strings.Join(ms, ", "))
	sorted := append([]time.Duration(nil), times...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	median := time.Duration(0)
	if len(sorted) > 0 {
		median = sorted[len(sorted)/2]
	}
	switch {
	case blocked != "":
		st.end(report.StatusOK, "%s; %s", summary, blocked)
		a.add("lockout.blocked", st.Name, "%s (%s).", strings.ToUpper(blocked[:1])+blocked[1:], summary)
	case median >= 500*time.Millisecond || (len(times) > 1 && times[len(times)-1] >= 2*times[0] && times[len(times)-1] >= 300*time.Millisecond):
		st.end(report.StatusOK, "%s", summary)
		a.add("lockout.delayed", st.Name, "Wrong passwords are answered after a delay (median %d ms): %s.", median.Milliseconds(), summary)
	default:
		st.end(report.StatusInfo, "%s", summary)
		a.add("lockout.none", st.Name, "%d wrong passwords in a row were answered at once (median %d ms) and the account was not blocked.", len(times), median.Milliseconds())
	}
}
