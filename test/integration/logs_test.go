//go:build integration

package integration

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// burstTries is the burst of issue 17: 30 wrong passwords from 127.0.0.2
// to Dovecot IMAP and 30 to Postfix submission.
const burstTries = 30

// TestLogs_burst sends the burst for an account of its own, waits until
// both servers have logged it, logs in correctly from the same address,
// and checks `mailprobe logs` on the servers' real logs reports the
// source, the account, the ban and the login after failures.
func TestLogs_burst(t *testing.T) {
	t.Parallel()
	account := "burst-" + strings.ToLower(strings.ReplaceAll(Unique(t), "_", "-")) + "@" + E.Domain
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	// 10 connections of 3 tries each: Dovecot answers each failure after
	// 2 s, and closes a login connection after 3.
	for i := 0; i < burstTries/3; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); errs <- imapWrongLogins(t, account, 3) }()
		go func() { defer wg.Done(); errs <- submissionWrongAuths(t, account, 3) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The servers log asynchronously (Postfix through postlogd, Dovecot
	// when the connection is torn down): wait for the lines themselves.
	waitForLog(t, E.PostfixLog, "sasl_username="+account, burstTries)
	waitForLog(t, E.DovecotLog, "user=<"+account+">", burstTries/3)

	// Now a correct login from the same address: the alarming pattern.
	before := countLines(t, E.DovecotLog, "Login: user=<"+E.User1+">", "rip="+E.ClientAddr)
	if err := imapLogin(t, E.User1, E.Pass1); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, E.DovecotLog, "Login: user=<"+E.User1+">", before+1, "rip="+E.ClientAddr)

	r := Run(t, "logs", E.PostfixLog, E.DovecotLog, "--top", "1000", "--format", "json")
	r.WantExit(t, 1) // the login after failures is a fail finding
	rep := r.JSON(t)
	var sum struct {
		TopSources []struct {
			Address  string   `json:"address"`
			Failures int      `json:"failures"`
			Accounts []string `json:"accounts"`
			Bans     int      `json:"bans"`
		} `json:"top_sources"`
		TopAccounts []struct {
			Account  string `json:"account"`
			Failures int    `json:"failures"`
			Sources  int    `json:"sources"`
		} `json:"top_accounts"`
		Alarms []struct {
			Address        string `json:"address"`
			Account        string `json:"account"`
			Server         string `json:"server"`
			FailuresBefore int    `json:"failures_before"`
		} `json:"success_after_failures"`
	}
	b, _ := json.Marshal(rep.Fact("summary"))
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatalf("summary fact: %v\n%s", err, b)
	}
	found := false
	for _, s := range sum.TopSources {
		if s.Address == E.ClientAddr {
			found = true
			// Other tests fail logins from this address too: at least ours.
			if s.Failures < 2*burstTries || s.Bans < 1 || !contains(s.Accounts, account) && len(s.Accounts) < 16 {
				t.Errorf("source %s: %+v", E.ClientAddr, s)
			}
		}
	}
	if !found {
		t.Errorf("source %s not reported: %+v", E.ClientAddr, sum.TopSources)
	}
	found = false
	for _, a := range sum.TopAccounts {
		if a.Account == account {
			found = true
			// Exactly ours: 30 IMAP (10 lines of 3 attempts) and 30 SASL.
			if a.Failures != 2*burstTries || a.Sources != 1 {
				t.Errorf("account %s: %+v", account, a)
			}
		}
	}
	if !found {
		t.Errorf("account %s not reported: %+v", account, sum.TopAccounts)
	}
	found = false
	for _, a := range sum.Alarms {
		if a.Address == E.ClientAddr && a.Account == E.User1 && a.Server == "dovecot" && a.FailuresBefore >= 2*burstTries {
			found = true
		}
	}
	if !found {
		t.Errorf("no login-after-failures alarm for %s from %s: %+v", E.User1, E.ClientAddr, sum.Alarms)
	}
	for _, code := range []string{"logs.source.brute-force", "logs.account.targeted", "logs.fail2ban.would-ban", "logs.login.after-failures"} {
		if rep.Finding(code) == nil {
			t.Errorf("no %s finding: %v", code, rep.Codes())
		}
	}
	// The text report names them too, and stdin works the same.
	log, err := os.ReadFile(E.DovecotLog)
	if err != nil {
		t.Fatal(err)
	}
	r = RunWith(t, RunOptions{Stdin: string(log)}, "logs", "-", "--top", "1000")
	WantContains(t, "text report", Flatten(r.Stdout), E.ClientAddr+":", account)
}

