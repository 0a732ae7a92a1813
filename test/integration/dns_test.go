//go:build integration

package integration

import (
	"encoding/base64"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"
)

// The DNS commands against NSD, authoritative for test.local (see the
// zone in env/README.md): `dns`, `spf`, `dmarc`, `dkim check`, and
// `dkim verify` on a message signed by `smtp send` and read back from
// Dovecot.
//
// DANE with --connect is not tested: `dns --connect` always dials port 25
// (dnsauth.DANEOptions.Port is not exposed by the CLI), and here the MX
// listens on MP_IT_SMTP_PORT. The TLSA lookup itself is tested below.

func resolverArgs() []string { return []string{"--resolver", E.DNS} }

// dkimPublicKey is the base64 SubjectPublicKeyInfo of this run's DKIM key,
// as the p= tag of its record carries it.
func dkimPublicKey(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(E.DKIMPub)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM block", E.DKIMPub)
	}
	return base64.StdEncoding.EncodeToString(blk.Bytes)
}

func wantDetail(t *testing.T, f *Finding, want ...string) {
	t.Helper()
	if f != nil {
		WantContains(t, f.Code+" detail", f.Detail, want...)
	}
}

// The whole posture of test.local. What the zone gets right passes; what
// a loopback test domain cannot have (a public MX address, an HTTPS
// MTA-STS policy, DNSSEC) is reported as such.
func TestDNS_posture(t *testing.T) {
	t.Parallel()
	r := Run(t, append(append([]string{"dns", E.Domain}, resolverArgs()...), "--selector", E.DKIMSelector, "--format", "json")...)
	rep := r.JSON(t)
	if rep.Command != "dns" || rep.Target != E.Domain {
		t.Errorf("command %q target %q", rep.Command, rep.Target)
	}

	// mx: the record is right; its address is loopback.
	wantDetail(t, rep.WantFinding(t, "mx.ok", "pass"), "10 mail.test.local (127.0.0.1)")
	wantDetail(t, rep.WantFinding(t, "mx.target.private", "fail"), "mail.test.local", "127.0.0.1")
	rep.WantStage(t, "mx", "fail")

	// spf
	wantDetail(t, rep.WantFinding(t, "spf.record.ok", "pass"), "v=spf1 ip4:127.0.0.0/8 -all")
	rep.WantFinding(t, "spf.all.ok", "pass")
	wantDetail(t, rep.WantFinding(t, "spf.range.broad", "warn"), "ip4:127.0.0.0/8", "16777216 addresses")

	// dkim, at the selector given
	wantDetail(t, rep.WantFinding(t, "dkim.key.ok", "pass"), "s="+E.DKIMSelector, "RSA 2048 bits")
	rep.WantStage(t, "dkim", "ok")

	// dmarc: p=reject with reports to the domain itself
	rep.WantStage(t, "dmarc", "info") // the refused _dmarc.local walk, as a note
	rep.WantFinding(t, "dmarc.dns.error", "info")
	wantFindingAt(t, rep, "dmarc.record.ok", "pass", "dmarc")
	wantFindingAt(t, rep, "dmarc.policy.enforced", "pass", "dmarc")

	// ptr: 127.0.0.1 -> mail.test.local -> 127.0.0.1
	wantDetail(t, rep.WantFinding(t, "ptr.ok", "pass"), "mail.test.local (127.0.0.1): mail.test.local")
	rep.WantStage(t, "ptr", "ok")

	// tls-rpt
	wantDetail(t, rep.WantFinding(t, "tlsrpt.ok", "pass"), "mailto:tlsrpt@test.local")
	rep.WantStage(t, "tls-rpt", "ok")

	// mta-sts: the record announces a policy nobody serves here
	wantDetail(t, rep.WantFinding(t, "mtasts.policy.fetch-failed", "fail"), "https://mta-sts.test.local/.well-known/mta-sts.txt")
	rep.WantStage(t, "mta-sts", "fail")

	// dane: the TLSA record of this run's certificate, not DNSSEC-validated
	rep.WantFinding(t, "dane.tlsa.insecure", "warn")
	wantTLSA(t, rep)

	rep.WantFinding(t, "dnssec.unsigned", "info")
	rep.WantFinding(t, "bimi.record.missing", "info")
	rep.WantStage(t, "dnsbl", "skipped")

	if rep.Incomplete {
		t.Errorf("report incomplete; stages: %s", rep.StageList())
	}
	// Fail findings (mx.target.private, mtasts.policy.fetch-failed), every
	// lookup answered: exit 1, not 3.
	r.WantExit(t, 1)
}

