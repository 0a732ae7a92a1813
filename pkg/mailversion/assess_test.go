package mailversion

import (
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// Banners of products recog has no example of, in the forms these
// servers print by default or when configured to show their version.
func TestIdentify_more(t *testing.T) {
	cases := []struct {
		proto         Protocol
		text          string
		product, ver  string
		partial       bool
		detailContain string
	}{
		{SMTP, "220 mail.example.org ESMTP Postfix (Debian/GNU)", Postfix, "", false, "Debian"},
		{SMTP, "220 mail.test.local ESMTP Postfix", Postfix, "", false, ""},
		{SMTP, "220-mx.example.org ESMTP Exim 4.92.3 #2 Fri, 04 Dec 2026 10:00:00 +0000\r\n220-We do not authorize the use of this system\r\n220 to transport unsolicited mail", Exim, "4.92.3", false, ""},
		{SMTP, "220 mx.example.org ESMTP Exim 4.96-58+deb12u1 Fri, 04 Dec 2026", Exim, "4.96-58+deb12u1", false, ""},
		{SMTP, "220 mail.example.com ESMTP Haraka/2.8.25 ready", Haraka, "2.8.25", false, ""},
		{SMTP, "220 mail.example.com ESMTP Haraka ready", Haraka, "", false, ""},
		{SMTP, "220 mail.example.com ESMTP IceWarp 12.0.2.1; Fri, 04 Dec 2026 10:00:00 +0100", IceWarp, "12.0.2.1", false, ""},
		{SMTP, "220 mail.example.com ESMTP hMailServer 5.6.8-B2574", HMailServer, "5.6.8-B2574", false, ""},
		{SMTP, "220 mail.example.com ESMTP qmail 1.03", Qmail, "1.03", false, ""},
		{SMTP, "220 mail.example.com ESMTP OpenSMTPD", OpenSMTPD, "", false, ""},
		{SMTP, "220 mx.example.com ESMTP MDaemon 23.5.2; Fri, 04 Dec 2026", MDaemon, "23.5.2", false, ""},
		{SMTP, "220 mail.example.com Microsoft ESMTP MAIL Service ready at Fri, 4 Dec 2026 10:00:00 +0000", Exchange, "", false, "2007 or later"},
		{Any, "Received: from EX01.corp.example.com (10.0.0.1) by EX02.corp.example.com (10.0.0.2) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.1.2176.9; Fri, 4 Dec 2026 10:00:00 +0000", Exchange, "15.1.2176.9", false, ""},
		{Any, "X-OWA-Version: 15.2.1118.7", Exchange, "15.2.1118.7", false, ""},
		{IMAP, `* ID ("name" "Dovecot" "version" "2.3.19.1")`, Dovecot, "2.3.19.1", false, ""},
		{IMAP, `* ID ("name" "Zimbra" "version" "8.8.15_GA_4177" "release" "20210427")`, Zimbra, "8.8.15_GA_4177", true, ""},
		{IMAP, `* ID ("name" "Something" "version" "1.0")`, "", "", false, ""},
		{IMAP, "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN] Dovecot (Debian) ready.", Dovecot, "", false, "Debian"},
		{POP3, "+OK Dovecot (Debian) ready.", Dovecot, "", false, "Debian"},
		{POP3, "+OK Hello there.", Courier, "", false, ""},
		{SMTP, "220 Hello there.", "", "", false, ""}, // Courier's words only mean Courier on POP3
		{IMAP, "* OK mail.example.com Cyrus IMAP 3.4.3 server ready", Cyrus, "3.4.3", false, ""},
		{IMAP, "* OK IMAP4rev1 Service Ready", "", "", false, ""},
		{SMTP, "220 mail.example.com ESMTP", "", "", false, ""},
		{SMTP, "220 smtp.gmail.com ESMTP a640c23a62f3a-abc.0 - gsmtp", "", "", false, ""},
		{SMTP, "", "", "", false, ""},
		// A host name is not a product name.
		{SMTP, "220 postfix-relay.example.org ESMTP Sendmail 8.14.4/8.14.4; Fri, 4 Dec 2026 10:00:00 +0100", Sendmail, "8.14.4", false, ""},
		{SMTP, "220 exim.example.org ESMTP Postfix", Postfix, "", false, ""},
		{IMAP, "* OK dovecot.example.org Cyrus IMAP4 v2.3.7 server ready", Cyrus, "2.3.7", false, ""},
		{SMTP, "220 zimbra.example.org ESMTP", "", "", false, ""},
		// A year is not a version: Courier's copyright line.
		{IMAP, "* OK [CAPABILITY IMAP4rev1] Courier-IMAP ready. Copyright 1998-2018 Double Precision, Inc.", Courier, "", false, ""},
	}
	for _, c := range cases {
		sw, ok := Identify(c.proto, c.text)
		if ok != (c.product != "") || sw.Product != c.product || sw.Version != c.ver || sw.Partial != c.partial {
			t.Errorf("Identify(%s, %q) = %+v, %v; want %s %q partial=%v", c.proto, c.text, sw, ok, c.product, c.ver, c.partial)
			continue
		}
		if ok && !strings.Contains(sw.Detail, c.detailContain) {
			t.Errorf("Identify(%q).Detail = %q, want it to contain %q", c.text, sw.Detail, c.detailContain)
		}
		if ok && !strings.Contains(c.text, sw.Evidence) {
			t.Errorf("Identify(%q).Evidence = %q is not a line of the text", c.text, sw.Evidence)
		}
	}
}

func codes(fs []report.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Code+":"+f.Severity.String())
	}
	return out
}

