package imapaudit

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// A server whose every literal ends in the announcement of another one:
// the response is cut at the byte bound (a finding naming the stage),
// the stage stops, and the run is incomplete; memory stays bounded by
// the bound, not by how long the server keeps going.
func TestIMAP_endlessLiteralChainIsBounded(t *testing.T) {
	addr := testserver.Start(t, testserver.IMAPLiteralChain(65536))
	r := audit(t, IMAP, addr, func(o *Options) {
		o.NoTLSScan = true
		o.MaxResponse = 256 << 10
		o.Timeouts.Command = 5 * time.Second // the byte bound ends it, not the clock
	})
	f, ok := codes(r)["imap.response.too-large"]
	if !ok || !strings.HasPrefix(f.Stage, "capability:") {
		t.Fatalf("findings %v", list(r))
	}
	if r.ExitCode(report.Fail) != report.ExitIncomplete {
		t.Errorf("exit %d", r.ExitCode(report.Fail))
	}
	for _, s := range r.Stages {
		if strings.HasPrefix(s.Name, "capability-tls:") || strings.HasPrefix(s.Name, "starttls:") {
			t.Errorf("the audit went on after the stage stopped: %+v", s)
		}
	}
}

// The byte bound is on the response, literals included: the reader
// stops after at most the bound (plus one line), whatever the server
// sends, and refuses a literal larger than what is left before reading it.
func TestReadIMAPResponse_boundedBytes(t *testing.T) {
	chunk := strings.Repeat("x", 1000) + "{1000}\r\n"
	src := &countingReader{r: strings.NewReader("* CAPABILITY {1000}\r\n" + strings.Repeat(chunk, 10000))}
	_, _, err := readIMAPResponse(netx.NewLineReader(src, MaxLine), "a1", 64<<10)
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("err %v", err)
	}
	if src.n > 64<<10+2*4096 {
		t.Errorf("read %d bytes for a bound of %d", src.n, 64<<10)
	}
	_, _, err = readIMAPResponse(netx.NewLineReader(strings.NewReader("* X {999999}\r\n"), MaxLine), "a1", 64<<10)
	if !errors.Is(err, ErrResponseTooLarge) || !strings.Contains(err.Error(), "999999") {
		t.Fatalf("big literal: %v", err)
	}
	// Lines without end are bounded in number too.
	_, err = readPOP3Multi(netx.NewLineReader(strings.NewReader(strings.Repeat("x\r\n", 5000)), MaxLine), 0)
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("pop3 lines: %v", err)
	}
}

type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// A server that answers with one untagged line every 20 ms, for ever:
// each line is well within the command timeout, but the response is not.
// The deadline bounds the response (and so the stage), so the stage ends
// in a timeout naming it, not after maxResponseLines lines.
func TestAudit_dripFeedingServerHitsTheStageDeadline(t *testing.T) {
	for _, c := range []struct {
		proto Protocol
		h     testserver.Handler
		stage string
	}{
		{IMAP, testserver.Drip("* OK ready", "", "* OK still here", 20*time.Millisecond), "capability:"},
		{POP3, testserver.Drip("+OK ready", "+OK capabilities follow", "STILL-HERE", 20*time.Millisecond), "capability:"},
	} {
		addr := testserver.Start(t, c.h)
		r := audit(t, c.proto, addr, func(o *Options) {
			o.NoTLSScan = true
			o.Timeouts.Command = 400 * time.Millisecond
		})
		f, ok := codes(r)[string(c.proto)+".conn.timeout"]
		if !ok || !strings.HasPrefix(f.Stage, c.stage) {
			t.Fatalf("%s: findings %v", c.proto, list(r))
		}
		if r.ExitCode(report.Fail) != report.ExitIncomplete {
			t.Errorf("%s: exit %d", c.proto, r.ExitCode(report.Fail))
		}
	}
}

// FuzzReadIMAPResponse: any input ends in a response, an error, or the
// end of input, within the bounds, never a panic.
func FuzzReadIMAPResponse(f *testing.F) {
	f.Add([]byte("* ID (\"name\" {5}\r\nhello \"os\" {4}\r\nab\r\n)\r\na1 OK done\r\n"))
	f.Add([]byte("* 1 FETCH (BODY[] {0}\r\n)\r\na1 OK\r\n"))
	f.Add([]byte("* X {3}\r\nab{2}\r\n\r\na1 NO x\r\n"))
	f.Add([]byte("* X {10+}\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		src := &countingReader{r: strings.NewReader(string(b))}
		untagged, tagged, err := readIMAPResponse(netx.NewLineReader(src, 512), "a1", 4096)
		if err == nil && !strings.HasPrefix(tagged, "a1 ") {
			t.Fatalf("tagged %q", tagged)
		}
		total := len(tagged)
		for _, u := range untagged {
			total += len(u)
		}
		if total > 4096*4+1024 {
			t.Fatalf("%d bytes kept for a bound of 4096", total)
		}
		lines, _ := readPOP3Multi(netx.NewLineReader(strings.NewReader(string(b)), 512), 4096)
		if len(lines) > maxResponseLines {
			t.Fatalf("%d lines", len(lines))
		}
	})
}