// wantTLSA asserts facts.dane holds the TLSA record env.sh published for
// the server certificate (MP_IT_TLSA, "3 1 1 HEX").
func wantTLSA(t *testing.T, rep *Report) {
	t.Helper()
	hosts, _ := rep.Fact("dane", "hosts").([]any)
	if len(hosts) != 1 {
		t.Fatalf("facts.dane.hosts = %v, want mail.test.local", rep.Fact("dane", "hosts"))
	}
	h, _ := hosts[0].(map[string]any)
	tlsa, _ := h["tlsa"].([]any)
	if h["host"] != "mail.test.local" || len(tlsa) != 1 {
		t.Fatalf("facts.dane.hosts[0] = %v, want one TLSA record for mail.test.local", h)
	}
	rec, _ := tlsa[0].(map[string]any)
	f := strings.Fields(E.TLSA)
	got := []any{rec["usage"], rec["selector"], rec["matching_type"], rec["data"]}
	if len(f) != 4 || got[0] != 3.0 || got[1] != 1.0 || got[2] != 1.0 || got[3] != strings.ToLower(f[3]) {
		t.Errorf("TLSA %v, want %s", got, E.TLSA)
	}
}

func TestSPF_checkHost(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ip, result, severity, matched string
		exit                          int
	}{
		{"127.0.0.1", "pass", "pass", "ip4:127.0.0.0/8", 0},
		{"192.0.2.1", "fail", "fail", "-all", 1},
	} {
		t.Run(c.result, func(t *testing.T) {
			t.Parallel()
			r := Run(t, append(append([]string{"spf", E.Domain}, resolverArgs()...),
				"--ip", c.ip, "--from", "x@"+E.Domain, "--format", "json")...)
			r.WantExit(t, c.exit)
			rep := r.JSON(t)
			f := rep.WantFinding(t, "spf.result."+c.result, c.severity)
			wantDetail(t, f, "check_host("+c.ip+", test.local, x@test.local) = "+c.result, `matched "`+c.matched+`"`)
			ev, _ := rep.Fact("spf", "evaluation").(map[string]any)
			if ev["result"] != c.result || ev["ip"] != c.ip || ev["sender"] != "x@test.local" || ev["matched"] != c.matched {
				t.Errorf("facts.spf.evaluation = %v", ev)
			}
			rep.WantFinding(t, "spf.record.ok", "pass")
			if rep.Incomplete {
				t.Errorf("report incomplete")
			}
		})
	}
}

// _dmarc.test.local: p=reject, rua to the domain itself: enforced, no
// external report address to authorize. NSD is authoritative for
// test.local only and REFUSES the tree walk's _dmarc.local query; the
// policy was already found at the domain itself, so that is only a note
// (info) and the policy checks run.
func TestDMARC_policy(t *testing.T) {
	t.Parallel()
	r := Run(t, append(append([]string{"dmarc", E.Domain}, resolverArgs()...), "--format", "json")...)
	rep := r.JSON(t)
	// The refused parent lookup is a note (info), not a broken policy.
	wantDetail(t, rep.WantFinding(t, "dmarc.dns.error", "info"), "_dmarc.local", "REFUSED")
	rep.WantStage(t, "dmarc", "info")
	wantFindingAt(t, rep, "dmarc.record.ok", "pass", "dmarc")
	wantFindingAt(t, rep, "dmarc.policy.enforced", "pass", "dmarc")
	rep.WantNoFinding(t, "dmarc.rua.unauthorized")
	rep.WantNoSeverity(t, "fail")
	rep.WantNoSeverity(t, "warn")
	if p := rep.Fact("dmarc", "check", "policy", "record", "p"); p != "reject" {
		t.Errorf("facts.dmarc.check.policy.record.p = %v, want reject", p)
	}
	if d := rep.Fact("dmarc", "check", "policy", "policy_domain"); d != E.Domain {
		t.Errorf("policy_domain = %v, want %s", d, E.Domain)
	}
	if rep.Incomplete {
		t.Errorf("report incomplete; stages: %s", rep.StageList())
	}
	r.WantExit(t, 0)
}

