package dialogue

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// A script's plain connect to a non-standard port that speaks implicit TLS
// (RFC 8314 §3.3), without any TLS option: the first expect meets
// silence, the port answers a ClientHello, and the script goes on over a
// new TLS connection — the same detection, finding and wording as smtp
// check (smtpclient.AwaitGreeting) — instead of timing out on the greeting.
func TestRunScript_detectsImplicitTLS(t *testing.T) {
	addr, _ := startGoSMTP(t, smtpOpts{Implicit: true})
	start := time.Now()
	rep := run(t, addr, "connect\nexpect 220\nehlo\nrequire-capability AUTH\nquit\n")
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("took %s", el)
	}
	f := requireFinding(t, rep, "smtp.tls.implicit-detected", "line 2: expect 220")
	if !strings.Contains(f.Detail+f.Fix, "--tls implicit") || f.Severity != report.Info {
		t.Errorf("finding %+v", f)
	}
	requireGreen(t, rep)
	if s := stageByName(t, rep, "line 2: expect 220"); s.Status != report.StatusOK || !strings.Contains(s.Summary, "implicit TLS detected") {
		t.Errorf("stage %+v", s)
	}
	requireFinding(t, rep, "script.tls.ok", "line 2: expect 220")
	// Everything the script said went over TLS: a TLS-only listener
	// answers nothing else, and the transcript marks the lines.
	var ehlo bool
	for _, e := range rep.Transcript {
		if strings.HasPrefix(e.Line, "EHLO ") {
			ehlo = true
			if !e.TLS {
				t.Errorf("EHLO sent outside TLS: %+v", e)
			}
		}
	}
	if !ehlo {
		t.Fatal("no EHLO in the transcript")
	}
}

// With --tls starttls the same port is reported as wanting implicit TLS,
// naming the flag, and the script stops there; with --tls implicit the
// plain connect is implicit TLS from the start and nothing is detected.
func TestRunScript_TLSModes(t *testing.T) {
	addr, _ := startGoSMTP(t, smtpOpts{Implicit: true})
	rep := run(t, addr, "connect\nexpect 220\nehlo\n", func(o *RunOptions) { o.TLSMode = netx.TLSStartTLS })
	f := requireFinding(t, rep, "smtp.tls.implicit-expected", "line 2: expect 220")
	if !strings.Contains(f.Detail, "--tls implicit") {
		t.Errorf("detail %q", f.Detail)
	}
	if s := stageByName(t, rep, "line 3: ehlo"); s.Status != report.StatusSkipped {
		t.Errorf("line 3 = %+v", s)
	}
	if rep.Worst() != report.Fail {
		t.Errorf("worst = %s", rep.Worst())
	}

	rep = run(t, addr, "connect\nexpect 220\nehlo\nquit\n", func(o *RunOptions) { o.TLSMode = netx.TLSImplicit })
	requireGreen(t, rep)
	requireFinding(t, rep, "script.tls.ok", "line 1: connect")
	for _, f := range rep.Findings {
		if strings.HasPrefix(f.Code, "smtp.tls.implicit") {
			t.Errorf("unexpected %s", f.Code)
		}
	}
}

// A greeting delay longer than netx.GreetingWait: the first expect probes
// for TLS, finds none, and still gets the late greeting (RFC 5321
// §4.5.3.2 lets servers delay it). A script that talks before the
// greeting is probing exactly that: no detection comes between its
// connect and its first send.
func TestRunScript_detectionAndGreetingDelay(t *testing.T) {
	addr := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		time.Sleep(1200 * time.Millisecond)
		io.WriteString(c, "220 raw.test ESMTP\r\n")
		if srvLine(br) == "NOOP" {
			io.WriteString(c, "250 2.0.0 OK\r\n")
		}
		srvLine(br) // QUIT
		io.WriteString(c, "221 2.0.0 Bye\r\n")
	})
	probed := func(rep *report.Report) bool {
		for _, e := range rep.Transcript {
			if e.Dir == transcript.Event && strings.Contains(e.Line, "did not answer a ClientHello") {
				return true
			}
		}
		return false
	}
	rep := run(t, addr, "connect\nexpect 220\nsend NOOP\nexpect 250\nquit\n")
	requireGreen(t, rep)
	if !probed(rep) {
		t.Error("the first expect did not probe for implicit TLS")
	}
	rep = run(t, addr, "connect\nsend NOOP\nexpect 220\nexpect 250\nquit\n")
	requireGreen(t, rep)
	if probed(rep) {
		t.Error("detection ran although the script talked first")
	}
	for _, f := range rep.Findings {
		if strings.HasPrefix(f.Code, "smtp.tls.implicit") {
			t.Errorf("unexpected %s", f.Code)
		}
	}
}

// The shell on such a port: one notice line naming --tls implicit, the
// certificate shown, and what is typed then goes over TLS (the TLS-only
// server answers it, the transcript marks it, .save writes connect tls).
func TestShell_detectsImplicitTLS(t *testing.T) {
	addr, _ := startGoSMTP(t, smtpOpts{Implicit: true})
	start := time.Now()
	out, saved, err := shellRun(t, addr, "EHLO client.example\n.transcript\n.save s.script\n.quit\n")
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("took %s", el)
	}
	mustContain(t, out,
		"sent no greeting within 700ms but answered a TLS ClientHello: continuing over implicit TLS (--tls implicit says so up front)",
		"* TLS: TLS 1.3",
		"S: 220 mail.test.local ESMTP",
		"C: EHLO client.example",
		"S: 250-",
	)
	var ehloInTLS bool
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "C: EHLO client.example  [tls]") {
			ehloInTLS = true
		}
	}
	if !ehloInTLS {
		t.Errorf("the transcript does not show EHLO inside TLS:\n%s", out)
	}
	mustContain(t, saved["s.script"], "connect tls\nexpect 220\nsend EHLO client.example\n")

	// --tls starttls on the same port: the notice names the flag and
	// the shell could not start.
	out, _, err = shellRun(t, addr, "EHLO client.example\n", func(o *ShellOptions) { o.TLSMode = netx.TLSStartTLS })
	if err == nil || !strings.Contains(out, "use --tls implicit") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}
