package audit

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/netx"
)

// Service is one port of the audit and what is expected to speak there:
// the IANA service name decides the protocol, the role (how strictly it
// is graded) and whether TLS starts with the first byte.
type Service struct {
	Port     int        `json:"port"`
	Name     string     `json:"service"` // smtp, submission, submissions, imap, imaps, pop3, pop3s, sieve
	Proto    netx.Proto `json:"protocol"`
	Role     netx.Role  `json:"role"`
	Implicit bool       `json:"implicit_tls"`
}

// Label is how the port is named in stages and findings: "smtp:25",
// "imaps:993", "submission:2525".
func (s Service) Label() string { return fmt.Sprintf("%s:%d", s.Name, s.Port) }

// services maps the service names (and a few spellings users type) to
// their protocol, role and TLS style: the names of netx.MailPorts.
var services = map[string]Service{
	"smtp":        {Name: "smtp", Proto: netx.ProtoSMTP, Role: netx.RoleMX},
	"mx":          {Name: "smtp", Proto: netx.ProtoSMTP, Role: netx.RoleMX},
	"submission":  {Name: "submission", Proto: netx.ProtoSMTP, Role: netx.RoleSubmission},
	"submissions": {Name: "submissions", Proto: netx.ProtoSMTP, Role: netx.RoleSubmission, Implicit: true},
	"smtps":       {Name: "submissions", Proto: netx.ProtoSMTP, Role: netx.RoleSubmission, Implicit: true},
	"imap":        {Name: "imap", Proto: netx.ProtoIMAP, Role: netx.RoleIMAP},
	"imaps":       {Name: "imaps", Proto: netx.ProtoIMAP, Role: netx.RoleIMAP, Implicit: true},
	"pop3":        {Name: "pop3", Proto: netx.ProtoPOP3, Role: netx.RolePOP3},
	"pop3s":       {Name: "pop3s", Proto: netx.ProtoPOP3, Role: netx.RolePOP3, Implicit: true},
	"sieve":       {Name: "sieve", Proto: netx.ProtoSieve, Role: netx.RoleSieve},
	"managesieve": {Name: "sieve", Proto: netx.ProtoSieve, Role: netx.RoleSieve},
}

// ServiceNames lists the accepted service names, for help and errors.
const ServiceNames = "smtp, submission, submissions, imap, imaps, pop3, pop3s, sieve"

// DefaultServices are the ports an audit probes without --port: the
// well-known mail ports (25, 465, 587, 143, 993, 110, 995, 4190). 2525,
// an alternate submission port some providers open, is probed only when
// asked.
func DefaultServices() []Service {
	var out []Service
	for _, p := range netx.MailPorts {
		if p.Number == 2525 {
			continue
		}
		s, _ := ParseService(strconv.Itoa(p.Number))
		out = append(out, s)
	}
	return out
}

// ParseService reads a --port value: "PORT" for a well-known mail port
// (its service from the port table), or "PORT/SERVICE" for any port
// ("2525/submission", "10993/imaps"), so a server on unusual ports can be
// audited too.
func ParseService(v string) (Service, error) {
	num, name, named := strings.Cut(strings.TrimSpace(v), "/")
	port, err := strconv.Atoi(num)
	if err != nil || port < 1 || port > 65535 {
		return Service{}, fmt.Errorf("--port %q: want PORT or PORT/SERVICE, with PORT from 1 to 65535", v)
	}
	if !named {
		info, ok := netx.PortInfo(port)
		if !ok {
			return Service{}, fmt.Errorf("--port %d is not a well-known mail port: say what it speaks, e.g. %d/submission (one of %s)", port, port, ServiceNames)
		}
		name = info.Name
		if port == 2525 {
			name = "submission"
		}
	}
	s, ok := services[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return Service{}, fmt.Errorf("--port %q: unknown service %q (want one of %s)", v, name, ServiceNames)
	}
	s.Port = port
	return s, nil
}
