//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// `mailprobe tls` against testssl.sh (Debian's testssl.sh package) on
// the same ports: every TLS port of the environment — Postfix's port-25,
// submission and submissions listeners in their Debian defaults, the
// weakened-TLS Postfix listener (MP_IT_WEAKTLS_PORT: TLS 1.0+, static
// RSA, a 1024-bit DH group, the client's order, client-initiated
// renegotiation allowed), and Dovecot's IMAP, IMAPS, POP3 and POP3S (about
// six minutes for the eight testssl.sh runs at once on two cores). testssl.sh runs only the
// sections compared (-p protocols, -U vulnerabilities, -S server
// defaults, -P server preferences; -U without BEAST and LUCKY13, see
// runTestssl), all ports at once, DNS lookups off
// (everything stays on loopback). Every check both make must agree;
// where they differ on purpose, the table says why.
//
// testssl.sh takes minutes per port here (it forks openssl for most
// checks); mailprobe takes seconds. Both durations are logged.

// testsslEntry is one finding of testssl.sh's --jsonfile.
type testsslEntry struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Finding  string `json:"finding"`
}

type testsslRun struct {
	entries  map[string]testsslEntry
	duration time.Duration
	err      error
}

func runTestssl(l tlsListener, dir string) testsslRun {
	path, err := exec.LookPath("testssl")
	if err != nil {
		return testsslRun{err: fmt.Errorf("testssl.sh is not installed (env.sh install installs it): %w", err)}
	}
	jf := filepath.Join(dir, "testssl-"+l.name+".json")
	// -U without -A (BEAST) and -L (LUCKY13): testssl.sh forks openssl
	// once per CBC suite and protocol for them, minutes on a STARTTLS
	// port; both are read from the cipher list, which TestTLS_scan
	// compares with sslscan suite by suite. POODLE (-O) is the SSLv3
	// protocol check, and BREACH and Ticketbleed (-B, -T) are HTTPS-only
	// in testssl.sh.
	args := []string{"--quiet", "--color", "0", "--nodns", "none", "--warnings", "off", "-p", "-S", "-P",
		"-H", "-I", "-BB", "-R", "-C", "-Z", "-W", "-F", "-D", "-J", "-4", "--jsonfile", jf}
	if l.starttls != "none" {
		args = append(args, "--starttls", l.starttls)
	}
	args = append(args, E.Addr(l.port))
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	res := testsslRun{duration: time.Since(start), entries: map[string]testsslEntry{}}
	b, rerr := os.ReadFile(jf)
	if rerr != nil {
		res.err = fmt.Errorf("testssl %s: %v (%v)\n%s", strings.Join(args, " "), rerr, err, out)
		return res
	}
	var list []testsslEntry
	if err := json.Unmarshal(b, &list); err != nil {
		res.err = fmt.Errorf("testssl JSON: %v", err)
		return res
	}
	for _, e := range list {
		res.entries[e.ID] = e
	}
	return res
}

// testsslVulnerable reads testssl.sh's verdict: OK and INFO are "not
// vulnerable" (as is a finding that says so), the rest vulnerable.
func testsslVulnerable(e testsslEntry) bool {
	f := strings.ToLower(e.Finding)
	if strings.HasPrefix(f, "not vulnerable") || strings.Contains(f, "not vulnerable") && !strings.Contains(f, "potentially") {
		return false
	}
	switch e.Severity {
	case "OK", "INFO":
		return false
	}
	return true
}

