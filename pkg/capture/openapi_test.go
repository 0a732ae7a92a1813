package capture

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// docs/capture-openapi.yaml describes exactly the API routes served: every
// route is in the file and every path and method of the file is served;
// the file is OpenAPI 3.1 and every local $ref resolves.
func TestOpenAPI_matchesRoutes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "capture-openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("the file does not parse: %v", err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi %q, want 3.1.x", v)
	}
	paths, _ := doc["paths"].(map[string]any)
	var inFile []string
	for p, item := range paths {
		ops, _ := item.(map[string]any)
		for m, op := range ops {
			if m == "parameters" {
				continue
			}
			inFile = append(inFile, strings.ToUpper(m)+" "+p)
			o, _ := op.(map[string]any)
			if _, ok := o["responses"]; !ok {
				t.Errorf("%s %s has no responses", m, p)
			}
		}
	}
	served := APIRoutes()
	sort.Strings(inFile)
	sort.Strings(served)
	if strings.Join(inFile, "\n") != strings.Join(served, "\n") {
		t.Errorf("routes differ:\nin the file:\n%s\n\nserved:\n%s", strings.Join(inFile, "\n"), strings.Join(served, "\n"))
	}
	// Every $ref names something that exists.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if k == "$ref" {
					ref, _ := x.(string)
					if !resolves(doc, ref) {
						t.Errorf("$ref %q does not resolve", ref)
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
}

func resolves(doc map[string]any, ref string) bool {
	if !strings.HasPrefix(ref, "#/") {
		return false
	}
	var cur any = doc
	for _, part := range strings.Split(ref[2:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}
