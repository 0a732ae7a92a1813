package dnsauth

import (
	"fmt"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// The bounds every DNS report keeps, whatever a zone or a server sends:
// a record, a policy file or an HTTP header is echoed in part, and a
// check that finds the same thing a thousand times (ten thousand MX
// addresses without PTR, four thousand broad ip4: terms) shows a few of
// them and says how many more there were.
const (
	// MaxFindingsPerCode is the most findings of one code a stage shows;
	// the last one shown notes how many were left out.
	MaxFindingsPerCode = 20
	// MaxDetail is the most bytes of a finding's detail or fix (they
	// echo names, terms and errors from DNS and HTTP).
	MaxDetail = 2048
	// MaxEvidence is the most pieces of evidence a finding keeps, each
	// at most report.MaxRecordEvidence bytes (a record, a policy, an
	// answer) or MaxNoteEvidence bytes (a note such as the SPF tree, a
	// transcript reference).
	MaxEvidence     = 10
	MaxNoteEvidence = 16 << 10
	// MaxTXTRecord is the largest SPF, MTA-STS, TLS-RPT or BIMI record
	// parsed (the TXT strings joined): real ones are a few hundred
	// bytes; a larger one is a finding with the record clipped.
	MaxTXTRecord = 4096

	// MaxMXHosts is the most MX hosts checked (by preference); the rest
	// are counted in mx.hosts.many. MaxAddrsPerMX is the most addresses
	// of one MX host kept, and so checked by ptr, dnsbl and dane
	// --connect; MaxPostureAddrs the most addresses the ptr and dnsbl
	// areas check in one run.
	MaxMXHosts      = 16
	MaxAddrsPerMX   = 8
	MaxPostureAddrs = 32

	// DNSRunMaxQueries and DNSRunTimeout bound one `dns` run (all areas
	// together): the questions sent to the network and the time. A
	// sooner --timeout wins. Past either, the areas still waiting are
	// incomplete and dns.run.budget says what was spent.
	DNSRunMaxQueries = 1000
	DNSRunTimeout    = 60 * time.Second
)

// capFindings applies the bounds above to one stage's findings.
func capFindings(fs []report.Finding) []report.Finding {
	count := map[string]int{}
	for _, f := range fs {
		count[f.Code]++
	}
	shown := map[string]int{}
	out := make([]report.Finding, 0, len(fs))
	for _, f := range fs {
		shown[f.Code]++
		n := shown[f.Code]
		if n > MaxFindingsPerCode {
			continue
		}
		f = capFinding(f)
		if n == MaxFindingsPerCode && count[f.Code] > n {
			f = f.With("note", fmt.Sprintf("%d more %s finding(s) in this stage are left out (at most %d of one kind are shown).", count[f.Code]-n, f.Code, MaxFindingsPerCode))
		}
		out = append(out, f)
	}
	return out
}

// capFinding clips one finding's text and evidence.
func capFinding(f report.Finding) report.Finding {
	f.Detail = report.Clip(f.Detail, MaxDetail)
	f.Fix = report.Clip(f.Fix, MaxDetail)
	ev := f.Evidence
	if len(ev) > MaxEvidence {
		ev = ev[:MaxEvidence]
	}
	out := make([]report.Evidence, len(ev), len(ev)+1)
	for i, e := range ev {
		limit := report.MaxRecordEvidence
		if e.Kind == "note" || e.Kind == "transcript" {
			limit = MaxNoteEvidence
		}
		e.Text = report.Clip(e.Text, limit)
		out[i] = e
	}
	if len(f.Evidence) > MaxEvidence {
		out = append(out, report.Evidence{Kind: "note", Text: fmt.Sprintf("%d more piece(s) of evidence left out.", len(f.Evidence)-MaxEvidence)})
	}
	f.Evidence = out
	return f
}

// echo clips a value from DNS or a server for a detail, an error or a
// fact: names, terms, URLs and headers are short when they are real.
func echo(s string) string { return report.Clip(s, 256) }

// oversizeTXT says why record is too large to parse ("" when it is not).
func oversizeTXT(record string) string {
	if len(record) <= MaxTXTRecord {
		return ""
	}
	return fmt.Sprintf("the record is %d bytes, more than any real one (at most %d are parsed here)", len(record), MaxTXTRecord)
}
