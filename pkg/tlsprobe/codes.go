package tlsprobe

import "github.com/mailprobe/mailprobe/pkg/report"

// Config lines named by the fixes. Postfix applies smtpd_tls_mandatory_*
// where TLS is required (submission with smtpd_tls_security_level =
// encrypt, and port 465) and smtpd_tls_* where it is opportunistic (port
// 25); Dovecot has one set for IMAP, POP3 and its submission service.
const (
	fixProtocols = "Allow TLS 1.2 and 1.3 only. Postfix: smtpd_tls_mandatory_protocols = >=TLSv1.2 (and smtpd_tls_protocols = >=TLSv1.2 on port 25; before Postfix 3.6 write !SSLv2, !SSLv3, !TLSv1, !TLSv1.1). Dovecot: ssl_min_protocol = TLSv1.2."
	fixCiphers   = "Offer only forward-secret AEAD suites. Postfix: smtpd_tls_mandatory_ciphers = high, tls_high_cipherlist = ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20, smtpd_tls_mandatory_exclude_ciphers = aNULL, eNULL, EXPORT, DES, 3DES, RC4, MD5, PSK, SRP, CAMELLIA, ARIA, SEED, IDEA. Dovecot: ssl_cipher_list = ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!RC4:!MD5."
	fixOrder     = "Let the server choose the suite. Postfix: tls_preempt_cipherlist = yes. Dovecot: ssl_prefer_server_ciphers = yes."
)

