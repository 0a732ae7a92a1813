package smtpclient

import (
	"sort"
	"strconv"
	"strings"
)

// Capabilities is a parsed EHLO reply (RFC 5321 §4.1.1.1): the first line
// is the server's domain and greeting, each further line a keyword with
// optional parameters. Keywords are case-insensitive and stored upper case.
type Capabilities struct {
	Domain   string              `json:"domain"`
	Keywords []string            `json:"keywords"` // in the order the server sent them
	Params   map[string][]string `json:"params,omitempty"`
}

// ParseEHLO reads capabilities from a 250 reply.
func ParseEHLO(r Reply) Capabilities {
	c := Capabilities{Params: map[string][]string{}}
	for i, l := range r.Lines {
		if i == 0 {
			c.Domain, _, _ = strings.Cut(strings.TrimSpace(l), " ")
			continue
		}
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		kw := strings.ToUpper(f[0])
		// Some servers (old Exchange, some appliances) still send the
		// pre-RFC 4954 "AUTH=LOGIN PLAIN" form; read it as AUTH.
		if strings.HasPrefix(kw, "AUTH=") {
			f = append([]string{"AUTH", kw[len("AUTH="):]}, f[1:]...)
			kw = "AUTH"
		}
		if _, seen := c.Params[kw]; !seen {
			c.Keywords = append(c.Keywords, kw)
		}
		c.Params[kw] = append(c.Params[kw], f[1:]...)
	}
	return c
}

// Has reports whether keyword was advertised.
func (c Capabilities) Has(keyword string) bool {
	_, ok := c.Params[strings.ToUpper(keyword)]
	return ok
}

// AuthMechanisms lists the SASL mechanisms advertised, upper case, sorted
// and de-duplicated.
func (c Capabilities) AuthMechanisms() []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range c.Params["AUTH"] {
		m = strings.ToUpper(m)
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// Size returns the SIZE limit (RFC 1870): ok is false when SIZE is not
// advertised; a limit of 0 means "no fixed limit".
func (c Capabilities) Size() (limit int64, ok bool) {
	p, has := c.Params["SIZE"]
	if !has {
		return 0, false
	}
	if len(p) == 0 {
		return 0, true
	}
	n, err := strconv.ParseInt(p[0], 10, 64)
	if err != nil {
		return 0, true
	}
	return n, true
}
