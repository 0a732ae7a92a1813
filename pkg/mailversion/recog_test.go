package mailversion

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The recog fingerprint databases (testdata/recog, BSD-2-Clause, see
// NOTICE) hold real banners with the product and version rapid7 expects.
// For every example of a product mailversion supports, Identify must name
// the same product and the same version, or the same "no version".

type recogDB struct {
	Fingerprints []struct {
		Pattern     string `xml:"pattern,attr"`
		Description string `xml:"description"`
		Examples    []struct {
			Text  string     `xml:",chardata"`
			Attrs []xml.Attr `xml:",any,attr"`
		} `xml:"example"`
		Params []struct {
			Pos   string `xml:"pos,attr"`
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"param"`
	} `xml:"fingerprint"`
}

// recogProduct maps recog's vendor and product to mailversion's product
// name; "" for products mailversion does not claim to identify.
func recogProduct(vendor, family, product string) string {
	switch {
	case vendor == "Postfix":
		return Postfix
	case strings.EqualFold(vendor, "exim"):
		return Exim
	case vendor == "Sendmail":
		return Sendmail
	case vendor == "Dovecot":
		return Dovecot
	case vendor == "Double Precision":
		return Courier
	case vendor == "Carnegie Mellon University":
		return Cyrus
	case vendor == "Microsoft" && strings.Contains(product, "Exchange"):
		return Exchange
	case vendor == "Microsoft" && product == "IIS":
		return MSSMTP
	case vendor == "Zimbra":
		return Zimbra
	case product == "OpenSMTPD":
		return OpenSMTPD
	case vendor == "Alt-N":
		return MDaemon
	case vendor == "Kerio" && family == "Connect":
		return Kerio
	case vendor == "Merak":
		return IceWarp
	case vendor == "Communigate":
		return CommuniGate
	}
	return ""
}

// disagreements are examples where mailversion answers differently from
// recog on purpose: example text -> why.
var disagreements = map[string]string{
	// recog takes any number after "Exim"; 125302 is no Exim release
	// (they are 4.x), so mailversion says the version is unknown.
	"foo.bar ESMTP Exim 125302 Thu, 16 Nov 2017 04:55:11 -0500 ": "not an Exim release number",
	// recog splits a Postfix snapshot into 2.8 and 20100306; mailversion
	// keeps the snapshot as printed (its upstream part compares as 2.8).
	"foo.bar ESMTP Postfix (2.8-20100306)": "snapshot date kept in the version",
	// Kerio's patch number is part of the version mailversion compares.
	"foo.bar Kerio Connect 9.2.5 patch 3 ESMTP ready": "patch level kept in the version",
}

func TestIdentify_recog(t *testing.T) {
	files := map[string]Protocol{"smtp_banners.xml": SMTP, "imap_banners.xml": IMAP, "pop_banners.xml": POP3}
	checked := map[string]int{}
	for file, proto := range files {
		b, err := os.ReadFile(filepath.Join("testdata", "recog", file))
		if err != nil {
			t.Fatal(err)
		}
		var db recogDB
		if err := xml.Unmarshal(b, &db); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, fp := range db.Fingerprints {
			fixed := map[string]string{}
			versionCaptured := false
			for _, p := range fp.Params {
				if p.Pos == "0" {
					fixed[p.Name] = p.Value
				} else if p.Name == "service.version" {
					versionCaptured = true
				}
			}
			want := recogProduct(fixed["service.vendor"], fixed["service.family"], fixed["service.product"])
			if want == "" {
				continue
			}
			for _, ex := range fp.Examples {
				attrs := map[string]string{}
				for _, a := range ex.Attrs {
					attrs[a.Name.Local] = a.Value
				}
				if attrs["_encoding"] != "" {
					continue
				}
				wantVer := ""
				if versionCaptured {
					wantVer = attrs["service.version"]
				}
				checked[want]++
				got, ok := Identify(proto, ex.Text)
				if why, listed := disagreements[ex.Text]; listed {
					if ok && got.Product == want && got.Version == wantVer {
						t.Errorf("%s %q: listed as a disagreement (%s) but now agrees with recog: remove it", file, ex.Text, why)
					}
					if !ok || got.Product != want {
						t.Errorf("%s %q: product %q, want %q even where the version differs", file, ex.Text, got.Product, want)
					}
					continue
				}
				if !ok {
					t.Errorf("%s %q: not identified, recog says %s %q", file, ex.Text, want, wantVer)
					continue
				}
				if got.Product != want || got.Version != wantVer {
					t.Errorf("%s %q: got %s %q, recog says %s %q", file, ex.Text, got.Product, got.Version, want, wantVer)
				}
				if got.Evidence == "" {
					t.Errorf("%s %q: no evidence", file, ex.Text)
				}
			}
		}
	}
	// Every product the issue names that recog has examples of was seen.
	for _, p := range []string{Postfix, Exim, Sendmail, Dovecot, Courier, Cyrus, Exchange, Zimbra, OpenSMTPD, MDaemon, Kerio, IceWarp} {
		if checked[p] == 0 {
			t.Errorf("no recog example checked for %s", p)
		}
	}
	t.Logf("recog examples checked per product: %v", checked)
}
