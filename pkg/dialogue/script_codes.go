package dialogue

import "github.com/mailprobe/mailprobe/pkg/report"

// Finding codes of smtp script. The stage of every finding is the step's
// stage ("line 7: expect 250"), so the code says what went wrong and the
// stage says where.
func init() {
	report.Register(
		report.Code{Code: "script.syntax", Severity: report.Fail, Title: "Script cannot run as written",
			Fix: "Correct the line named in the detail; docs/script-language.md describes every step.", Refs: nil},
		report.Code{Code: "script.expect.mismatch", Severity: report.Fail, Title: "Reply did not match the script's expectation",
			Fix: "See the explanation of the reply: either the server behaves differently than the script assumes, or the expectation is wrong.", Refs: []string{"RFC 5321 §4.2"}},
		report.Code{Code: "script.timeout", Severity: report.Fail, Title: "No answer within the step's deadline",
			Fix: "A server that stays silent is overloaded, tarpitting, waiting for more input than the script sent (a missing line ending?), or not an SMTP server. Raise the deadline with a timeout line or --step-timeout only if the server is known to be slow.", Refs: []string{"RFC 5321 §4.5.3.2"}},
		report.Code{Code: "script.connection-closed", Severity: report.Fail, Title: "Connection closed before the script was done",
			Fix: "Servers hang up on clients they block (blocklisted address, rate limit, too many errors, protocol violations such as bare LF); check the server's log for the reason. If closing is the expected answer, write expect close.", Refs: []string{"RFC 5321 §3.8"}},
		report.Code{Code: "script.connection-reset", Severity: report.Fail, Title: "Connection reset",
			Fix: "A reset comes from a firewall, a load balancer or a crashed server process, or from a server that drops clients violating the protocol; check the server's log at the time of the test.", Refs: nil},
		report.Code{Code: "script.connect.failed", Severity: report.Fail, Title: "Cannot connect",
			Fix: "Check the host and port, that the server listens there, and that no firewall blocks it (many ISPs block outbound port 25).", Refs: []string{"RFC 6409 §3.1", "RFC 8314 §3.3"}},
		report.Code{Code: "script.network.error", Severity: report.Fail, Title: "Network error",
			Fix: "See the detail; check connectivity to the server.", Refs: nil},
		report.Code{Code: "script.reply.malformed", Severity: report.Fail, Title: "Server sent something that is not an SMTP reply",
			Fix: "Check that the port runs an SMTP server (not IMAP, POP3, HTTP, or TLS-only: use connect tls for port 465).", Refs: []string{"RFC 5321 §4.2"}},
		report.Code{Code: "script.reply.nonconforming", Severity: report.Warn, Title: "Reply violates the SMTP reply syntax",
			Fix: "Strict clients may fail on this reply; fix the server or the proxy in front of it so that every line has the same three-digit code followed by a space or hyphen and ends in CRLF.", Refs: []string{"RFC 5321 §4.2.1", "RFC 5321 §2.3.8"}},
		report.Code{Code: "script.tls.ok", Severity: report.Pass, Title: "TLS negotiated"},
		report.Code{Code: "script.tls.failed", Severity: report.Fail, Title: "TLS handshake failed",
			Fix: "See the detail: a TLS alert means the server and client share no protocol version or cipher suite, or the server's certificate or key is unusable. Run `mailprobe tls HOST:PORT` for the full TLS audit.", Refs: []string{"RFC 3207", "RFC 8446 §6"}},
		report.Code{Code: "script.starttls.injection", Severity: report.Fail, Title: "Server sent data after accepting STARTTLS, before the handshake",
			Fix: "Anything sent before the handshake can be forged by an attacker and must be discarded; fix or replace the server or the proxy in front of it.", Refs: []string{"RFC 3207 §4.2", "CVE-2011-0411"}},
		report.Code{Code: "script.auth.ok", Severity: report.Pass, Title: "Authentication succeeded"},
		report.Code{Code: "script.auth.failed", Severity: report.Fail, Title: "Authentication failed",
			Fix: "See the explanation: wrong user name or password, an app password or OAuth required, or SMTP AUTH disabled for the account.", Refs: []string{"RFC 4954 §6"}},
		report.Code{Code: "script.auth.not-attempted", Severity: report.Warn, Title: "Credentials were not sent",
			Fix: "mailprobe sends a password only over TLS with a trusted certificate. Put a starttls step before auth (or connect tls), fix the certificate, or pass --allow-plaintext-auth / --insecure if you really mean it.", Refs: []string{"RFC 8314 §3"}},
		report.Code{Code: "script.capability.missing", Severity: report.Fail, Title: "Required EHLO capability not advertised",
			Fix: "The server does not offer what the script needs; enable the extension on the server, or check that the script runs ehlo first (STARTTLS discards the capabilities learned before it, RFC 3207 §4.2).", Refs: []string{"RFC 5321 §4.1.1.1"}},
		report.Code{Code: "script.capability.unwanted", Severity: report.Fail, Title: "EHLO capability advertised that the script forbids",
			Fix: "The server offers an extension the script says it must not offer at this point (AUTH before TLS, VRFY...); disable it on the server or relax the script.", Refs: []string{"RFC 5321 §4.1.1.1"}},
		report.Code{Code: "script.step.invalid", Severity: report.Fail, Title: "Step cannot run in the dialogue's state",
			Fix: "The script asks for something the connection cannot do at that point (not connected, STARTTLS inside TLS); correct the script.", Refs: nil},
		report.Code{Code: "script.interrupted", Severity: report.Fail, Title: "Script interrupted",
			Fix: "The run was cancelled or its overall --timeout expired before the script was done.", Refs: nil},
	)
}
