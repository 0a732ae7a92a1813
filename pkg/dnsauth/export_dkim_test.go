package dnsauth

import (
	"context"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// VerifyOwnForTest runs mailprobe's own DKIM verifier on every signature
// of msg, for the test that checks it agrees with go-msgauth.
func VerifyOwnForTest(r resolver.Interface, msg []byte, at time.Time) []DKIMVerdict {
	msg = wireForm(msg)
	fields, body, err := splitMessage(msg)
	if err != nil {
		return nil
	}
	var out []DKIMVerdict
	for i, f := range fields {
		name, value, _ := strings.Cut(f, ":")
		if !strings.EqualFold(strings.TrimSpace(name), "DKIM-Signature") {
			continue
		}
		tags, _ := parseTagList(value)
		lookup := resolver.TXTFunc(context.Background(), r)
		out = append(out, verifyOwn(fields, i, body, tagMap(tags, false), lookup, at).result)
	}
	return out
}
