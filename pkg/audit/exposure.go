package audit

import (
	"fmt"
	"slices"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// The audit's own finding codes: what is reachable, and what that
// exposes. The port checks' findings say what is wrong on a port; these
// say what the whole server shows the network.
const (
	CodePortFiltered = "audit.port.filtered"
	CodePortError    = "audit.port.error"
	CodeNoneOpen     = "audit.ports.none-open"
	// CodePlaintextMailbox: 143/110 reachable and taking passwords
	// before TLS (no STARTTLS, or STARTTLS not enforced).
	CodePlaintextMailbox = "audit.exposure.plaintext-mailbox"
	// CodeSubmissionNoTLS: a submission port with no TLS at all.
	CodeSubmissionNoTLS = "audit.exposure.submission-no-tls"
	// CodePOP3Enabled: POP3 answers at all (information).
	CodePOP3Enabled = "audit.exposure.pop3-enabled"
	// CodeSievePlaintext: ManageSieve takes passwords before TLS.
	CodeSievePlaintext = "audit.exposure.sieve-plaintext"
	// CodePlaintextPortOpen: a STARTTLS mailbox port open beside its
	// implicit-TLS twin, even when it enforces TLS (information: RFC
	// 8314 §3.3 prefers implicit TLS and closing the other).
	CodePlaintextPortOpen = "audit.exposure.starttls-port-open"
)

func init() {
	report.Register(
		report.Code{Code: CodePortFiltered, Severity: report.Info, Title: "Mail port does not answer (filtered)",
			Fix: "A firewall drops connections to this port, or the host is down. If the service should be reachable, open the port; if not, nothing to do."},
		report.Code{Code: CodePortError, Severity: report.Warn, Title: "Mail port could not be probed",
			Fix: "The connection attempt failed for a reason other than refused or timed out (DNS, no route): see the detail, fix it and run the audit again."},
		report.Code{Code: CodeNoneOpen, Severity: report.Warn, Title: "No mail port accepts connections",
			Fix: "Nothing on the host answers on a mail port. Check the host name, that the mail services run, and the firewall; or name the ports with --port PORT/SERVICE."},
		report.Code{Code: CodePlaintextMailbox, Severity: report.Fail, Title: "A mailbox port takes passwords in the clear",
			Fix:  "Mail clients' passwords can cross the network unencrypted on this port. Require TLS before login (Dovecot: ssl = required and disable_plaintext_auth = yes / auth_allow_cleartext = no), or close the port and serve only 993/995.",
			Refs: []string{"RFC 8314 §3", "RFC 2595 §3.2"}},
		report.Code{Code: CodeSubmissionNoTLS, Severity: report.Fail, Title: "A submission port offers no TLS",
			Fix:  "Mail clients send passwords and mail here. Offer STARTTLS (Postfix: smtpd_tls_security_level = encrypt on the submission service) or implicit TLS on 465.",
			Refs: []string{"RFC 8314 §3.3", "RFC 6409"}},
		report.Code{Code: CodePOP3Enabled, Severity: report.Info, Title: "POP3 is enabled",
			Fix: "POP3 is another login surface to protect and monitor. If no client needs it, turn it off (Dovecot: protocols = imap lmtp)."},
		report.Code{Code: CodeSievePlaintext, Severity: report.Fail, Title: "ManageSieve takes passwords in the clear",
			Fix:  "The ManageSieve port offers PLAIN or LOGIN before TLS. Require TLS before authentication (Dovecot: disable_plaintext_auth = yes / auth_allow_cleartext = no), or close port 4190 to the world.",
			Refs: []string{"RFC 5804 §2.1", "RFC 8314 §3"}},
		report.Code{Code: CodePlaintextPortOpen, Severity: report.Info, Title: "A STARTTLS mailbox port is open beside its implicit-TLS port",
			Fix:  "The port enforces TLS, which is safe, but RFC 8314 recommends implicit TLS (993/995) and lets clients be configured to never try the plaintext port. Close it if no client needs it.",
			Refs: []string{"RFC 8314 §3.3"}},
	)
}

// exposure is what a port's check means for the server's exposure.
func exposure(r *PortResult, sub *report.Report) []report.Finding {
	stage := r.Label()
	var out []report.Finding
	p := string(r.Proto)
	switch r.Proto {
	case netx.ProtoIMAP, netx.ProtoPOP3:
		if r.Proto == netx.ProtoPOP3 {
			out = append(out, report.Newf(CodePOP3Enabled, stage, "POP3 answers on %s.", stage))
		}
		if r.Implicit {
			break
		}
		switch {
		case r.AuthBeforeTLS == "yes":
			why := fmt.Sprintf("%s offers %s but does not require it before login", stage, stls(r.Proto))
			if r.TLS == "none" {
				why = fmt.Sprintf("%s offers no TLS at all", stage)
			}
			f := report.Newf(CodePlaintextMailbox, stage, "%s: a client can log in without encryption.", why)
			out = append(out, cite(f, sub, p+".starttls.missing", p+".logindisabled.missing", p+".auth.plaintext", p+".plaintext-login.checked", p+".plaintext-login.accepted"))
		case r.TLS == "none":
			out = append(out, report.Newf(CodePlaintextMailbox, stage, "%s offers no TLS at all.", stage))
		default:
			out = append(out, report.Newf(CodePlaintextPortOpen, stage, "%s is open; it enforces %s before login.", stage, stls(r.Proto)))
		}
	case netx.ProtoSMTP:
		if r.Role == netx.RoleSubmission && r.TLS == "none" {
			out = append(out, cite(report.Newf(CodeSubmissionNoTLS, stage, "%s (submission) offers no TLS: passwords and mail cross the network in the clear.", stage), sub, "smtp.starttls.missing"))
		}
	case netx.ProtoSieve:
		if sub.Has(CodeSieveAuthPlaintext) {
			out = append(out, cite(report.Newf(CodeSievePlaintext, stage, "%s offers password mechanisms before TLS.", stage), sub, CodeSieveAuthPlaintext))
		}
	}
	return out
}

func stls(p netx.Proto) string {
	if p == netx.ProtoPOP3 {
		return "STLS"
	}
	return "STARTTLS"
}

// cite adds, as evidence, the port check's findings an exposure rests on.
func cite(f report.Finding, sub *report.Report, codes ...string) report.Finding {
	for _, sf := range sub.Findings {
		if slices.Contains(codes, sf.Code) {
			f = f.With("note", fmt.Sprintf("%s: %s", sf.Code, sf.Title))
		}
	}
	return f
}