func init() {
	refsTLS := []string{"RFC 8996", "RFC 9325 §4.1", "RFC 8314 §4.1"}
	refsSuites := []string{"RFC 9325 §4.2", "RFC 7465", "RFC 8314 §4.1"}
	report.Register(
		report.Code{Code: "tls.connect.failed", Severity: report.Fail, Title: "Cannot connect to the port",
			Fix: "Check the host name and port, that the service listens on it (ss -ltn), and firewalls between here and there."},
		report.Code{Code: "tls.conn.timeout", Severity: report.Fail, Title: "Server did not answer in time",
			Fix: "The detail names the stage that stalled. A silent server after connect is often a firewall or a greeting delay (Postfix postscreen_greet_wait); a silent one after the ClientHello is often a middlebox that drops TLS it does not understand."},
		report.Code{Code: "tls.conn.closed", Severity: report.Fail, Title: "Server closed the connection",
			Fix: "See the server's log for the stage named in the detail; connection limits (Postfix smtpd_client_connection_count_limit, Dovecot mail_max_userip_connections) and TCP wrappers are common causes."},
		report.Code{Code: "tls.conn.reset", Severity: report.Fail, Title: "Connection reset",
			Fix: "A firewall or the server reset the connection at the stage named in the detail; check fail2ban and connection-rate limits."},
		report.Code{Code: "tls.conn.error", Severity: report.Fail, Title: "Network error",
			Fix: "The detail names the stage and the error; check routing and firewalls to the server, or retry."},
		report.Code{Code: "tls.banner.unexpected", Severity: report.Fail, Title: "The greeting is not the expected mail protocol",
			Fix: "Check the port and --starttls: 25/587 speak SMTP, 143 IMAP, 110 POP3, and 465/993/995 expect TLS first (--starttls none)."},
		report.Code{Code: "tls.implicit-detected", Severity: report.Info, Title: "The port speaks implicit TLS",
			Fix:  "Nothing to fix on the server: the port sent no greeting and answered a ClientHello, so mailprobe went on over TLS. Say it to skip the detection: --tls implicit.",
			Refs: []string{"RFC 8314 §3"}},
		report.Code{Code: "tls.server.refused", Severity: report.Fail, Title: "Server refused service before TLS",
			Fix:  "The server answered, but refused this client (SMTP 421/554, IMAP BYE, POP3 -ERR): usually a rate or connection limit, a blocklist or a temporary overload. Retry later or from an allowed address; the reply text says which.",
			Refs: []string{"RFC 5321 §3.1", "RFC 9051 §7.1.5", "RFC 1939 §4"}},
		report.Code{Code: "tls.starttls.not-advertised", Severity: report.Warn, Title: "STARTTLS not advertised",
			Fix:  "Advertise the upgrade: Postfix smtpd_tls_security_level = may (port 25) or encrypt (submission) with a certificate; Dovecot ssl = yes (or required).",
			Refs: []string{"RFC 3207 §4", "RFC 2595 §3.1", "RFC 8314 §3"}},
		report.Code{Code: "tls.starttls.rejected", Severity: report.Fail, Title: "STARTTLS refused: no TLS on this port",
			Fix:  "Configure TLS with a certificate: Postfix smtpd_tls_chain_files and smtpd_tls_security_level; Dovecot ssl = yes, ssl_cert and ssl_key.",
			Refs: []string{"RFC 3207 §4", "RFC 8314 §3"}},
		report.Code{Code: "tls.starttls.not-enforced", Severity: report.Warn, Title: "Passwords are accepted before STARTTLS",
			Fix:  "Refuse logins until TLS is up. Postfix submission: -o smtpd_tls_security_level=encrypt and smtpd_tls_auth_only = yes. Dovecot: ssl = required and disable_plaintext_auth = yes (auth_allow_cleartext = no in 2.4), which also advertises LOGINDISABLED.",
			Refs: []string{"RFC 8314 §3", "RFC 9051 §6.2.3", "RFC 2595 §3.2"}},
		report.Code{Code: "tls.starttls.injection", Severity: report.Fail, Title: "STARTTLS command injection: commands sent before TLS are run inside TLS",
			Fix:  "Upgrade the server: it keeps plaintext input buffered across the TLS upgrade, so a network attacker can inject commands into the protected session. Fixed in Postfix 2.5.12/2.6.9/2.7.3/2.8.4 and later (CVE-2011-0411), Dovecot 2.3.14.1 submission (CVE-2021-33515); other servers had the same bug.",
			Refs: []string{"CVE-2011-0411", "RFC 3207 §4.2", "RFC 2595 §3.1", "NO STARTTLS (USENIX Security 2021)"}},
		report.Code{Code: "tls.starttls.injection-safe", Severity: report.Pass, Title: "STARTTLS command injection: not vulnerable"},
		report.Code{Code: "tls.starttls.pipelined-plaintext", Severity: report.Info, Title: "Server answered a command pipelined after STARTTLS before TLS began",
			Fix:  "Harmless to the TLS session (the reply travelled in plaintext and was discarded), but the server does not stop reading at STARTTLS; a client that trusted those bytes would be misled (RFC 3207 §4.2).",
			Refs: []string{"RFC 3207 §4.2"}},
		report.Code{Code: "tls.starttls.injection-inconclusive", Severity: report.Info, Title: "STARTTLS command injection test inconclusive"},
		report.Code{Code: "tls.handshake.ok", Severity: report.Pass, Title: "TLS handshake completed"},
		report.Code{Code: "tls.handshake.failed", Severity: report.Fail, Title: "TLS handshake failed",
			Fix:  "See the detail and the protocol and cipher findings: a server that offers only obsolete protocols or suites cannot talk to current clients.",
			Refs: []string{"RFC 9325"}},
		report.Code{Code: "tls.handshake.not-tls", Severity: report.Fail, Title: "Server answered the ClientHello with something that is not TLS",
			Fix: "The port does not speak TLS where it should: check --starttls (465/993/995 are implicit TLS, 25/587/143/110 use STARTTLS) and any proxy in front of the server."},
		report.Code{Code: "tls.protocol.sslv3", Severity: report.Fail, Title: "SSL 3.0 accepted", Fix: fixProtocols,
			Refs: []string{"RFC 7568", "CVE-2014-3566 (POODLE)"}},
		report.Code{Code: "tls.protocol.tls10", Severity: report.Warn, Title: "TLS 1.0 accepted", Fix: fixProtocols, Refs: refsTLS},
		report.Code{Code: "tls.protocol.tls11", Severity: report.Warn, Title: "TLS 1.1 accepted", Fix: fixProtocols, Refs: refsTLS},
		report.Code{Code: "tls.protocol.no-modern", Severity: report.Fail, Title: "Neither TLS 1.2 nor TLS 1.3 is supported",
			Fix: "Upgrade OpenSSL (1.1.1 or later) and the mail server, then allow TLS 1.2 and 1.3. " + fixProtocols, Refs: refsTLS},
		report.Code{Code: "tls.protocol.no-tls13", Severity: report.Info, Title: "TLS 1.3 not supported",
			Fix:  "TLS 1.3 comes with OpenSSL 1.1.1 and later (Postfix 3.4+, Dovecot 2.3+); check that no max-protocol setting disables it.",
			Refs: []string{"RFC 8446", "RFC 9325 §4.1"}},
		report.Code{Code: "tls.protocol.ok", Severity: report.Pass, Title: "Only current TLS versions accepted"},
		report.Code{Code: "tls.cipher.export", Severity: report.Fail, Title: "Export-grade cipher suites accepted", Fix: fixCiphers,
			Refs: append([]string{"CVE-2015-0204 (FREAK)", "CVE-2015-4000 (Logjam)"}, refsSuites...)},
		report.Code{Code: "tls.cipher.null", Severity: report.Fail, Title: "Cipher suites without encryption (NULL) accepted", Fix: fixCiphers, Refs: refsSuites},
		report.Code{Code: "tls.cipher.anon", Severity: report.Fail, Title: "Anonymous cipher suites accepted (no server authentication)", Fix: fixCiphers, Refs: refsSuites},
		report.Code{Code: "tls.cipher.rc4", Severity: report.Fail, Title: "RC4 cipher suites accepted", Fix: fixCiphers,
			Refs: []string{"RFC 7465", "RFC 9325 §4.2"}},
		report.Code{Code: "tls.cipher.3des", Severity: report.Fail, Title: "64-bit block ciphers (3DES, DES, IDEA) accepted", Fix: fixCiphers,
			Refs: []string{"CVE-2016-2183 (SWEET32)", "RFC 9325 §4.2"}},
		report.Code{Code: "tls.cipher.no-fs", Severity: report.Warn, Title: "No forward secrecy",
			Fix:  "Prefer ECDHE (or DHE) key exchange so that a stolen server key cannot decrypt recorded sessions. " + fixCiphers + " " + fixOrder,
			Refs: []string{"RFC 9325 §4.2.1"}},
		report.Code{Code: "tls.cipher.non-fs-accepted", Severity: report.Info, Title: "Suites without forward secrecy also accepted",
			Fix:  "Clients that pick them lose forward secrecy; remove static RSA key exchange when old clients allow. " + fixCiphers,
			Refs: []string{"RFC 9325 §4.2.1"}},
		report.Code{Code: "tls.cipher.cbc-only", Severity: report.Warn, Title: "Only CBC-mode suites, no AEAD",
			Fix:  "Enable AES-GCM or ChaCha20-Poly1305 (OpenSSL 1.0.1 or later with TLS 1.2). " + fixCiphers,
			Refs: []string{"RFC 9325 §4.2", "RFC 7457 §2.4"}},
		report.Code{Code: "tls.cipher.client-order", Severity: report.Info, Title: "Server follows the client's cipher order",
			Fix: fixOrder, Refs: []string{"RFC 9325 §4.2"}},
		report.Code{Code: "tls.cipher.ok", Severity: report.Pass, Title: "Cipher suites are strong"},
		report.Code{Code: "tls.dh.weak", Severity: report.Warn, Title: "DHE uses a prime smaller than 2048 bits",
			Fix:  "Use a 2048-bit or larger group, or drop DHE for ECDHE. Postfix: smtpd_tls_dh1024_param_file = /etc/postfix/dh2048.pem (openssl dhparam -out /etc/postfix/dh2048.pem 2048; Postfix 3.7+ uses a built-in 2048-bit group when the parameter is empty). Dovecot: ssl_dh = </etc/dovecot/dh.pem (openssl dhparam -out /etc/dovecot/dh.pem 4096).",
			Refs: []string{"RFC 7919", "CVE-2015-4000 (Logjam)", "RFC 9325 §4.2.1"}},
		report.Code{Code: "tls.group.weak", Severity: report.Warn, Title: "Weak elliptic curve accepted for key exchange",
			Fix:  "Offer X25519, P-256 and P-384 only. Postfix: tls_eecdh_auto_curves = X25519 X448 prime256v1 secp384r1. Dovecot: ssl_curve_list = X25519:prime256v1:secp384r1.",
			Refs: []string{"RFC 8422 §5.1.1", "RFC 9325 §4.2.1"}},
		report.Code{Code: "tls.renegotiation.insecure", Severity: report.Warn, Title: "Secure renegotiation not supported",
			Fix:  "Upgrade OpenSSL (0.9.8m or later) and the server; RFC 5746 support has been standard since 2010.",
			Refs: []string{"RFC 5746", "CVE-2009-3555"}},
		report.Code{Code: "tls.probe.incomplete", Severity: report.Warn, Title: "Enumeration incomplete",
			Fix: "Some probe connections failed, so the lists of protocols and suites may be short. Retry with --parallel 1, from an address the server does not rate-limit, or with a longer --timeout."},
		report.Code{Code: "tls.scan.quick", Severity: report.Info, Title: "Quick profile: one handshake, no enumeration",
			Fix: "Run without --quick to list every accepted protocol, cipher suite and key exchange group."},
	)
}
