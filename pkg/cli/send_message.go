package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

// tokens are the message template's %TOKEN%s (swaks' names): %DATE%
// (RFC 5322 date), %MESSAGEID% (a fresh Message-ID), %FROM_ADDRESS%,
// %TO_ADDRESS% (the first recipient) and %MAILPROBE_VERSION%. A composed
// message uses the same date and Message-ID, so a header and the body can
// quote them.
type tokens struct {
	date      time.Time
	messageID string
	r         *strings.Replacer
}

func newTokens(from string, to []string, helo string, env *Env) tokens {
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	t := tokens{date: now()}
	fromAddr, toAddr := from, ""
	if a, err := mail.ParseAddress(from); err == nil {
		fromAddr = a.Address
	}
	if len(to) > 0 {
		toAddr = to[0]
		if a, err := mail.ParseAddress(to[0]); err == nil {
			toAddr = a.Address
		}
	}
	domain := helo
	if i := strings.LastIndexByte(fromAddr, '@'); i >= 0 {
		domain = fromAddr[i+1:]
	}
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	t.messageID = fmt.Sprintf("<%s@%s>", base64.RawURLEncoding.EncodeToString(id), domain)
	t.r = strings.NewReplacer("%DATE%", t.date.Format(time.RFC1123Z), "%MESSAGEID%", t.messageID,
		"%FROM_ADDRESS%", fromAddr, "%TO_ADDRESS%", toAddr, "%MAILPROBE_VERSION%", Version)
	return t
}

func (t tokens) replace(s string) string { return t.r.Replace(s) }

func (t tokens) replaceAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = t.replace(s)
	}
	return out
}

// sizedBody is a body of exactly n bytes: numbered lines of at most 78
// characters with CRLF, so that SIZE tests send what they say.
func sizedBody(n int) string {
	var b strings.Builder
	b.Grow(n)
	for line := 1; b.Len() < n; line++ {
		l := fmt.Sprintf("mailprobe --body-size line %06d %s", line, strings.Repeat("x", 40))
		rest := n - b.Len()
		switch {
		case rest >= len(l)+2:
			b.WriteString(l + "\r\n")
		case rest >= 2:
			b.WriteString(l[:rest-2] + "\r\n")
		default:
			b.WriteString("x"[:rest])
		}
	}
	return b.String()
}

// editHeaders applies --header (replace the first header of that name,
// dropping any others of it; add it when there is none) and --add-header
// (always added) to a message's header block.
func editHeaders(msg []byte, replace, add []string) ([]byte, error) {
	if len(replace) == 0 && len(add) == 0 {
		return msg, nil
	}
	eol := "\r\n"
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if lf := bytes.Index(msg, []byte("\n\n")); end < 0 || (lf >= 0 && lf < end) {
		if lf >= 0 {
			end, eol = lf, "\n"
		}
	}
	head, body := msg, []byte(nil)
	if end >= 0 {
		head, body = msg[:end+len(eol)], msg[end+len(eol):]
	} else {
		head = append(append([]byte{}, msg...), eol...)
	}
	// Fields, each with its continuation lines.
	var fields []string
	for _, line := range strings.SplitAfter(string(head), eol) {
		if line == "" || line == eol {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1] += line
			continue
		}
		fields = append(fields, line)
	}
	parse := func(flag, h string) (string, string, error) {
		k, v, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\r\n") || strings.ContainsAny(v, "\r\n") {
			return "", "", usageErrorf("%s %q: want \"Name: value\" on one line", flag, h)
		}
		return textproto.CanonicalMIMEHeaderKey(k), strings.TrimSpace(v), nil
	}
	for _, h := range replace {
		k, v, err := parse("--header", h)
		if err != nil {
			return nil, err
		}
		line := k + ": " + v + eol
		done := false
		kept := fields[:0]
		for _, f := range fields {
			name, _, _ := strings.Cut(f, ":")
			if strings.EqualFold(strings.TrimSpace(name), k) {
				if done {
					continue
				}
				f, done = line, true
			}
			kept = append(kept, f)
		}
		fields = kept
		if !done {
			fields = append(fields, line)
		}
	}
	for _, h := range add {
		k, v, err := parse("--add-header", h)
		if err != nil {
			return nil, err
		}
		fields = append(fields, k+": "+v+eol)
	}
	var out bytes.Buffer
	for _, f := range fields {
		out.WriteString(f)
	}
	out.WriteString(eol)
	out.Write(body)
	return out.Bytes(), nil
}

// credSummary says what credentials a run has, never their value.
func credSummary(user string, hasSecret, oauth bool) string {
	switch {
	case user == "":
		return "none"
	case oauth:
		return user + " with an OAuth 2.0 token (********)"
	case hasSecret:
		return user + " with a password (********)"
	}
	return user
}

// run sends, honouring --silent: 1 prints the report only when the exit
// code is not 0, 2 and 3 print nothing (the exit code says it all).
func (o *smtpSendOptions) run(ctx context.Context, env *Env, opts smtpprobe.Options) error {
	if o.client.Silent == 0 {
		return runSMTPProbe(ctx, env, &o.Global, opts)
	}
	var buf bytes.Buffer
	quiet := *env
	ios := *env.IO
	ios.Out = &buf
	quiet.IO = &ios
	err := runSMTPProbe(ctx, &quiet, &o.Global, opts)
	var ee *exitError
	failed := err != nil && (!errors.As(err, &ee) || ee.code != report.ExitOK)
	if o.client.Silent == 1 && failed {
		if _, werr := env.IO.Out.Write(buf.Bytes()); werr != nil {
			return werr
		}
	}
	return err
}
