package resetmail

import (
	"bufio"
	"bytes"
	"net/textproto"
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// AuthVerdict is what the receiving side concluded about the message, read
// from Authentication-Results (RFC 8601), ARC-Authentication-Results (RFC
// 8617) and Received-SPF (RFC 7208 §9.1) headers.
type AuthVerdict struct {
	SPF        string   `json:"spf,omitempty"`
	SPFFrom    string   `json:"spf_mailfrom,omitempty"`
	DKIM       string   `json:"dkim,omitempty"`
	DKIMDomain string   `json:"dkim_domain,omitempty"`
	DMARC      string   `json:"dmarc,omitempty"`
	DMARCFrom  string   `json:"dmarc_from,omitempty"`
	ARC        string   `json:"arc,omitempty"`
	AuthServID string   `json:"authserv_id,omitempty"`
	Headers    []string `json:"headers,omitempty"` // the raw headers read
	// Spam holds spam-filter verdict headers (X-Spam-Status, X-Spam-Score,
	// X-Rspamd-Score, X-MS-Exchange-Organization-SCL, ...), as found.
	Spam map[string]string `json:"spam,omitempty"`
}

var spamHeaders = []string{"X-Spam-Status", "X-Spam-Score", "X-Spam-Flag", "X-Spam-Level", "X-Rspamd-Score", "X-Rspamd-Action", "X-MS-Exchange-Organization-SCL", "X-Forefront-Antispam-Report", "X-Microsoft-Antispam", "X-Spamd-Result", "X-Gm-Spam"}

// ReadAuthVerdict parses the top-most (newest) results: a receiving server
// prepends its headers, so the first Authentication-Results is the one the
// recipient's own server wrote; later ones may come from relays and are
// less trustworthy (RFC 8601 §5).
func ReadAuthVerdict(msg []byte) AuthVerdict {
	var v AuthVerdict
	hdr, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(msg))).ReadMIMEHeader()
	if err != nil && len(hdr) == 0 {
		return v
	}
	for _, name := range []string{"Authentication-Results", "Arc-Authentication-Results"} {
		if name == "Arc-Authentication-Results" && v.AuthServID != "" {
			// The receiver's own results were found; ARC sets from
			// earlier hops are evidence only.
			for _, raw := range hdr.Values(name) {
				v.Headers = append(v.Headers, name+": "+raw)
			}
			break
		}
		for _, raw := range hdr.Values(name) {
			v.Headers = append(v.Headers, name+": "+raw)
			if name == "Arc-Authentication-Results" {
				// "i=1; authserv-id; results": drop the instance tag.
				if _, rest, ok := strings.Cut(raw, ";"); ok && strings.HasPrefix(strings.TrimSpace(raw), "i=") {
					raw = rest
				}
			}
			id, results, err := authres.Parse(raw)
			if err != nil {
				continue
			}
			if v.AuthServID == "" {
				v.AuthServID = id
			} else if !strings.EqualFold(id, v.AuthServID) {
				// An older hop's (or the sender's forged) results: they
				// must not mask what the receiver concluded (RFC 8601 §5).
				continue
			}
			for _, r := range results {
				switch r := r.(type) {
				case *authres.SPFResult:
					if v.SPF == "" {
						v.SPF, v.SPFFrom = string(r.Value), r.From
					}
				case *authres.DKIMResult:
					// Any passing signature is enough for DMARC; keep the
					// best result seen.
					if v.DKIM == "" || (r.Value == authres.ResultPass && v.DKIM != "pass") {
						v.DKIM, v.DKIMDomain = string(r.Value), r.Domain
					}
				case *authres.DMARCResult:
					if v.DMARC == "" {
						v.DMARC, v.DMARCFrom = string(r.Value), r.From
					}
				case *authres.ARCResult:
					if v.ARC == "" {
						v.ARC = string(r.Value)
					}
				}
			}
		}
	}
	if v.SPF == "" {
		if rs := hdr.Get("Received-SPF"); rs != "" {
			v.Headers = append(v.Headers, "Received-SPF: "+rs)
			f := strings.Fields(rs)
			if len(f) > 0 {
				v.SPF = strings.ToLower(f[0])
			}
		}
	}
	for _, h := range spamHeaders {
		if val := hdr.Get(h); val != "" {
			if v.Spam == nil {
				v.Spam = map[string]string{}
			}
			v.Spam[h] = val
		}
	}
	return v
}
