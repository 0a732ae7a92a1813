package resolver

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"
)

// Kind classifies a failed lookup. The kinds mean different things to the
// mail authentication protocols, so they are never collapsed into one
// "lookup failed": for SPF a NXDOMAIN or NODATA answer is a "void lookup"
// (RFC 7208 §4.6.4) while SERVFAIL or a timeout is a temperror (§2.6.6);
// for DMARC a missing record means "no policy" while a failed lookup means
// "try later" (RFC 7489 §6.6.3); for DKIM a missing key is a permanent
// failure and an unreachable one a temporary failure (RFC 6376 §6.1.2).
type Kind string

const (
	// KindNXDomain: RCODE 3, the name does not exist (RFC 1035 §4.1.1).
	KindNXDomain Kind = "nxdomain"
	// KindNoData: RCODE 0 and no record of the asked type (RFC 2308 §2.2).
	KindNoData Kind = "nodata"
	// KindServFail: RCODE 2, the server could not answer (often a DNSSEC
	// validation failure or an unreachable authoritative server).
	KindServFail Kind = "servfail"
	// KindRefused: RCODE 5, the server will not answer us (not an open
	// resolver, or an ACL).
	KindRefused Kind = "refused"
	// KindTimeout: no answer within the deadline, after the retries.
	KindTimeout Kind = "timeout"
	// KindNetwork: the server could not be reached at all (ICMP port
	// unreachable, TCP connection refused).
	KindNetwork Kind = "network"
	// KindInvalidName: the name cannot be put in a query (a label longer
	// than 63 octets, a name longer than 255, an empty label).
	KindInvalidName Kind = "invalid-name"
	// KindRcode: another RCODE (FORMERR, NOTIMP...).
	KindRcode Kind = "rcode"
	// KindMalformed: the answer could not be parsed.
	KindMalformed Kind = "malformed"
	// KindCNAMELoop: the answer's CNAME chain loops or is longer than
	// MaxCNAMEChain: the name cannot be resolved (a recursive resolver
	// would SERVFAIL), which is not "no record".
	KindCNAMELoop Kind = "cname-loop"
	// KindBudget: the question was not sent, because the run's question
	// budget (WithBudget) is spent. Nothing is known about the name.
	KindBudget Kind = "budget"
)

// Error is a failed lookup. It implements net.Error so that libraries that
// distinguish temporary from permanent DNS failures with net.Error
// (go-msgauth's DKIM key query does) classify it correctly.
type Error struct {
	Kind   Kind
	Name   string // the name asked (FQDN)
	Type   uint16 // the type asked
	Server string // the server that answered or failed, host:port
	Rcode  int    // the response code, when there was a response
	Err    error  // the underlying network or parse error, if any
	// Down is set when the resolver itself does not answer: no server
	// responded to anything in this run, this question nor a probe.
	// Kind still says how it failed (KindTimeout or KindNetwork).
	Down bool
}

// about is the error of a dead resolver, restated for another question.
func (e *Error) about(name string, qtype uint16) *Error {
	c := *e
	c.Name, c.Type = name, qtype
	return &c
}

// IsUnreachable reports whether err says that the resolver itself does
// not answer (see Resolver.Unreachable), rather than that one name could
// not be resolved.
func IsUnreachable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Down
}

func (e *Error) Error() string {
	what := ""
	switch e.Kind {
	case KindNXDomain:
		what = "NXDOMAIN (no such domain)"
	case KindNoData:
		what = "no " + dns.TypeToString[e.Type] + " record (NODATA)"
	case KindServFail:
		what = "SERVFAIL (the resolver could not get an answer)"
	case KindRefused:
		what = "REFUSED by " + e.Server
	case KindTimeout:
		what = "timed out"
		if e.Server != "" {
			what += " waiting for " + e.Server
		}
	case KindNetwork:
		what = "cannot reach " + e.Server
	case KindInvalidName:
		what = "not a valid DNS name"
	case KindRcode:
		what = "error " + dns.RcodeToString[e.Rcode]
	case KindMalformed:
		what = "malformed answer"
	case KindCNAMELoop:
		what = fmt.Sprintf("CNAME chain loops or is longer than %d", MaxCNAMEChain)
	case KindBudget:
		what = "not asked: the run's budget of DNS questions is spent"
	default:
		what = string(e.Kind)
	}
	if e.Down {
		what = "the resolver " + e.Server + " does not answer"
	}
	s := fmt.Sprintf("lookup %s %s: %s", dns.TypeToString[e.Type], e.Name, what)
	if e.Err != nil && (e.Kind == KindNetwork || e.Kind == KindMalformed || e.Kind == KindInvalidName) {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Timeout implements net.Error.
func (e *Error) Timeout() bool { return e.Kind == KindTimeout }

// Temporary implements net.Error: a lookup that could succeed if repeated
// later. NXDOMAIN and NODATA are definitive answers.
func (e *Error) Temporary() bool {
	switch e.Kind {
	case KindServFail, KindTimeout, KindRefused, KindNetwork, KindRcode, KindMalformed, KindCNAMELoop, KindBudget:
		return true
	}
	return false
}

// KindOf returns the kind of a lookup error ("" for nil or a foreign error).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// IsNotFound reports whether err is a definitive "no such record": NXDOMAIN
// or NODATA. These are answers, not failures.
func IsNotFound(err error) bool {
	k := KindOf(err)
	return k == KindNXDomain || k == KindNoData
}

// IsTemporary reports whether err is a lookup failure that may succeed
// later (SERVFAIL, timeout, refused, network): a "temperror" for SPF and
// DMARC, a "tempfail" for DKIM.
func IsTemporary(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary()
	}
	return err != nil
}
