package resolver

import (
	"context"
	"net/netip"

	"github.com/miekg/dns"
)

// Interface is what mailprobe's engines ask of a resolver. *Resolver (the
// network client) implements it, and so does *Static (fixed records, for
// the in-process demo); every engine takes an Interface so that one
// resolver, chosen once by the command, answers every question of a run
// and no lookup goes anywhere else.
//
// The lookups have the semantics documented on *Resolver: a definitive
// negative answer is an *Error of kind KindNXDomain or KindNoData, every
// other failure an *Error whose Temporary method is true.
type Interface interface {
	Query(ctx context.Context, name string, qtype uint16) (*Answer, error)
	LookupA(ctx context.Context, name string) ([]netip.Addr, error)
	LookupAAAA(ctx context.Context, name string) ([]netip.Addr, error)
	LookupIP(ctx context.Context, name string) ([]netip.Addr, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]MX, *Answer, error)
	LookupPTR(ctx context.Context, ip netip.Addr) ([]string, error)
	LookupTLSA(ctx context.Context, name string) ([]*dns.TLSA, *Answer, error)
	// Servers names who answers, for findings ("from 127.0.0.1:53").
	Servers() []string
	// Stats counts the work done so far.
	Stats() Stats
	// Unreachable is non-nil once the resolver is known not to answer
	// at all (an *Error with Down set): the checks' findings would all
	// say the same thing, so the engines report that one fact instead.
	Unreachable() error
}

var (
	_ Interface = (*Resolver)(nil)
	_ Interface = (*Static)(nil)
)

// querier is the one method the lookup helpers build on.
type querier interface {
	Query(ctx context.Context, name string, qtype uint16) (*Answer, error)
}