func TestAssess(t *testing.T) {
	// A vulnerable Exim: disclosed, then one finding per CVE.
	a, fs, err := Assess(nil,
		Input{Stage: "banner", Protocol: SMTP, Text: "220 mx.example.org ESMTP Exim 4.91 Fri, 04 Dec 2026 10:00:00 +0000", Seq: []int{1}},
		Input{Stage: "ehlo", Protocol: SMTP, Text: "250-mx.example.org Hello\r\n250 HELP"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Software.Product != Exim || a.Software.Version != "4.91" || a.Stage != "banner" {
		t.Fatalf("assessment %+v", a)
	}
	got := strings.Join(codes(fs), " ")
	if !strings.HasPrefix(got, "version.disclosed:info ") {
		t.Errorf("first finding: %s", got)
	}
	for _, id := range []string{"CVE-2019-10149", "CVE-2019-15846", "CVE-2020-28017", "CVE-2020-28020", "CVE-2023-42115"} {
		found := false
		for _, f := range fs {
			if f.Code == CodeVulnerable && strings.Contains(f.Detail, id) && f.Severity == report.Fail && len(f.Refs) >= 2 && f.Refs[0] == id && strings.HasPrefix(f.Refs[1], "https://") {
				found = true
				if len(f.Evidence) != 1 || !strings.Contains(f.Evidence[0].Text, "Exim 4.91") || len(f.Evidence[0].Seq) != 1 {
					t.Errorf("%s evidence: %+v", id, f.Evidence)
				}
			}
		}
		if !found {
			t.Errorf("Exim 4.91: no fail finding for %s in %s", id, got)
		}
	}
	// Exim 4.92.3 from a Debian package: still 21Nails, and the detail
	// says a package may carry the fix.
	_, fs, _ = Assess(nil, Input{Stage: "banner", Protocol: SMTP, Text: "220 mx ESMTP Exim 4.92-8+deb10u6 Fri, 04 Dec 2026"})
	var deb report.Finding
	for _, f := range fs {
		if f.Code == CodeVulnerable && strings.Contains(f.Detail, "CVE-2020-28017") {
			deb = f
		}
	}
	if !strings.Contains(deb.Detail, "build suffix") || !strings.Contains(deb.Detail, "8+deb10u6") {
		t.Errorf("Debian Exim: detail %q", deb.Detail)
	}
	// A hidden version: one info finding, nothing matched.
	a, fs, _ = Assess(nil, Input{Stage: "banner", Protocol: SMTP, Text: "220 mail.test.local ESMTP Postfix"})
	if len(fs) != 1 || fs[0].Code != CodeUnknown || fs[0].Severity != report.Info || len(a.Matches) != 0 || !strings.Contains(fs[0].Detail, "Postfix") {
		t.Errorf("hidden Postfix: %+v", fs)
	}
	// Nothing identified at all.
	a, fs, _ = Assess(nil, Input{Stage: "banner", Protocol: SMTP, Text: "220 mail.example.com ESMTP ready"})
	if a.Identified || len(fs) != 1 || fs[0].Code != CodeUnknown {
		t.Errorf("unidentified: %+v %+v", a, fs)
	}
	// The ID response names the version the greeting hid: it wins.
	a, fs, _ = Assess(nil,
		Input{Stage: "imap/143 banner", Protocol: IMAP, Text: "* OK [CAPABILITY IMAP4rev1 ID] Dovecot (Debian) ready."},
		Input{Stage: "imap/143 id", Protocol: IMAP, Text: `* ID ("name" "Dovecot" "version" "2.3.7.1")`})
	if a.Software.Version != "2.3.7.1" || a.Stage != "imap/143 id" || a.Software.Detail != "" {
		t.Errorf("Dovecot ID: %+v", a)
	}
	if !strings.Contains(strings.Join(codes(fs), " "), "version.vulnerable:fail") {
		t.Errorf("Dovecot 2.3.7.1: %s", codes(fs))
	}
	// Zimbra without a patch level: possibly, at most warn.
	_, fs, _ = Assess(nil, Input{Stage: "imap/993 banner", Protocol: IMAP, Text: "* OK mail.example.com Zimbra 8.8.15_GA_3869 IMAP4rev1 server ready"})
	n := 0
	for _, f := range fs {
		if f.Code == CodePossiblyVulnerable {
			n++
			if f.Severity != report.Warn || !strings.Contains(f.Detail, "patch level") {
				t.Errorf("Zimbra: %+v", f)
			}
		}
		if f.Code == CodeVulnerable {
			t.Errorf("Zimbra without patch level reported as certainly vulnerable: %s", f.Detail)
		}
	}
	if n != 3 {
		t.Errorf("Zimbra 8.8.15: %d possible findings, want 3", n)
	}
	// Postfix 3.8.4: SMTP smuggling, medium -> warn, with its condition.
	_, fs, _ = Assess(nil, Input{Stage: "banner", Protocol: SMTP, Text: "220 mx ESMTP Postfix (3.8.4)"})
	if got := codes(fs); len(got) != 2 || got[1] != "version.vulnerable:warn" || !strings.Contains(fs[1].Detail, "smtpd_forbid_bare_newline") {
		t.Errorf("Postfix 3.8.4: %v %+v", got, fs)
	}
	// An Exchange build from a Received header: ProxyLogon and ProxyShell.
	a, fs, _ = Assess(nil, Input{Stage: "headers", Protocol: Any, Text: "Received: from EX01 (10.0.0.1) by EX02 (10.0.0.2) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.1.2176.2; Fri, 4 Dec 2026"})
	if a.Software.Product != Exchange || !hasCVE(a.Matches, "CVE-2021-26855", Affected) || !hasCVE(a.Matches, "CVE-2021-34473", Affected) || len(a.Matches) != 2 {
		t.Errorf("Exchange 15.1.2176.2: %+v", a.Matches)
	}
	// IIS's SMTP service version is Windows', never matched as Exchange.
	a, _, _ = Assess(nil, Input{Stage: "banner", Protocol: SMTP, Text: "220 mail Microsoft ESMTP MAIL Service, Version: 6.0.3790.4675 ready at Wed, 21 Jul 2010 19:04:24 -0700"})
	if a.Software.Product != MSSMTP || len(a.Matches) != 0 {
		t.Errorf("IIS SMTP: %+v", a)
	}
	// Every code used is registered.
	for _, c := range []string{CodeDisclosed, CodeUnknown, CodeVulnerable, CodePossiblyVulnerable} {
		if _, ok := report.Lookup(c); !ok {
			t.Errorf("%s not registered", c)
		}
	}
}

func FuzzIdentify(f *testing.F) {
	for _, s := range []string{
		"220 mx ESMTP Exim 4.92.3 #2 Fri, 04 Dec 2026", "* OK [CAPABILITY IMAP4rev1] Dovecot ready.",
		`* ID ("name" "Dovecot" "version" "2.3.19.1")`, "+OK Hello there.", "Postfix (2.8-20100306)",
		"Kerio Connect 9.2.5 patch 3 ESMTP ready", "4.90_RC3", "8.8.15.p34", "with Microsoft SMTP Server id 15.1.2176.9",
	} {
		f.Add(s)
	}
	db, err := Default()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range []Protocol{SMTP, IMAP, POP3, Any} {
			sw, ok := Identify(p, s)
			if ok && sw.Product == "" {
				t.Fatalf("identified without a product: %+v", sw)
			}
			if sw.Version != "" {
				if _, err := ParseVersion(sw.Version); err != nil {
					t.Fatalf("version %q does not parse: %v", sw.Version, err)
				}
			}
			_ = db.Match(sw)
		}
		if v, err := ParseVersion(s); err == nil {
			if Compare(v, v) != 0 {
				t.Fatalf("%q not equal to itself", s)
			}
		}
		_, _ = ParseRange(s)
	})
}
