package imapaudit

import (
	"strings"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// The two protocols share most checks; their codes differ only by prefix
// (imap.* and pop3.*) and by the names of commands in titles and fixes.
func init() {
	for _, p := range []struct{ prefix, name, stls, logindisabled, plainLogin, dovecotTLS string }{
		{"imap", "IMAP", "STARTTLS", "LOGINDISABLED", "LOGIN", "ssl = required"},
		{"pop3", "POP3", "STLS", "USER (offered before TLS)", "USER/PASS", "ssl = required"},
	} {
		r := strings.NewReplacer("{P}", p.name, "{STLS}", p.stls, "{LOGIN}", p.plainLogin)
		c := func(code string, sev report.Severity, title, fix string, refs ...string) report.Code {
			return report.Code{Code: p.prefix + "." + code, Severity: sev, Title: r.Replace(title), Fix: r.Replace(fix), Refs: refs}
		}
		tlsRef := "RFC 8314 §3"
		protoRef := "RFC 9051 §6.2.1"
		if p.prefix == "pop3" {
			protoRef = "RFC 2595 §4"
		}
		report.Register(
			c("connect.failed", report.Fail, "Cannot connect to the {P} port", "Check the host and port, that the server listens there and that no firewall drops the connection."),
			c("conn.timeout", report.Fail, "{P} server did not answer in time", "The server accepted the connection but went silent: check its logs, its process limits and any proxy in front of it."),
			c("conn.closed", report.Fail, "{P} server closed the connection", "The server hung up in the middle of the dialogue: check its logs for the reason (limits, crashes, a proxy timeout)."),
			c("conn.reset", report.Fail, "{P} connection reset", "Something reset the connection: a firewall, an intrusion-prevention system or a crashing server process."),
			c("conn.error", report.Fail, "{P} connection failed", "See the detail for the error."),
			c("greeting.malformed", report.Fail, "{P} greeting is not valid", "The port does not speak {P}, or something in front of it answers instead. Check the port and the service behind it.", protoRef),
			c("response.too-large", report.Fail, "{P} response exceeded mailprobe's bound", "One answer of the server exceeded the byte or line bound mailprobe keeps for a response (literals included), so the stage stopped. A sane server's CAPABILITY, ID or LOGIN answer is a few hundred bytes: check for a proxy or a server that loops (a literal that ends in another literal).", protoRef),
			c("client.local", report.Info, "Audited from the server's own machine", "Servers trust local clients: Dovecot treats a client on its own IP or over loopback as secured (login_trusted_networks, and a local connection is \"secured\" even without TLS), so it may offer other capabilities and omit LOGINDISABLED. Run the audit from another machine to see what remote clients see.", protoRef),
			c("greeting.refused", report.Fail, "{P} server refused the connection", "The server sent BYE/-ERR on connect: it is overloaded, rate-limiting this address, or refusing it. The text says which.", protoRef),
			c("greeting.preauth", report.Warn, "{P} server pre-authenticated the connection", "A PREAUTH greeting logs in without credentials; make sure it only happens over a trusted local channel.", "RFC 9051 §7.1.4"),
			c("banner.software", report.Info, "Greeting names the server software", "Harmless on its own, but it tells attackers what to look up. Dovecot: login_greeting = Ready."),
			c("banner.version", report.Warn, "Greeting discloses the software version", "Remove the version from the greeting: Dovecot login_greeting = Ready."),
			c("id.version", report.Info, "IMAP ID discloses the server version", "Dovecot: imap_id_send = name (not \"name version os\") — or leave it empty.", "RFC 2971 §3.3"),
			c("capability.ok", report.Pass, "{P} capabilities read", ""),
			c("starttls.missing", report.Fail, "{P} port does not offer {STLS}", "Enable TLS so passwords never travel in the clear: Dovecot ssl = required with ssl_cert/ssl_key; better still, serve only the implicit-TLS port (993/995) and close this one.", tlsRef, protoRef),
			c("starttls.refused", report.Fail, "{P} server refused {STLS}", "The server advertises {STLS} but refused it: check that its certificate and key are readable by the login process (Dovecot ssl_cert = </path, ssl_key = </path).", protoRef),
			c("starttls.failed", report.Fail, "{P} TLS handshake failed", "See the detail for the TLS error; run `mailprobe tls HOST:PORT` for the full list of what the server accepts.", tlsRef),
			c("starttls.ok", report.Pass, "{P} TLS established", ""),
			c("tls.implicit-detected", report.Info, "{P} port speaks implicit TLS", "Nothing to fix on the server: the port sent no greeting and answered a ClientHello, so mailprobe went on over TLS. Say it to skip the detection: --tls implicit.", "RFC 8314 §3"),
			c("starttls.injection", report.Fail, "{P} {STLS} command injection: commands sent before TLS are answered inside it", "Upgrade the server: it keeps plaintext input buffered across the TLS handshake (the CVE-2011-0411 class), so a man in the middle can inject commands into the encrypted session.", "CVE-2011-0411", "RFC 2595 §3.1"),
			c("starttls.unsolicited", report.Fail, "{P} server sent data between its {STLS} reply and the handshake", "Nothing may follow the {STLS} go-ahead before TLS; an attacker could plant responses there. Check for a proxy or a buggy server.", "RFC 9051 §11.1"),
			c("logindisabled.missing", report.Fail, "{P} offers plaintext login before TLS", "Refuse logins until TLS is up, so passwords are never sent in the clear: Dovecot disable_plaintext_auth = yes (2.3) / auth_allow_cleartext = no (2.4).", protoRef, "RFC 8314 §3"),
			c("auth.plaintext", report.Fail, "{P} offers PLAIN or LOGIN authentication before TLS", "Only advertise password mechanisms after TLS: Dovecot disable_plaintext_auth = yes (2.3) / auth_allow_cleartext = no (2.4).", protoRef, "RFC 8314 §3"),
			c("plaintext-login.refused", report.Pass, "{P} refuses passwords before TLS", ""),
			c("plaintext-login.checked", report.Fail, "{P} checks passwords sent before TLS", "The server answered a {LOGIN} with a made-up account by checking it, not by refusing the unencrypted login: a real password sent in the clear would be accepted. Dovecot disable_plaintext_auth = yes.", protoRef, "RFC 8314 §3"),
			c("plaintext-login.accepted", report.Fail, "{P} accepted a real login before TLS", "The password travelled in the clear and was accepted. Refuse logins before TLS (Dovecot disable_plaintext_auth = yes) and change the password if this crossed an untrusted network.", "RFC 8314 §3"),
			c("login.ok", report.Pass, "{P} login succeeded", ""),
			c("login.any-password", report.Fail, "{P} accepted a wrong password", "The server logged in with a random password: authentication is not checked (a catch-all or misconfigured passdb, e.g. Dovecot passdb static without password). Fix the passdb before anything else."),
			c("login.failed", report.Fail, "{P} login failed", "Check the user name and password (some providers need an app password for {P}); the server's reply is in the evidence."),
			c("login.default-credentials", report.Fail, "An account logs in with a default password", "Change the password of this account now (and of every account set up the same way), or disable the account if it is a leftover test or vendor account. Look for logins to it in the server's logs.", "OWASP WSTG-ATHN-02", "CWE-1392"),
			c("default-credentials.refused", report.Pass, "No default password logs in", ""),
			c("default-credentials.stopped", report.Info, "Default-credentials check stopped early", "The server started refusing or limiting attempts, so the check stopped before trying every pair: run it again later, from an address the server does not rate-limit, to try the rest."),
			c("lockout.none", report.Warn, "Repeated wrong passwords are neither slowed nor blocked", "Slow down or block repeated failures: Dovecot auth_failure_delay (default 2s) and, for bans, fail2ban on the Dovecot log or auth_policy_server_url.", "NIST SP 800-63B §5.2.2"),
			c("lockout.delayed", report.Pass, "Repeated wrong passwords are slowed down", ""),
			c("lockout.blocked", report.Info, "Repeated wrong passwords get the client blocked", "Make sure the block is temporary and per address, so an attacker cannot lock real users out."),
		)
	}
}
