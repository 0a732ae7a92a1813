package repocheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Package-level work runs at the start of every command, whatever the
// command: a regexp.MustCompile or template.Must(…Parse…) in a var
// initializer costs every `mailprobe smtp send` its compile time. Issue 16
// measured 20 ms of a 50 ms send spent in package initialisation; these
// patterns compile on first use instead (internal/lazyre, sync.OnceValue).
// The test reads the source: a new package-level compile fails it.
func TestNoCompileAtPackageInit(t *testing.T) {
	banned := map[string]bool{
		"regexp.MustCompile": true, "regexp.Compile": true, "regexp.MustCompilePOSIX": true,
		"template.Must": true,
	}
	var bad []string
	for _, dir := range []string{"pkg", "internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.VAR {
					continue
				}
				ast.Inspect(gd, func(n ast.Node) bool {
					switch n := n.(type) {
					case *ast.FuncLit:
						return false // runs when called, not at init
					case *ast.CallExpr:
						if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
							if x, ok := sel.X.(*ast.Ident); ok && banned[x.Name+"."+sel.Sel.Name] {
								rel, _ := filepath.Rel(root, path)
								bad = append(bad, rel+":"+strconv.Itoa(fset.Position(n.Pos()).Line)+": "+x.Name+"."+sel.Sel.Name)
							}
						}
					}
					return true
				})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range bad {
		t.Errorf("%s at package level: compile on first use (internal/lazyre.New, sync.OnceValue)", b)
	}
}
