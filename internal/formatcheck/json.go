package formatcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
)

// JSON validates a --format json document (a report, or check -f's
// {schema_version, reports}) against docs/report.schema.json, and checks
// that no value anywhere is null: an empty list is [], never null.
func JSON(t testing.TB, out []byte) {
	t.Helper()
	validateSchema(t, "JSON", filepath.Join(Root(), "docs", "report.schema.json"), out)
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	for _, p := range nulls(v, "") {
		t.Errorf("JSON has null at %s (an empty list is [])", p)
	}
}

// JSONLines is JSON for each line of batch's output.
func JSONLines(t testing.TB, out []byte) int {
	t.Helper()
	n := 0
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		JSON(t, line)
		n++
	}
	return n
}

func nulls(v any, at string) []string {
	switch x := v.(type) {
	case nil:
		return []string{at}
	case map[string]any:
		var out []string
		for k, e := range x {
			out = append(out, nulls(e, at+"/"+k)...)
		}
		return out
	case []any:
		var out []string
		for i, e := range x {
			out = append(out, nulls(e, fmt.Sprintf("%s/%d", at, i))...)
		}
		return out
	}
	return nil
}
