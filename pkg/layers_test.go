// Package pkg_test checks the layering of every package of the module
// (nested ones, cmd/, internal/, e2e/ and bench/ included): arrows point
// down, cmd -> cli -> action -> the leaves -> a small base tier. Leaves do not
// import each other; any package may use the base tier, so that "pod is
// Ready" or "last N lines" is written once. The team's design notes
// (shared/DESIGN.md beside this repository) say why; docs/up-design.md
// shows the chain of one command.
package pkg_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/draftk8s/draft/"

// The tiers, by package path inside the module.
var (
	base   = []string{"pkg/kube", "pkg/ui", "pkg/config", "pkg/version"}
	leaves = []string{"pkg/detect", "pkg/pack", "pkg/build", "pkg/registry", "pkg/deploy", "pkg/connect", "pkg/logs", "pkg/watch", "pkg/live"}
	// What the tests of any package may also import: the test helpers, and
	// the leaves (a deploy test renders its chart with pack).
	testHelpers = []string{"internal/testkit", "internal/testenv", "internal/deploysim"}
	testAlso    = append(append([]string{}, testHelpers...), leaves...)
)

// rules lists, for each package (a path, or a folder followed by /...),
// the draft packages its code may import.
var rules = []struct {
	pkg   string
	allow [][]string
}{
	{"cmd/...", [][]string{{"pkg/cli"}}},
	{"pkg/cli", [][]string{{"pkg/action", "pkg/pack"}, base}},
	{"pkg/action", [][]string{leaves, base}},
	{"pkg/pack", [][]string{{"packs", "templates"}, base}}, // the only importer of packs/ and templates/
	{"pkg/detect", [][]string{base}},
	{"pkg/build", [][]string{base}},
	{"pkg/registry", [][]string{base}},
	{"pkg/deploy", [][]string{base}},
	{"pkg/connect", [][]string{base}},
	{"pkg/logs", [][]string{base}},
	{"pkg/watch", [][]string{base}},
	{"pkg/live", [][]string{base}},
	{"pkg/live/agent", nil}, // the program in the pods: the standard library only
	{"pkg/kube", [][]string{{"pkg/ui", "pkg/config"}}},
	{"pkg/ui", nil},
	{"pkg/config", nil},
	{"pkg/version", nil},
	{"pkg", [][]string{}}, // this test
	{"packs", nil},
	{"templates", nil},
	{"internal/testkit", nil},
	{"internal/testenv", [][]string{{"internal/testkit"}}},
	{"internal/deploysim", [][]string{base}},
	// The e2e suite and the benchmarks run the built binary: they may use
	// the leaves and the test helpers, never the commands or the actions.
	{"e2e/...", [][]string{leaves, base, testHelpers}},
	{"bench/...", [][]string{leaves, base, testHelpers, {"bench/internal/benchutil"}}},
}

func ruleFor(pkg string) (allowed []string, found bool) {
	for _, r := range rules {
		prefix, tree := strings.CutSuffix(r.pkg, "...")
		if r.pkg == pkg || tree && (pkg+"/" == prefix || strings.HasPrefix(pkg, prefix)) {
			for _, a := range r.allow {
				allowed = append(allowed, a...)
			}
			return allowed, true
		}
	}
	return nil, false
}

func TestLayers(t *testing.T) {
	imports := map[string]map[string]bool{} // package -> draft imports (test files: testHelpers allowed)
	checked := 0
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && p != "..") {
			return filepath.SkipDir
		}
		if d.IsDir() && p != ".." {
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // a module of its own (the environment's tools)
			}
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		rel, _ := filepath.Rel("..", p)
		pkg := filepath.ToSlash(filepath.Dir(rel))
		allowed, ok := ruleFor(pkg)
		if !ok {
			t.Errorf("%s: package %s is in no tier: add it to the rules in pkg/layers_test.go", rel, pkg)
			return nil
		}
		if strings.HasSuffix(p, "_test.go") {
			allowed = append(allowed, testAlso...)
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range parsed.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(ip, module) {
				continue
			}
			target := strings.TrimPrefix(ip, module)
			if !slices.Contains(allowed, target) {
				t.Errorf("%s imports %s: not allowed by the layering (see the rules in pkg/layers_test.go)", rel, target)
			}
			if imports[pkg] == nil {
				imports[pkg] = map[string]bool{}
			}
			imports[pkg][target] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("checked only %d Go files: is the walk rooted at the module?", checked)
	}
	// The base tier has no cycle through the rules above (Go refuses one in
	// code; this keeps the table honest).
	for _, b := range base {
		for imp := range imports[b] {
			if path.Dir(imp) == "pkg" && !slices.Contains(base, imp) {
				t.Errorf("%s (base tier) imports %s, which is not in the base tier", b, imp)
			}
		}
	}
}
