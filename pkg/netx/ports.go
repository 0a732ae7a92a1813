package netx

import (
	"fmt"
	"strings"
)

// Role is what a port is for, which decides how strictly it is graded: a
// submission or mailbox port carries passwords (RFC 8314), an MX port
// takes mail from any server and must still accept plaintext (RFC 3207
// §4, RFC 7435 opportunistic security).
type Role string

// The roles of PRODUCT.md's --role flag, plus ManageSieve.
const (
	RoleMX         Role = "mx"
	RoleSubmission Role = "submission"
	RoleIMAP       Role = "imap"
	RolePOP3       Role = "pop3"
	RoleSieve      Role = "sieve"
)

// ParseRole reads a --role value ("" is "", meaning: from the port).
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case "", RoleMX, RoleSubmission, RoleIMAP, RolePOP3, RoleSieve:
		return r, nil
	case "smtp":
		return RoleMX, nil
	case "submissions":
		return RoleSubmission, nil
	}
	return "", fmt.Errorf("unknown role %q (want mx, submission, imap, pop3 or sieve)", s)
}

// Proto is the application protocol spoken on a port.
type Proto string

// The mail protocols.
const (
	ProtoSMTP  Proto = "smtp"
	ProtoIMAP  Proto = "imap"
	ProtoPOP3  Proto = "pop3"
	ProtoSieve Proto = "sieve"
)

// Port is what mailprobe knows about a well-known mail port: the one
// port→role table every engine and command uses.
type Port struct {
	Number   int
	Proto    Proto
	Role     Role
	Implicit bool   // TLS from the first byte (RFC 8314 §3.3)
	Name     string // the IANA service name
}

// MailPorts lists the well-known mail ports in the order an audit probes
// them.
var MailPorts = []Port{
	{25, ProtoSMTP, RoleMX, false, "smtp"},
	{465, ProtoSMTP, RoleSubmission, true, "submissions"}, // RFC 8314 §7.3
	{587, ProtoSMTP, RoleSubmission, false, "submission"}, // RFC 6409
	{2525, ProtoSMTP, RoleSubmission, false, "submission (alternate)"},
	{143, ProtoIMAP, RoleIMAP, false, "imap"},
	{993, ProtoIMAP, RoleIMAP, true, "imaps"},
	{110, ProtoPOP3, RolePOP3, false, "pop3"},
	{995, ProtoPOP3, RolePOP3, true, "pop3s"},
	{4190, ProtoSieve, RoleSieve, false, "sieve"}, // RFC 5804
}

// PortInfo returns the table entry for port; ok is false for a port not in
// the table, where the server's behaviour must decide.
func PortInfo(port int) (p Port, ok bool) {
	for _, p := range MailPorts {
		if p.Number == port {
			return p, true
		}
	}
	return Port{}, false
}

// DefaultPort is the usual port for a protocol and TLS style: the
// STARTTLS port when implicit is false.
func DefaultPort(proto Proto, implicit bool) int {
	for _, p := range MailPorts {
		if p.Proto == proto && p.Implicit == implicit && p.Number != 25 && p.Number != 2525 {
			return p.Number
		}
	}
	if proto == ProtoSMTP && !implicit {
		return 587
	}
	return 0
}

// TLSMode is how a connection gets TLS (PRODUCT.md's --tls flag).
type TLSMode string

// The TLS modes.
const (
	// TLSAuto decides from the port (465/993/995 implicit, others
	// STARTTLS when offered), then from what the server does: a port that
	// answers a ClientHello but sends no greeting is implicit TLS.
	TLSAuto TLSMode = "auto"
	// TLSStartTLS upgrades after the greeting (RFC 3207, RFC 2595).
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit starts TLS with the first byte (RFC 8314).
	TLSImplicit TLSMode = "implicit"
	// TLSNone never starts TLS.
	TLSNone TLSMode = "none"
)

// TLSModes lists the values for help text and completion.
var TLSModes = []string{string(TLSAuto), string(TLSStartTLS), string(TLSImplicit), string(TLSNone)}

// ParseTLSMode reads a --tls value. "" is auto; the spellings of the old
// flags (tls, ssl, smtps, plain, off, no) are accepted too.
func ParseTLSMode(s string) (TLSMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return TLSAuto, nil
	case "starttls", "start-tls", "require-starttls":
		return TLSStartTLS, nil
	case "implicit", "tls", "ssl", "smtps", "imaps", "pop3s", "true":
		return TLSImplicit, nil
	case "none", "plain", "off", "no", "false":
		return TLSNone, nil
	}
	return "", fmt.Errorf("unknown TLS mode %q (want auto, starttls, implicit or none)", s)
}

// Resolve turns auto into the mode the port implies: implicit on an
// implicit-TLS port, STARTTLS otherwise. Other modes are returned as
// they are.
func (m TLSMode) Resolve(port int) TLSMode {
	if m != TLSAuto && m != "" {
		return m
	}
	if p, ok := PortInfo(port); ok && p.Implicit {
		return TLSImplicit
	}
	return TLSStartTLS
}