func dialFromClient(t *testing.T, port int) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(E.ClientAddr)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", E.Addr(port))
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	}
	return c, err
}

// imapWrongLogins logs in n times with a wrong password over IMAPS.
func imapWrongLogins(t *testing.T, user string, n int) error {
	raw, err := dialFromClient(t, E.IMAPSPort)
	if err != nil {
		return err
	}
	c := tls.Client(raw, E.TLSConfig(t))
	defer c.Close()
	br := bufio.NewReader(c)
	if _, err := br.ReadString('\n'); err != nil {
		return fmt.Errorf("imap greeting: %w", err)
	}
	for i := 0; i < n; i++ {
		tag := fmt.Sprintf("a%d", i)
		fmt.Fprintf(c, "%s LOGIN %s wrong-password-%d\r\n", tag, user, i)
		if line, err := readTagged(br, tag); err != nil {
			return fmt.Errorf("imap LOGIN %d: %w", i, err)
		} else if !strings.HasPrefix(line, tag+" NO") {
			return fmt.Errorf("imap LOGIN with a wrong password: %q", line)
		}
	}
	return nil
}

// imapLogin logs in correctly over IMAPS and logs out.
func imapLogin(t *testing.T, user, pass string) error {
	raw, err := dialFromClient(t, E.IMAPSPort)
	if err != nil {
		return err
	}
	c := tls.Client(raw, E.TLSConfig(t))
	defer c.Close()
	br := bufio.NewReader(c)
	if _, err := br.ReadString('\n'); err != nil {
		return err
	}
	fmt.Fprintf(c, "a1 LOGIN %s %s\r\n", user, pass)
	if line, err := readTagged(br, "a1"); err != nil || !strings.HasPrefix(line, "a1 OK") {
		return fmt.Errorf("imap LOGIN as %s: %q %v", user, line, err)
	}
	fmt.Fprintf(c, "a2 LOGOUT\r\n")
	_, err = readTagged(br, "a2")
	return err
}

func readTagged(br *bufio.Reader, tag string) (string, error) {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return line, err
		}
		if strings.HasPrefix(line, tag+" ") {
			return strings.TrimRight(line, "\r\n"), nil
		}
	}
}

// submissionWrongAuths tries AUTH PLAIN n times with a wrong password on
// the submission port, after STARTTLS.
func submissionWrongAuths(t *testing.T, user string, n int) error {
	raw, err := dialFromClient(t, E.SubmissionPort)
	if err != nil {
		return err
	}
	defer raw.Close()
	var c net.Conn = raw
	br := bufio.NewReader(c)
	reply := func() (string, error) {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return line, err
			}
			if len(line) < 4 || line[3] != '-' {
				return strings.TrimRight(line, "\r\n"), nil
			}
		}
	}
	send := func(cmd, want string) error {
		if cmd != "" {
			fmt.Fprintf(c, "%s\r\n", cmd)
		}
		line, err := reply()
		if err != nil || !strings.HasPrefix(line, want) {
			return fmt.Errorf("submission %q: %q %v", strings.Fields(cmd + " greeting")[0], line, err)
		}
		return nil
	}
	for _, step := range [][2]string{{"", "220"}, {"EHLO client.test.local", "250"}, {"STARTTLS", "220"}} {
		if err := send(step[0], step[1]); err != nil {
			return err
		}
	}
	tc := tls.Client(raw, E.TLSConfig(t))
	c, br = tc, bufio.NewReader(tc)
	if err := send("EHLO client.test.local", "250"); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		blob := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00wrong-password-" + fmt.Sprint(i)))
		if err := send("AUTH PLAIN "+blob, "535"); err != nil {
			return err
		}
	}
	return send("QUIT", "221")
}

// waitForLog waits until path has at least n lines containing every one
// of the strings: the servers write their logs after answering.
func waitForLog(t *testing.T, path, what string, n int, also ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := countLines(t, path, what, also...)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d lines with %q after 30 s, want %d\n%s", path, got, what, n, tail(path, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func countLines(t *testing.T, path, what string, also ...string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.Contains(l, what) {
			continue
		}
		ok := true
		for _, a := range also {
			ok = ok && strings.Contains(l, a)
		}
		if ok {
			n++
		}
	}
	return n
}
