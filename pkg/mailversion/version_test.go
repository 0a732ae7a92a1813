package mailversion

import "testing"

func TestCompare(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"4.92.3", "4.92.2", 1},
		{"4.92", "4.92.0", 0},
		{"4.92", "4.92.1", -1},
		{"4.84_2", "4.84.2", 0},  // Exim fix releases
		{"4.84_2", "4.84", 1},    //
		{"4.90_RC3", "4.90", -1}, // pre-release below its release
		{"4.90_RC3", "4.89", 1},
		{"4.90_RC3", "4.90_RC4", -1},
		{"2.3.7.2", "2.3.7.1", 1}, // Dovecot
		{"2.3.7.2", "2.3.10", -1}, // numeric, not string, order
		{"3.8.4", "3.8.10", -1},   // Postfix
		{"15.1.2176.9", "15.1.2176.12", -1},
		{"15.1.2176.9", "15.1.2106.13", 1}, // Exchange builds
		{"8.11.6p2", "8.11.6", 1},          // Sendmail patch
		{"8.11.6p2", "8.11.7", -1},
		{"6.6.1p1", "6.6.2", -1}, // OpenSMTPD portable
		{"8.8.15.p34", "8.8.15.p9", 1},
		{"9.2.5 patch 3", "9.2.5.3", 0}, // Kerio
		{"4.92-8+deb10u6", "4.92", 0},   // distribution suffix is not upstream
		{"v2.3.7", "2.3.7", 0},
	}
	for _, c := range cases {
		a, err := ParseVersion(c.a)
		if err != nil {
			t.Fatalf("%s: %v", c.a, err)
		}
		b, err := ParseVersion(c.b)
		if err != nil {
			t.Fatalf("%s: %v", c.b, err)
		}
		if got := Compare(a, b); got != c.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Compare(b, a); got != -c.want {
			t.Errorf("Compare(%s, %s) = %d, want %d (antisymmetry)", c.b, c.a, got, -c.want)
		}
	}
}

func TestParseVersion_build(t *testing.T) {
	for in, build := range map[string]string{
		"4.92-8+deb10u6":                 "8+deb10u6",
		"7.0.0_GA_3079":                  "GA_3079",
		"2.4.8-Invoca-RPM-2.4.8-1":       "Invoca-RPM-2.4.8-1",
		"3.0.8-Debian-3.0.8-6+deb10u6":   "Debian-3.0.8-6+deb10u6",
		"4.92.3":                         "",
		"8.13.5.20060308":                "",
		"4.89_1b":                        "b",
		"2.8-20100306":                   "20100306",
		"15.1.2176.9":                    "",
		"8.9.3+3.4W":                     "3.4W",
		"9.2.5 patch 3":                  "",
		"4.90_RC3":                       "",
		"1.2.3.4.5.6.7.8.9.10":           ".9.10", // at most 8 parts are read
		"99999999999999999999.1":         "",      // rejected below
		"":                               "",
		"unknown":                        "",
		"v":                              "",
		"4.":                             ".",
		"1.2.3-rc":                       "",
		"1.2.3beta2":                     "",
		"2.3.19.1 (9b53102964)":          "(9b53102964)",
		"12345678901234567890123456.789": "",
	} {
		v, err := ParseVersion(in)
		if err != nil {
			continue // the rejects: "", "unknown", "v", too long a number
		}
		if v.Build != build {
			t.Errorf("ParseVersion(%q).Build = %q, want %q", in, v.Build, build)
		}
	}
	for _, bad := range []string{"", "unknown", "v", "x1.2", "99999999999999999999.1"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
	}
}

func TestParseRange(t *testing.T) {
	good := map[string][]string{ // range -> in, out
		"<4.92":                      {"4.91", "4.92"},
		">=4.87,<4.92":               {"4.87", "4.86"},
		">=4.87, <4.92":              {"4.91.9", "4.92.0"},
		"<=2.3.7.1":                  {"2.3.7.1", "2.3.7.2"},
		"=2.3.19.1":                  {"2.3.19.1", "2.3.19"},
		">=15.1.2176.0,<15.1.2176.9": {"15.1.2176.2", "15.1.2242.4"},
		">8.8.15,<8.8.15.p34":        {"8.8.15.p1", "8.8.15"},
	}
	for s, io := range good {
		r, err := ParseRange(s)
		if err != nil {
			t.Fatalf("ParseRange(%q): %v", s, err)
		}
		in, _ := ParseVersion(io[0])
		out, _ := ParseVersion(io[1])
		if !r.Contains(in) {
			t.Errorf("%q should contain %s", s, io[0])
		}
		if r.Contains(out) {
			t.Errorf("%q should not contain %s", s, io[1])
		}
	}
	for _, bad := range []string{"", "4.92", ">=4.87", ">4.0", "<4.92,<4.93", ">=4.92,<4.87", ">=4.92,<4.92", "<abc", "<4.92-debian", "=4.1,>=4.0", "~4.92", "<4.92,"} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("ParseRange(%q) accepted", bad)
		}
	}
}