func TestTLS_testsslAgreement(t *testing.T) {
	// testssl.sh needs about ten minutes here beside the rest of the
	// suite: more than go test's default 10 m (the Makefile gives 25 m).
	if d, ok := t.Deadline(); ok && time.Until(d) < 15*time.Minute {
		t.Fatalf("go test -timeout leaves %s; testssl.sh needs up to 15 min here: run with -timeout 25m (make integration does)", time.Until(d).Round(time.Second))
	}
	weak, _ := strconv.Atoi(os.Getenv("MP_IT_WEAKTLS_PORT"))
	if weak == 0 {
		t.Fatal("MP_IT_WEAKTLS_PORT is not set: env.sh is too old for this test")
	}
	listeners := []tlsListener{
		{name: "smtp-mx", port: E.SMTPPort, starttls: "smtp", role: "mx", postfix: true},
		{name: "weaktls", port: weak, starttls: "smtp", role: "mx", postfix: true},
		{name: "submission", port: E.SubmissionPort, starttls: "smtp", role: "submission", postfix: true},
		{name: "submissions", port: E.SubmissionsPort, starttls: "none", role: "submission", postfix: true},
		{name: "imap", port: E.IMAPPort, starttls: "imap", role: "imap"},
		{name: "imaps", port: E.IMAPSPort, starttls: "none", role: "imap"},
		{name: "pop3", port: E.POP3Port, starttls: "pop3", role: "pop3"},
		{name: "pop3s", port: E.POP3SPort, starttls: "none", role: "pop3"},
	}
	dir := t.TempDir()
	ts := make([]testsslRun, len(listeners))
	var wg sync.WaitGroup
	for i, l := range listeners {
		wg.Go(func() { ts[i] = runTestssl(l, dir) })
	}
	for i, l := range listeners {
		t.Run(l.name, func(t *testing.T) {
			start := time.Now()
			r := tlsRun(t, l)
			took := time.Since(start)
			rep := r.JSON(t)
			wg.Wait()
			tr := ts[i]
			if tr.err != nil {
				t.Fatal(tr.err)
			}
			t.Logf("mailprobe tls %s, testssl.sh -p -U -S -P %s", took.Round(time.Millisecond), tr.duration.Round(time.Second))
			compareTestssl(t, l, rep, tr.entries)
		})
	}
}

