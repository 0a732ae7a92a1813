package tlsprobe

import "github.com/mailprobe/mailprobe/pkg/report"

func init() {
	report.Register(
		report.Code{Code: "tls.vuln.heartbleed", Severity: report.Fail, Title: "Heartbleed: the server returns its memory in heartbeat responses",
			Fix:  "Upgrade OpenSSL to 1.0.1g or later (every current distribution's OpenSSL is fixed) and restart every service linked to it (Postfix, Dovecot); then replace the certificate's private key and revoke the old certificate, and change passwords that crossed the server, since they may have leaked.",
			Refs: []string{"CVE-2014-0160", "RFC 6520 §4", "testssl.sh: heartbleed"}},
		report.Code{Code: "tls.vuln.heartbleed.ok", Severity: report.Pass, Title: "Heartbleed: not vulnerable",
			Refs: []string{"CVE-2014-0160"}},
		report.Code{Code: "tls.vuln.heartbleed.untestable", Severity: report.Info, Title: "Heartbleed: could not be tested",
			Fix:  "The detail says why (a refused or dropped connection, often a connection-rate limit); run the scan again later or from an allowed address. This is not a \"not vulnerable\".",
			Refs: []string{"CVE-2014-0160"}},
		report.Code{Code: "tls.vuln.ccs-injection", Severity: report.Fail, Title: "CCS injection: the server accepts an early ChangeCipherSpec",
			Fix:  "Upgrade OpenSSL to 0.9.8za, 1.0.0m, 1.0.1h or later (any current release) and restart Postfix and Dovecot: a man in the middle can make both sides use weak keys and read or change the session.",
			Refs: []string{"CVE-2014-0224", "RFC 5246 §7.1", "testssl.sh: CCS"}},
		report.Code{Code: "tls.vuln.ccs-injection.ok", Severity: report.Pass, Title: "CCS injection: not vulnerable",
			Refs: []string{"CVE-2014-0224"}},
		report.Code{Code: "tls.vuln.ccs-injection.untestable", Severity: report.Info, Title: "CCS injection: could not be tested",
			Fix:  "The detail says why (a refused or dropped connection, often a connection-rate limit); run the scan again later. This is not a \"not vulnerable\".",
			Refs: []string{"CVE-2014-0224"}},
		report.Code{Code: "tls.vuln.compression", Severity: report.Fail, Title: "TLS compression accepted (CRIME)",
			Fix:  "Turn TLS compression off: it is off by default since OpenSSL 1.1.0 and cannot be enabled without rebuilding. Postfix: tls_ssl_options = NO_COMPRESSION (2.11 and later). Dovecot: ssl_options = no_compression (2.2.x).",
			Refs: []string{"CVE-2012-4929", "RFC 7457 §2.6", "RFC 9325 §3.3", "testssl.sh: CRIME_TLS"}},
		report.Code{Code: "tls.vuln.compression.ok", Severity: report.Pass, Title: "TLS compression refused (CRIME): not vulnerable",
			Refs: []string{"CVE-2012-4929"}},
		report.Code{Code: "tls.vuln.compression.untestable", Severity: report.Info, Title: "TLS compression (CRIME): could not be tested",
			Fix:  "The detail says why (a refused or dropped connection, often a connection-rate limit); run the scan again later. This is not a \"not vulnerable\".",
			Refs: []string{"CVE-2012-4929"}},
		report.Code{Code: "tls.vuln.fallback-scsv", Severity: report.Warn, Title: "TLS_FALLBACK_SCSV not honoured: clients can be downgraded",
			Fix:  "Upgrade OpenSSL (1.0.1j and later honour TLS_FALLBACK_SCSV) and restart Postfix and Dovecot; better, accept TLS 1.2 and 1.3 only, which leaves little to fall back to. Postfix: smtpd_tls_mandatory_protocols = >=TLSv1.2. Dovecot: ssl_min_protocol = TLSv1.2.",
			Refs: []string{"RFC 7507", "testssl.sh: fallback_SCSV"}},
		report.Code{Code: "tls.vuln.fallback-scsv.ok", Severity: report.Pass, Title: "TLS_FALLBACK_SCSV honoured",
			Refs: []string{"RFC 7507"}},
		report.Code{Code: "tls.vuln.fallback-scsv.untestable", Severity: report.Info, Title: "TLS_FALLBACK_SCSV: could not be tested",
			Fix:  "The detail says why (a refused or dropped connection, or an alert other than inappropriate_fallback); run the scan again later. This is not a \"not vulnerable\".",
			Refs: []string{"RFC 7507"}},
	)
}

