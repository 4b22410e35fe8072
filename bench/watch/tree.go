package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tree is the generated tree: its directories outside node_modules (the ones
// to watch) and, by directory, the files a burst writes to.
type tree struct {
	dirs      []string // relative directories holding files, outside node_modules
	perDir    int      // files in each
	watchable int      // directories to watch, the root included
}

// generate makes (or finds, from an earlier run with the same sizes) a tree of
// files in dirs directories, 100 at the top with the rest below them, and a
// node_modules with ignored files laid out the same way, left out by
// .dockerignore.
func generate(root string, dirs, files, ignored int) (*tree, error) {
	perDir := max(files/dirs, 1)
	t := &tree{perDir: perDir, watchable: dirs + 1}
	t.dirs = layout("", dirs)
	marker := filepath.Join(root, ".bench-generated")
	want := fmt.Sprintf("%d %d %d\n", dirs, files, ignored)
	if got, err := os.ReadFile(marker); err == nil && string(got) == want {
		return t, nil
	}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "generating %s: %d files in %d directories, %d in node_modules\n", root, files, dirs, ignored)
	if err := os.RemoveAll(root); err != nil {
		return nil, err
	}
	fill := func(dirs []string, perDir int) error {
		for _, d := range dirs {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				return err
			}
			for f := 0; f < perDir; f++ {
				if err := os.WriteFile(filepath.Join(root, d, fileName(f)), []byte("// generated\n"), 0o644); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := fill(t.dirs, perDir); err != nil {
		return nil, err
	}
	if ignored > 0 {
		if err := fill(layout("node_modules", max(ignored/perDir, 1)), perDir); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(root, ".dockerignore"), []byte("node_modules\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(marker, []byte(want), 0o644); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "generated in %v\n", time.Since(start).Round(time.Millisecond))
	return t, nil
}

// layout names n directories under parent: 100 at the top, the others spread
// below them.
func layout(parent string, n int) []string {
	top := min(100, n)
	var out []string
	for i := 0; i < top; i++ {
		out = append(out, filepath.Join(parent, fmt.Sprintf("d%03d", i)))
	}
	for i := 0; len(out) < n; i++ {
		out = append(out, filepath.Join(parent, fmt.Sprintf("d%03d", i%top), fmt.Sprintf("s%03d", i/top)))
	}
	return out
}

func fileName(i int) string { return fmt.Sprintf("f%03d.go", i) }

// writeBurst rewrites n files of the tree, spread over n/perDir directories
// that change with each burst, and returns when the last write ended.
func writeBurst(root string, t *tree, b, n int) time.Time {
	ndirs := (n + t.perDir - 1) / t.perDir
	written := 0
	for k := 0; k < ndirs && written < n; k++ {
		d := t.dirs[(b*ndirs+k)%len(t.dirs)]
		for f := 0; f < t.perDir && written < n; f++ {
			p := filepath.Join(root, d, fileName(f))
			if err := os.WriteFile(p, fmt.Appendf(nil, "// burst %d\n", b), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			written++
		}
	}
	return time.Now()
}

// countDirs walks the whole tree (warming the page cache) and counts its
// directories outside node_modules.
func countDirs(root string) (int, error) {
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && !strings.Contains(p, "node_modules") {
			n++
		}
		return nil
	})
	return n, err
}
