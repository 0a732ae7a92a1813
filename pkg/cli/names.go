package cli

import (
	"strings"

	"golang.org/x/net/idna"

	"github.com/mailprobe/mailprobe/pkg/netx"
)

// DNS name limits (RFC 1035 §2.3.4, RFC 2181 §11): a name is at most 255
// octets on the wire, which is 253 characters written with dots and
// without the trailing one; a label is at most 63 octets.
const (
	maxDomainLen = 253
	maxLabelLen  = 63
	// maxDomainArg bounds the argument before any work is done on it: an
	// internationalized name can take up to four bytes a character
	// before it is converted to its ASCII form.
	maxDomainArg = 4 * maxDomainLen
)

// checkDomainName rejects, as a usage error (exit 2), a domain argument
// no DNS name can be: longer than 253 octets, or with a label longer
// than 63, in its ASCII (IDNA) form. It is the one check every command
// taking a domain makes (through domainArg, before anything is looked
// up), so a 4 MB argument costs nothing and is never echoed whole.
func checkDomainName(s string) error {
	if len(s) > maxDomainArg {
		return usageErrorf("%q is %d bytes long; a domain name has at most %d", netx.Clip(s), len(s), maxDomainLen)
	}
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if a, err := idna.Lookup.ToASCII(d); err == nil {
		d = a
	}
	if len(d) > maxDomainLen {
		return usageErrorf("%q is %d octets long; a domain name has at most %d (RFC 1035 §2.3.4)", netx.Clip(s), len(d), maxDomainLen)
	}
	for _, l := range strings.Split(d, ".") {
		if len(l) > maxLabelLen {
			return usageErrorf("%q has a label of %d octets; a label has at most %d (RFC 1035 §2.3.4)", netx.Clip(s), len(l), maxLabelLen)
		}
	}
	return nil
}
