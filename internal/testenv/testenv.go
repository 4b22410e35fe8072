// Package testenv is for tests only: it brings up, on first use, what a test
// of the project's environment (e2e/env) needs and the environment does not
// build in advance. Today that is the language base images: e2e/env/up builds
// none unless asked (DRAFT_ENV_IMAGES), so each test asks for the ones its
// Dockerfile names, and a test never waits for an image it does not use.
package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// ensured are the references made sure of in this process.
var ensured = struct {
	sync.Mutex
	refs map[string]bool
}{refs: map[string]bool{}}

// Root is the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// BaseImages makes sure the local registry serves these base images (as a
// Dockerfile's FROM names them: "python:3.12-slim"), building those that a
// recipe of e2e/env/images provides and that are missing. It does nothing
// outside the project's environment (no $DRAFT_REGISTRY_MIRROR): the test's
// own checks of the environment then skip or fail.
func BaseImages(t testing.TB, refs ...string) {
	t.Helper()
	if os.Getenv("DRAFT_REGISTRY_MIRROR") == "" || len(refs) == 0 {
		return
	}
	if os.Geteuid() != 0 {
		t.Logf("not root: base images %v are not built here (e2e/env/images/mkbase.sh runs as root)", refs)
		return
	}
	// once per test process: every draft up of the suite asks again
	ensured.Lock()
	defer ensured.Unlock()
	refs = slices.DeleteFunc(slices.Clone(refs), func(r string) bool { return ensured.refs[r] })
	if len(refs) == 0 {
		return
	}
	start := time.Now()
	cmd := exec.Command("bash", append([]string{filepath.Join(Root(), "e2e", "env", "images", "mkbase.sh"), "ensure-ref"}, refs...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("bringing up the base images %v: %v\n%s", refs, err, tail(out.String(), 30))
	}
	for _, r := range refs {
		ensured.refs[r] = true
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Logf("base images %v ready in %s", refs, d.Round(100*time.Millisecond))
	}
}

// BaseImagesOf does BaseImages for the images that the Dockerfile in dir
// names in its FROM lines (none when there is no Dockerfile).
func BaseImagesOf(t testing.TB, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		return
	}
	BaseImages(t, FromRefs(string(b))...)
}

// FromRefs lists the images of a Dockerfile's FROM lines, read with the
// parser pkg/build uses (moby/buildkit's), skipping the names of its own
// stages, scratch, and references that use build arguments.
func FromRefs(dockerfile string) []string {
	res, err := parser.Parse(strings.NewReader(dockerfile))
	if err != nil {
		return nil
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil
	}
	var refs []string
	named := map[string]bool{}
	for _, st := range stages {
		ref := st.BaseName
		if !named[strings.ToLower(ref)] && ref != "scratch" && !strings.Contains(ref, "$") && !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
		if st.Name != "" {
			named[strings.ToLower(st.Name)] = true
		}
	}
	return refs
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