func init() {
	untestable := "The detail says why (a refused or dropped connection, often a connection-rate limit, or a server this check cannot speak to); run the scan again later or from an allowed address. This is not a \"not vulnerable\"."
	report.Register(
		report.Code{Code: "tls.vuln.client-renegotiation", Severity: report.Warn, Title: "Client-initiated renegotiation accepted (DoS)",
			Fix:  "Refuse renegotiation started by clients: each one costs the server a private-key operation, so one client can tie up its CPU. OpenSSL 3 refuses it unless SSL_OP_ALLOW_CLIENT_RENEGOTIATION is set; Postfix 3.4 and later set SSL_OP_NO_RENEGOTIATION (tls_ssl_options = NO_RENEGOTIATION on older ones); Dovecot 2.3 refuses it. Upgrading the server and OpenSSL fixes it; allowing TLS 1.3 only removes renegotiation altogether.",
			Refs: []string{"CVE-2011-1473", "RFC 5746", "testssl.sh: secure_client_renego"}},
		report.Code{Code: "tls.vuln.client-renegotiation.ok", Severity: report.Pass, Title: "Client-initiated renegotiation refused",
			Refs: []string{"CVE-2011-1473"}},
		report.Code{Code: "tls.vuln.client-renegotiation.untestable", Severity: report.Info, Title: "Client-initiated renegotiation: could not be tested",
			Fix: untestable, Refs: []string{"CVE-2011-1473"}},
	)
}

func init() {
	report.Register(
		report.Code{Code: "tls.protocol.sslv2", Severity: report.Fail, Title: "SSL 2.0 accepted",
			Fix:  "Turn SSLv2 off; no current OpenSSL can speak it (removed in 1.1.0), so a server that does runs a very old library: upgrade it. Until then, Postfix: smtpd_tls_protocols = !SSLv2, !SSLv3 and smtpd_tls_mandatory_protocols = !SSLv2, !SSLv3; Dovecot: ssl_protocols = !SSLv2 !SSLv3. A failure on port 25 too: DROWN makes SSLv2 a way into the port's TLS sessions.",
			Refs: []string{"RFC 6176", "CVE-2016-0800 (DROWN)", "testssl.sh: SSLv2"}},
		report.Code{Code: "tls.vuln.drown", Severity: report.Fail, Title: "DROWN: the server speaks SSLv2, exposing TLS sessions that use its key",
			Fix:  "Turn SSLv2 off on every server that uses this certificate's key (tls.protocol.sslv2 says how), then replace the key: it may have been attacked already. Check other hosts and ports sharing the key too (a web or POP3 server with the same certificate).",
			Refs: []string{"CVE-2016-0800", "CVE-2016-0703", "RFC 6176", "testssl.sh: DROWN"}},
		report.Code{Code: "tls.vuln.drown.ok", Severity: report.Pass, Title: "DROWN: no SSLv2 on this port",
			Refs: []string{"CVE-2016-0800"}},
		report.Code{Code: "tls.vuln.drown.untestable", Severity: report.Info, Title: "DROWN: could not be tested",
			Fix:  "The SSLv2 probe connection failed (the detail says how); run the scan again later. This is not a \"not vulnerable\".",
			Refs: []string{"CVE-2016-0800"}},
	)
}

func init() {
	report.Register(
		report.Code{Code: "tls.vuln.ticketbleed", Severity: report.Fail, Title: "Ticketbleed: the server echoes its memory in session IDs",
			Fix:  "Upgrade the TLS front end (F5 BIG-IP: the fixes of K05121675), or turn session tickets off on its SSL profile until then.",
			Refs: []string{"CVE-2016-9244", "RFC 5077 §3.4", "testssl.sh: ticketbleed"}},
		report.Code{Code: "tls.vuln.ticketbleed.ok", Severity: report.Pass, Title: "Ticketbleed: not vulnerable",
			Refs: []string{"CVE-2016-9244"}},
		report.Code{Code: "tls.vuln.ticketbleed.untestable", Severity: report.Info, Title: "Ticketbleed: could not be tested",
			Fix:  "The detail says why (a refused or dropped connection, often a connection-rate limit); run the scan again later. This is not a \"not vulnerable\".",
			Refs: []string{"CVE-2016-9244"}},
	)
}

func init() {
	report.Register(
		report.Code{Code: "tls.ocsp.not-stapled", Severity: report.Info, Title: "No OCSP response stapled",
			Fix:  "Optional for mail: few mail clients check revocation. Postfix's smtpd has no stapling; Dovecot has none either; a TLS proxy in front (HAProxy, nginx stream) can staple.",
			Refs: []string{"RFC 6066 §8", "RFC 6961", "testssl.sh: OCSP_stapling"}},
		report.Code{Code: "tls.ct.none", Severity: report.Info, Title: "No Certificate Transparency timestamps",
			Fix:  "Public CAs embed SCTs in every certificate since 2018; a certificate without them is from a private CA or very old. Mail clients do not require CT.",
			Refs: []string{"RFC 6962 §3.3", "testssl.sh: certificate_transparency"}},
		report.Code{Code: "tls.ct.ok", Severity: report.Pass, Title: "Certificate Transparency timestamps present",
			Refs: []string{"RFC 6962 §3.3", "testssl.sh: certificate_transparency"}},
	)
}

