package render

import (
	"bytes"
	"encoding/json"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// writeJSON writes the report model itself: report.Report owns the schema
// (schema_version, durations in ms, transcript t_ms), so the JSON cannot
// drift from what the engines produce. There is no exit code in it: that
// depends on --fail-on, which the reader of the JSON can apply itself.
func writeJSON(buf *bytes.Buffer, rs []*report.Report, isSingle bool) error {
	var v any
	if isSingle && len(rs) == 1 {
		v = rs[0]
	} else {
		// A suite is a document of its own with the same schema version,
		// so a consumer checks one field before reading either shape.
		v = struct {
			SchemaVersion int              `json:"schema_version"`
			Reports       []*report.Report `json:"reports"`
		}{report.SchemaVersion, rs}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	buf.Write(b)
	buf.WriteByte('\n')
	return nil
}
