package audit

import (
	"strings"

	"github.com/mailprobe/mailprobe/pkg/mailversion"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// versionStages are the stages of a port check whose server lines can
// name the software: SMTP's greeting and EHLO reply, IMAP's and POP3's
// greeting, capabilities and ID response, ManageSieve's greeting
// (its IMPLEMENTATION line).
var versionStages = map[string]bool{"banner": true, "ehlo": true, "greeting": true, "capability": true, "id": true}

// assessVersion names the port's software and version from what its
// check read (pkg/mailversion) and matches it against the table of
// critical mail-server CVEs. entries are the port's transcript, already
// renumbered into the audit's; findings are staged under the port.
func assessVersion(r *PortResult, entries []transcript.Entry) (*mailversion.Assessment, []report.Finding) {
	proto := map[netx.Proto]mailversion.Protocol{netx.ProtoSMTP: mailversion.SMTP, netx.ProtoIMAP: mailversion.IMAP, netx.ProtoPOP3: mailversion.POP3}[r.Proto]
	bySeq := make(map[int]transcript.Entry, len(entries))
	for _, e := range entries {
		bySeq[e.Seq] = e
	}
	var inputs []mailversion.Input
	for _, st := range r.Stages {
		name := subStage(st.Name, r.Port)
		if !versionStages[name] || len(st.Seq) != 2 {
			continue
		}
		for seq := st.Seq[0]; seq <= st.Seq[1]; seq++ {
			e, ok := bySeq[seq]
			if !ok || e.Dir != transcript.Server || strings.TrimSpace(e.Line) == "" {
				continue
			}
			inputs = append(inputs, mailversion.Input{Stage: r.Label() + "/" + name, Protocol: proto, Text: e.Line, Seq: []int{seq}})
		}
	}
	if len(inputs) == 0 {
		return nil, nil
	}
	a, fs, err := mailversion.Assess(nil, inputs...)
	if err != nil {
		// The embedded table is checked by the tests; a broken one
		// costs the version check, not the audit.
		return nil, nil
	}
	return &a, fs
}

// softwareName is the port table's software column.
func softwareName(a *mailversion.Assessment) string {
	if a == nil || !a.Identified {
		return ""
	}
	s := a.Software.Product
	if a.Software.Version != "" {
		s += " " + a.Software.Version
	}
	return s
}