func TestDKIMCheck_selector(t *testing.T) {
	t.Parallel()
	r := Run(t, append(append([]string{"dkim", "check", E.Domain}, resolverArgs()...), "--selector", E.DKIMSelector, "--format", "json")...)
	r.WantExit(t, 0)
	rep := r.JSON(t)
	rep.WantStage(t, "dkim", "ok")
	wantDetail(t, rep.WantFinding(t, "dkim.key.ok", "pass"), "s="+E.DKIMSelector+": RSA 2048 bits")
	keys, _ := rep.Fact("dkim", "keys").([]any)
	if len(keys) != 1 {
		t.Fatalf("facts.dkim.keys = %v, want one key", rep.Fact("dkim", "keys"))
	}
	k, _ := keys[0].(map[string]any)
	if k["name"] != E.DKIMSelector+"._domainkey."+E.Domain || k["key_type"] != "rsa" || k["bits"] != 2048.0 {
		t.Errorf("key %v", k)
	}
	// The record (published as several strings by NSD) is read whole: its
	// p= is this run's public key.
	rec, _ := k["record"].(string)
	_, p, _ := strings.Cut(rec, "p=")
	if p != dkimPublicKey(t) {
		t.Errorf("p= of the record read back %q, want the key in %s", p, E.DKIMPub)
	}

	// A selector with no key: a fail finding, exit 1.
	r = Run(t, append(append([]string{"dkim", "check", E.Domain}, resolverArgs()...), "--selector", "nosuchselector", "--format", "json")...)
	r.WantExit(t, 1)
	r.JSON(t).WantFinding(t, "dkim.key.missing", "fail")
}

// A message DKIM-signed by `smtp send` with this run's key, submitted to
// Postfix and delivered by LMTP into bob's mailbox, verifies with
// `dkim verify` as read back over IMAP; changed after delivery, it does
// not.
func TestDKIMVerify_signedMessageFromMailbox(t *testing.T) {
	t.Parallel()
	token := Unique(t)
	r := smtpSend(t, E.SubmissionPort, "--tls", "starttls", "--require-tls", "--user", E.User1, "--password-env", "MP_IT_PASS1",
		"--from", E.User1, "--to", E.User2, "--subject", "dkim verify "+token, "--header", "X-Mailprobe-Test: "+token,
		"--body", "Signed body for "+token+".\n", "--dkim-key", E.DKIMKey, "--dkim-selector", E.DKIMSelector, "--format", "json")
	r.WantExit(t, 0)
	wantQueued(t, r.JSON(t))
	msg := WaitForMessage(t, E.User2, E.Pass2, "X-Mailprobe-Test", token, 20*time.Second)
	WantContains(t, "DKIM-Signature", msg.Header("DKIM-Signature"), "d="+E.Domain, "s="+E.DKIMSelector)
	signed := writeFile(t, "signed.eml", string(msg.Raw))

	wantPass := func(t *testing.T, r *Result) {
		t.Helper()
		r.WantExit(t, 0)
		rep := r.JSON(t)
		rep.WantStage(t, "dkim", "ok")
		wantDetail(t, rep.WantFinding(t, "dkim.signature.pass", "pass"), "d=test.local s="+E.DKIMSelector+" a=rsa-sha256", "2048 bits")
		rep.WantNoSeverity(t, "fail")
		sigs, _ := rep.Fact("dkim", "signatures").([]any)
		if len(sigs) != 1 {
			t.Fatalf("facts.dkim.signatures = %v, want one", rep.Fact("dkim", "signatures"))
		}
		s, _ := sigs[0].(map[string]any)
		if s["result"] != "pass" || s["domain"] != E.Domain || s["selector"] != E.DKIMSelector {
			t.Errorf("signature %v", s)
		}
	}
	t.Run("file", func(t *testing.T) {
		wantPass(t, Run(t, append([]string{"dkim", "verify", signed, "--format", "json"}, resolverArgs()...)...))
	})
	t.Run("stdin", func(t *testing.T) {
		wantPass(t, RunWith(t, RunOptions{Stdin: string(msg.Raw)}, append([]string{"dkim", "verify", "-", "--format", "json"}, resolverArgs()...)...))
	})
	t.Run("tampered", func(t *testing.T) {
		subject := "Subject: dkim verify " + token
		if !strings.Contains(string(msg.Raw), subject) {
			t.Fatalf("no %q line in the message", subject)
		}
		changed := writeFile(t, "changed.eml", strings.Replace(string(msg.Raw), subject, "Subject: changed in transit", 1))
		r := Run(t, append([]string{"dkim", "verify", changed, "--format", "json"}, resolverArgs()...)...)
		r.WantExit(t, 1)
		rep := r.JSON(t)
		rep.WantFinding(t, "dkim.signature.fail", "fail")
		rep.WantNoFinding(t, "dkim.signature.pass")
	})
	// DMARC for the delivered message: DKIM d=test.local aligns with
	// From: alice@test.local.
	t.Run("dmarc", func(t *testing.T) {
		r := Run(t, append([]string{"dmarc", "--message", signed, "--format", "json"}, resolverArgs()...)...)
		rep := r.JSON(t)
		rep.WantFinding(t, "dmarc.dns.error", "info")
		rep.WantFinding(t, "dmarc.result.pass", "pass")
		r.WantExit(t, 0)
	})
}
