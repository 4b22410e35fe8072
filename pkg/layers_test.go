// Package pkg_test checks the layering of draft's packages: arrows point down,
// cmd -> cli -> action -> the rest, and the packages below action do not import
// each other (the team's design notes, shared/DESIGN.md beside this repository,
// say why; docs/up-design.md shows the chain of one command).
package pkg_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/draftk8s/draft/"

// allowed lists, for each package, the draft packages it may import.
var allowed = map[string][]string{
	"cli":    {"action", "config", "pack", "version", "kube", "ui"},
	"action": {"detect", "pack", "build", "registry", "deploy", "connect", "watch", "config", "kube", "ui"},
	"pack":   {"packs", "templates"}, // the only importer of packs/ and templates/
}

func TestLayers(t *testing.T) {
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		pkg := d.Name()
		files, _ := filepath.Glob(filepath.Join(pkg, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range parsed.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !strings.HasPrefix(path, module) {
					continue
				}
				target := strings.TrimPrefix(strings.TrimPrefix(path, module), "pkg/")
				ok := false
				for _, a := range allowed[pkg] {
					ok = ok || a == target
				}
				if !ok {
					t.Errorf("%s imports %s: not allowed by the layering (see the allowed table in pkg/layers_test.go)", f, path)
				}
			}
		}
	}
}
