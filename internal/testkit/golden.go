package testkit

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// Update is the one -update flag of every package whose tests have golden
// files: `go test ./pkg/X -run Golden -update` (make golden: all of them)
// rewrites them from what the code produces now.
var Update = flag.Bool("update", false, "rewrite the golden files under testdata/ from what the code produces")

// Golden compares got with the golden file at path, or with -update writes
// it there.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run Golden -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -run Golden -update accepts the change):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