func init() {
	report.Register(
		report.Code{Code: "tls.vuln.beast", Severity: report.Info, Title: "BEAST: CBC suites with TLS 1.0 or SSL 3.0",
			Fix:  "Clients have worked around BEAST since 2012 (1/n-1 record splitting), and a server that also speaks TLS 1.2 is used with it by current clients; the lasting fix is to allow TLS 1.2 and 1.3 only. " + fixProtocols,
			Refs: []string{"CVE-2011-3389", "RFC 7457 §2.3", "testssl.sh: BEAST"}},
		report.Code{Code: "tls.vuln.beast.ok", Severity: report.Pass, Title: "BEAST: no CBC suites with TLS 1.0 or SSL 3.0",
			Refs: []string{"CVE-2011-3389"}},
		report.Code{Code: "tls.vuln.beast.untestable", Severity: report.Info, Title: "BEAST: could not be judged",
			Fix: "No cipher suites were enumerated; see the enumeration's findings.", Refs: []string{"CVE-2011-3389"}},
		report.Code{Code: "tls.vuln.lucky13", Severity: report.Info, Title: "LUCKY13: CBC suites accepted",
			Fix:  "Current OpenSSL is constant-time and not practically affected; testssl.sh still names any CBC suite \"potentially vulnerable\". Prefer AEAD suites (AES-GCM, ChaCha20-Poly1305). " + fixCiphers,
			Refs: []string{"CVE-2013-0169", "RFC 7457 §2.4", "testssl.sh: LUCKY13"}},
		report.Code{Code: "tls.vuln.lucky13.ok", Severity: report.Pass, Title: "LUCKY13: no CBC suites",
			Refs: []string{"CVE-2013-0169"}},
		report.Code{Code: "tls.vuln.lucky13.untestable", Severity: report.Info, Title: "LUCKY13: could not be judged",
			Fix: "No cipher suites were enumerated; see the enumeration's findings.", Refs: []string{"CVE-2013-0169"}},
		report.Code{Code: "tls.vuln.logjam", Severity: report.Fail, Title: "LOGJAM: export Diffie-Hellman suites accepted",
			Fix:  "Remove the export suites (any current OpenSSL has none) and use 2048-bit DH groups or ECDHE. " + fixCiphers,
			Refs: []string{"CVE-2015-4000", "RFC 7919", "testssl.sh: LOGJAM"}},
		report.Code{Code: "tls.vuln.logjam.ok", Severity: report.Pass, Title: "LOGJAM: no export Diffie-Hellman suites",
			Refs: []string{"CVE-2015-4000"}},
		report.Code{Code: "tls.vuln.logjam.untestable", Severity: report.Info, Title: "LOGJAM: could not be judged",
			Fix: "No cipher suites were enumerated; see the enumeration's findings.", Refs: []string{"CVE-2015-4000"}},
	)
}

func init() {
	report.Register(
		report.Code{Code: "tls.vuln.robot", Severity: report.Warn, Title: "ROBOT: the server is a Bleichenbacher padding oracle",
			Fix:  "Upgrade the TLS stack (the fixed versions are listed at robotattack.org) and, until then or for good, turn off static-RSA key exchange: offer only ECDHE and DHE suites. Postfix: smtpd_tls_exclude_ciphers = kRSA (and smtpd_tls_mandatory_exclude_ciphers); Dovecot: ssl_cipher_list = ...:!kRSA. A strong oracle is a failure: recorded sessions can be decrypted and the key used to sign.",
			Refs: []string{"CVE-2017-13099", "CVE-2017-17382", "CVE-2017-6168", "RFC 5246 §7.4.7.1", "testssl.sh: ROBOT"}},
		report.Code{Code: "tls.vuln.robot.ok", Severity: report.Pass, Title: "ROBOT: no padding oracle",
			Refs: []string{"CVE-2017-13099"}},
		report.Code{Code: "tls.vuln.robot.untestable", Severity: report.Info, Title: "ROBOT: could not be tested",
			Fix:  "The detail says why: a connection refused or a hello flight missing part way (often a connection-rate limit; retry later or from an allowed address), answers that did not repeat, or the connection budget. This is not a \"not vulnerable\".",
			Refs: []string{"CVE-2017-13099"}},
	)
}