func compareTestssl(t *testing.T, l tlsListener, rep *Report, ts map[string]testsslEntry) {
	t.Helper()
	get := func(id string) (testsslEntry, bool) {
		e, ok := ts[id]
		if !ok {
			t.Errorf("testssl.sh reported no %s", id)
		}
		if ok && e.Severity == "WARN" {
			// testssl.sh's own failure ("check failed because of connect
			// problem": a Postfix smtpd busy with the other scans): no
			// verdict to compare with, not a disagreement.
			t.Logf("%s: testssl.sh could not test it: %q", id, e.Finding)
			return e, false
		}
		return e, ok
	}
	// Protocols.
	protos, _ := rep.Facts["protocols"].([]any)
	has := map[string]bool{}
	for _, p := range protos {
		s, _ := p.(string)
		has[s] = true
	}
	for id, name := range map[string]string{"SSLv2": "SSL 2.0", "SSLv3": "SSL 3.0", "TLS1": "TLS 1.0", "TLS1_1": "TLS 1.1", "TLS1_2": "TLS 1.2", "TLS1_3": "TLS 1.3"} {
		if e, ok := get(id); ok {
			offered := strings.HasPrefix(e.Finding, "offered")
			if offered != has[name] {
				t.Errorf("%s: testssl.sh %q, mailprobe protocols %v", id, e.Finding, protos)
			}
		}
	}

	// Vulnerabilities: testssl.sh id → mailprobe check.
	checks := map[string]string{}
	vulns, _ := rep.Facts["vulnerabilities"].([]any)
	for _, v := range vulns {
		m, _ := v.(map[string]any)
		c, _ := m["check"].(string)
		s, _ := m["status"].(string)
		checks[c] = s
	}
	for id, check := range map[string]string{
		"heartbleed": "heartbleed", "CCS": "ccs-injection", "ROBOT": "robot", "secure_renego": "secure-renegotiation",
		"secure_client_renego": "client-renegotiation", "CRIME_TLS": "compression", "SWEET32": "sweet32",
		"FREAK": "freak", "DROWN": "drown", "LOGJAM": "logjam", "RC4": "rc4", "fallback_SCSV": "fallback-scsv",
	} {
		e, ok := get(id)
		if !ok {
			continue
		}
		mp := checks[check]
		var tsVuln bool
		switch id {
		case "secure_renego":
			tsVuln = !strings.HasPrefix(e.Finding, "supported")
		case "fallback_SCSV":
			// "supported", or "no protocol below ... offered?" when there is
			// nothing to fall back to (mailprobe: not applicable).
			tsVuln = e.Severity != "OK" && e.Severity != "INFO"
		default:
			tsVuln = testsslVulnerable(e)
		}
		mpVuln := mp == "vulnerable"
		if mp == "not applicable" {
			// mailprobe: nothing to test (no static RSA for ROBOT, one
			// version for the fallback); testssl.sh says "not vulnerable".
			mpVuln = false
		}
		if tsVuln != mpVuln || mp == "not testable" || mp == "" {
			t.Errorf("%s: testssl.sh %s %q, mailprobe %s: %q", id, e.Severity, e.Finding, check, mp)
		}
	}
	// Ticketbleed: testssl.sh tests HTTPS only ("not applicable, not
	// HTTP"); mailprobe tests wherever tickets are issued, and these
	// OpenSSL servers are not F5.
	if checks["ticketbleed"] == "vulnerable" || checks["ticketbleed"] == "not testable" {
		t.Errorf("ticketbleed: %s", checks["ticketbleed"])
	}

	// Server defaults: resumption, tickets, OCSP stapling.
	sc := scanFacts(t, rep)
	var res struct {
		SessionID string `json:"session_id"`
		Ticket    string `json:"ticket"`
		Lifetime  *int   `json:"ticket_lifetime_hint"`
	}
	if raw, ok := rep.Facts["scan"].(map[string]any)["resumption"]; ok {
		b, _ := json.Marshal(raw)
		json.Unmarshal(b, &res)
	} else {
		t.Errorf("no facts.scan.resumption")
	}
	if e, ok := get("sessionresumption_ticket"); ok {
		if (e.Finding == "supported") != (res.Ticket == "resumed") {
			t.Errorf("ticket resumption: testssl.sh %q, mailprobe %q", e.Finding, res.Ticket)
		}
	}
	// testssl.sh's "ID" resumption uses its best protocol with -no_ticket:
	// against a TLS 1.3 server that issues tickets that is a TLS 1.3
	// stateful-PSK resumption, which Postfix supports, not a TLS 1.2
	// session ID, which Postfix without smtpd_tls_session_cache_database
	// does not resume. mailprobe checks TLS 1.2 session IDs, so the two
	// are compared only where testssl.sh's test is the same one.
	_, tickets := ts["TLS_session_ticket"]
	tls13 := strings.HasPrefix(ts["TLS1_3"].Finding, "offered")
	if e, ok := get("sessionresumption_ID"); ok && !(tickets && tls13 && res.Ticket != "not issued") {
		if (e.Finding == "supported") != (res.SessionID == "resumed") {
			t.Errorf("session ID resumption: testssl.sh %q, mailprobe %q", e.Finding, res.SessionID)
		}
	}
	if e, ok := ts["TLS_session_ticket"]; ok && res.Lifetime != nil {
		if !strings.Contains(e.Finding, strconv.Itoa(*res.Lifetime)+" seconds") {
			t.Errorf("ticket lifetime: testssl.sh %q, mailprobe %d", e.Finding, *res.Lifetime)
		}
	}
	if e, ok := get("OCSP_stapling"); ok {
		stapled := rep.Finding("cert.ocsp-stapled") != nil
		if strings.HasPrefix(e.Finding, "not offered") == stapled {
			t.Errorf("OCSP stapling: testssl.sh %q, mailprobe stapled %v", e.Finding, stapled)
		}
	}

	// Server preferences: whether the server enforces its order.
	if e, ok := get("cipher_order"); ok {
		server := false
		for _, v := range sc.Versions {
			if v.Supported && v.Version != "TLS 1.3" && v.ServerPreference != nil && *v.ServerPreference {
				server = true
			}
		}
		tsServer := e.Severity == "OK" || strings.HasPrefix(e.Finding, "server")
		if tsServer != server {
			t.Errorf("cipher order: testssl.sh %s %q, mailprobe server order %v", e.Severity, e.Finding, server)
		}
	}
}
