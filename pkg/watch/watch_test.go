package watch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/draftk8s/draft/internal/testkit"
)

// Delays for the tests: short, yet wide enough that a test's own writes
// (under -race, on a busy machine) never straddle two batches.
const (
	testDelay  = 100 * time.Millisecond
	burstDelay = 300 * time.Millisecond
	// quiet is how long "no batch" is waited for.
	quiet = 600 * time.Millisecond
	// patience is how long a batch is waited for.
	patience = 10 * time.Second
)

// tree writes files (path -> content; a path ending in / is a directory).
func tree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// running is a Watcher whose Run is going, with the test's log.
type running struct {
	*Watcher
	root string
	log  *testkit.LockedBuffer
	stop func() error
}

// start watches root and runs the watcher until the test ends.
func start(t *testing.T, root string, opts ...Option) *running {
	t.Helper()
	log := &testkit.LockedBuffer{}
	w, err := New(root, append([]Option{WithDelay(testDelay), WithLog(log)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(patience):
				runErr = errors.New("Run did not return after its context was cancelled")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() && log.Len() > 0 {
			t.Logf("watcher's log:\n%s", log.String())
		}
	})
	return &running{Watcher: w, root: root, log: log, stop: stop}
}

// next waits for a batch.
func (r *running) next(t *testing.T) Batch {
	t.Helper()
	select {
	case b, ok := <-r.Batches():
		if !ok {
			t.Fatal("Batches was closed")
		}
		return b
	case <-time.After(patience):
		t.Fatalf("no batch after %v", patience)
	}
	return Batch{}
}

// none checks that no batch comes for a while.
func (r *running) none(t *testing.T) {
	t.Helper()
	select {
	case b := <-r.Batches():
		t.Fatalf("unexpected batch %q", b.Paths)
	case <-time.After(quiet):
	}
}

func (r *running) path(p string) string { return filepath.Join(r.root, filepath.FromSlash(p)) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Every way an editor saves is one batch naming the file saved.
func TestSaveStyles(t *testing.T) {
	write := func(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }
	tests := []struct {
		name string
		save func(p string) error
	}{
		{"write in place", func(p string) error { return write(p, "v2") }},
		{"append", func(p string) error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			for i := 0; i < 3; i++ {
				fmt.Fprintf(f, "line %d\n", i)
			}
			return f.Close()
		}},
		{"write temp, rename over (VS Code, atomic writers)", func(p string) error {
			if err := write(p+".tmp", "v2"); err != nil {
				return err
			}
			return os.Rename(p+".tmp", p)
		}},
		{"write a hidden temp of any name, rename over", func(p string) error {
			tmp := filepath.Join(filepath.Dir(p), ".main.go.84121")
			if err := write(tmp, "v2"); err != nil {
				return err
			}
			return os.Rename(tmp, p)
		}},
		{"delete, then create", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return write(p, "v2")
		}},
		{"vim, backupcopy=no", func(p string) error {
			dir := filepath.Dir(p)
			// vim's probe that it may create files here
			if err := write(filepath.Join(dir, "4913"), ""); err != nil {
				return err
			}
			if err := os.Remove(filepath.Join(dir, "4913")); err != nil {
				return err
			}
			if err := write(filepath.Join(dir, ".main.go.swp"), "swap"); err != nil {
				return err
			}
			if err := os.Rename(p, p+"~"); err != nil { // the backup
				return err
			}
			if err := write(p, "v2"); err != nil {
				return err
			}
			if err := os.Chmod(p, 0o644); err != nil {
				return err
			}
			if err := os.Remove(p + "~"); err != nil {
				return err
			}
			return os.Remove(filepath.Join(dir, ".main.go.swp"))
		}},
		{"vim, backupcopy=yes", func(p string) error {
			if err := write(p+"~", "v1"); err != nil { // the backup, copied
				return err
			}
			if err := write(p, "v2"); err != nil {
				return err
			}
			return os.Remove(p + "~")
		}},
		{"JetBrains safe write", func(p string) error {
			if err := write(p+"___jb_tmp___", "v2"); err != nil {
				return err
			}
			if err := os.Rename(p, p+"___jb_old___"); err != nil {
				return err
			}
			if err := os.Rename(p+"___jb_tmp___", p); err != nil {
				return err
			}
			return os.Remove(p + "___jb_old___")
		}},
		{"emacs", func(p string) error {
			dir := filepath.Dir(p)
			if err := os.Symlink("user@host.1234:1", filepath.Join(dir, ".#main.go")); err != nil {
				return err
			}
			if err := write(filepath.Join(dir, "#main.go#"), "autosave"); err != nil {
				return err
			}
			if err := os.Rename(p, p+"~"); err != nil {
				return err
			}
			if err := write(p, "v2"); err != nil {
				return err
			}
			if err := os.Remove(filepath.Join(dir, "#main.go#")); err != nil {
				return err
			}
			return os.Remove(filepath.Join(dir, ".#main.go"))
		}},
		{"write, then chmod", func(p string) error {
			if err := write(p, "v2"); err != nil {
				return err
			}
			return os.Chmod(p, 0o755)
		}},
	}
	for _, tt := range tests {
		for _, where := range []string{"main.go", "pkg/server/main.go"} {
			t.Run(tt.name+" "+where, func(t *testing.T) {
				root := t.TempDir()
				tree(t, root, map[string]string{where: "v1", "README.md": "hi"})
				r := start(t, root)
				must(t, tt.save(r.path(where)))
				b := r.next(t)
				if !slices.Equal(b.Paths, []string{where}) {
					t.Errorf("batch %q, want [%s]", b.Paths, where)
				}
				r.none(t)
			})
		}
	}
}

// vim itself, as installed, saving with :w.
func TestRealVim(t *testing.T) {
	if _, err := exec.LookPath("vim"); err != nil {
		t.Skip("vim is not installed")
	}
	for _, set := range []string{"", "set backup writebackup backupcopy=no", "set backupcopy=yes"} {
		t.Run("vim "+set, func(t *testing.T) {
			root := t.TempDir()
			tree(t, root, map[string]string{"app.py": "print(1)\n"})
			r := start(t, root)
			args := []string{"-u", "NONE", "-i", "NONE", "-N", "-es"}
			if set != "" {
				args = append(args, "-c", set)
			}
			args = append(args, "-c", "normal! Goprint(2)", "-c", "wq", "app.py")
			cmd := exec.Command("vim", args...)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("vim: %v: %s", err, out)
			}
			if b := r.next(t); !slices.Equal(b.Paths, []string{"app.py"}) {
				t.Errorf("batch %q, want [app.py]", b.Paths)
			}
			r.none(t)
		})
	}
}

// What changes nothing, or changes only what is left out, makes no batch.
func TestNoBatch(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *running) error
	}{
		{"chmod only", func(r *running) error { return os.Chmod(r.path("main.go"), 0o600) }},
		{"touch only", func(r *running) error {
			now := time.Now()
			return os.Chtimes(r.path("main.go"), now, now)
		}},
		{"editor files", func(r *running) error {
			for _, name := range []string{".main.go.swp", ".main.go.swo", ".main.go.swx", "main.go~", "4913", ".#main.go",
				"#main.go#", "main.go___jb_tmp___", "main.go___jb_old___", ".DS_Store", "main.go.tmp", "pkg/.x.swp"} {
				if err := os.WriteFile(r.path(name), []byte("x"), 0o644); err != nil {
					return err
				}
			}
			return nil
		}},
		{"a file created and removed at once", func(r *running) error {
			if err := os.WriteFile(r.path("scratch.txt"), []byte("x"), 0o644); err != nil {
				return err
			}
			return os.Remove(r.path("scratch.txt"))
		}},
		{"in .git", func(r *running) error {
			return os.WriteFile(r.path(".git/index"), []byte("x"), 0o644)
		}},
		{"new directory in .git", func(r *running) error {
			return os.MkdirAll(r.path(".git/refs/heads/feature"), 0o755)
		}},
		{"in node_modules (.dockerignore)", func(r *running) error {
			return os.WriteFile(r.path("node_modules/lodash/index.js"), []byte("x"), 0o644)
		}},
		{"new package in node_modules", func(r *running) error {
			return os.MkdirAll(r.path("node_modules/left-pad/lib"), 0o755)
		}},
		{"a file .dockerignore leaves out", func(r *running) error {
			return os.WriteFile(r.path("debug.log"), []byte("x"), 0o644)
		}},
		{"in a directory .gitignore leaves out", func(r *running) error {
			return os.WriteFile(r.path("build/out.o"), []byte("x"), 0o644)
		}},
		{"in a directory a nested .gitignore leaves out", func(r *running) error {
			return os.WriteFile(r.path("web/dist/app.js"), []byte("x"), 0o644)
		}},
		{"a file a nested .gitignore leaves out", func(r *running) error {
			return os.WriteFile(r.path("web/app.map"), []byte("x"), 0o644)
		}},
		{"in a directory .draftignore leaves out", func(r *running) error {
			return os.WriteFile(r.path("data/big.csv"), []byte("x"), 0o644)
		}},
		{"in a directory WithIgnore leaves out", func(r *running) error {
			return os.WriteFile(r.path("coverage/lcov.info"), []byte("x"), 0o644)
		}},
		{"a new directory .gitignore leaves out, with files", func(r *running) error {
			if err := os.MkdirAll(r.path("web/.cache/x"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(r.path("web/.cache/x/y"), []byte("x"), 0o644)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tree(t, root, map[string]string{
				"main.go":                  "package main",
				"pkg/":                     "",
				".git/HEAD":                "ref: refs/heads/main",
				".git/refs/heads/":         "",
				".dockerignore":            "node_modules\n*.log\n",
				".gitignore":               "/build/\n",
				"build/":                   "",
				"web/.gitignore":           "dist/\n*.map\n.cache\n",
				"web/dist/":                "",
				"node_modules/lodash/x.js": "",
				".draftignore":             "data\n",
				"data/":                    "",
				"coverage/":                "",
			})
			r := start(t, root, WithIgnore("coverage"))
			must(t, tt.change(r))
			r.none(t)
			// A change that counts, afterwards, is alone in its batch.
			must(t, os.WriteFile(r.path("main.go"), []byte("package main // 2"), 0o644))
			if b := r.next(t); !slices.Equal(b.Paths, []string{"main.go"}) {
				t.Errorf("batch %q, want [main.go]", b.Paths)
			}
		})
	}
}

// Directories left out are never watched at all.
func TestWatches(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		opts  []Option
		want  []string // watched directories
	}{
		{
			name:  "plain tree",
			files: map[string]string{"a/b/c/": "", "a/d/": "", "e/": "", "f.txt": ""},
			want:  []string{".", "a", "a/b", "a/b/c", "a/d", "e"},
		},
		{
			name: ".git, .dockerignore, .gitignore, nested .gitignore, .draftignore",
			files: map[string]string{
				".git/objects/ab/": "", ".dockerignore": "node_modules\n**/__pycache__\n", "node_modules/x/y/": "",
				".gitignore": "venv/\n*.egg-info\n", "venv/lib/python3/": "", "src/app.egg-info/": "",
				"src/__pycache__/": "", "src/pkg/": "", "web/.gitignore": "/dist\n", "web/dist/js/": "", "web/src/dist/": "",
				".draftignore": "testdata/big\n", "testdata/big/x/": "", "testdata/small/": "",
			},
			want: []string{".", "src", "src/pkg", "testdata", "testdata/small", "web", "web/src", "web/src/dist"},
		},
		{
			name:  "WithIgnore",
			files: map[string]string{"target/classes/": "", "src/main/": ""},
			opts:  []Option{WithIgnore("target", "/src/main")},
			want:  []string{".", "src"},
		},
		{
			name: "draft's own files are watched though .dockerignore leaves them out",
			files: map[string]string{
				".dockerignore": "charts\ndraft.toml\nDockerfile\ndeploy\n", "charts/app/templates/": "",
				"deploy/helm/app/": "", "deploy/other/": "",
			},
			opts: []Option{WithInclude("deploy/helm")},
			want: []string{".", "charts", "charts/app", "charts/app/templates", "deploy", "deploy/helm", "deploy/helm/app"},
		},
		{
			name:  "a ! pattern brings a directory back",
			files: map[string]string{".dockerignore": "docs\n!docs/api\n", "docs/api/v1/": "", "docs/guide/": ""},
			want:  []string{".", "docs", "docs/api", "docs/api/v1"},
		},
		{
			name:  "symlinks to directories are not followed",
			files: map[string]string{"real/": ""},
			want:  []string{".", "real"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tree(t, root, tt.files)
			if tt.name == "symlinks to directories are not followed" {
				must(t, os.Symlink(filepath.Join(root, "real"), filepath.Join(root, "link")))
				must(t, os.Symlink("/", filepath.Join(root, "slash")))
			}
			w, err := New(root, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if got := sortedKeys(w.dirs); !slices.Equal(got, tt.want) {
				t.Errorf("watched %q, want %q", got, tt.want)
			}
			if w.Watches() != len(tt.want) {
				t.Errorf("Watches() = %d, want %d", w.Watches(), len(tt.want))
			}
			if n := len(w.fsw.WatchList()); n != len(tt.want) {
				t.Errorf("fsnotify watches %d, want %d", n, len(tt.want))
			}
		})
	}
}

// A new directory is watched, and the files written in it before its watch
// was added are in the batch.
func TestNewDirectories(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{"main.go": ""})
	r := start(t, root)
	must(t, os.MkdirAll(r.path("a/b/c"), 0o755))
	must(t, os.WriteFile(r.path("a/b/c/x.go"), []byte("x"), 0o644))
	must(t, os.WriteFile(r.path("a/y.go"), []byte("y"), 0o644))
	b := r.next(t)
	want := []string{"a", "a/b", "a/b/c", "a/b/c/x.go", "a/y.go"}
	if !slices.Equal(b.Paths, want) {
		t.Errorf("batch %q, want %q", b.Paths, want)
	}
	if r.Watches() != 4 {
		t.Errorf("Watches() = %d, want 4", r.Watches())
	}
	// The new directories are watched: a later write is seen.
	must(t, os.WriteFile(r.path("a/b/c/x.go"), []byte("x2"), 0o644))
	if b := r.next(t); !slices.Equal(b.Paths, []string{"a/b/c/x.go"}) {
		t.Errorf("batch %q, want [a/b/c/x.go]", b.Paths)
	}
}

// Many directories and files created at once (an unpacked archive, a
// generator) are all seen, however fast they come.
func TestNewTreeRace(t *testing.T) {
	root := t.TempDir()
	r := start(t, root, WithDelay(burstDelay))
	var want []string
	for i := 0; i < 20; i++ {
		d := fmt.Sprintf("gen/d%02d/e", i)
		must(t, os.MkdirAll(r.path(d), 0o755))
		must(t, os.WriteFile(r.path(d+"/f.go"), nil, 0o644))
		want = append(want, fmt.Sprintf("gen/d%02d", i), d, d+"/f.go")
	}
	want = append(want, "gen")
	slices.Sort(want)
	if b := r.next(t); !slices.Equal(b.Paths, want) {
		t.Errorf("batch %q, want %q", b.Paths, want)
	}
	if r.Watches() != 1+1+40 {
		t.Errorf("Watches() = %d, want 42", r.Watches())
	}
}

// A burst of a thousand files, as a git checkout writes, is one batch.
func TestBurst(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{}
	for i := 0; i < 1000; i++ {
		files[fmt.Sprintf("pkg%d/f%03d.go", i%10, i)] = "v1"
	}
	tree(t, root, files)
	r := start(t, root, WithDelay(burstDelay))
	var last time.Time
	for p := range files {
		must(t, os.WriteFile(r.path(p), []byte("v2"), 0o644))
		last = time.Now()
	}
	b := r.next(t)
	if len(b.Paths) != 1000 {
		t.Errorf("batch of %d paths, want 1000", len(b.Paths))
	}
	if b.At.Before(last.Add(-time.Second)) || b.At.After(time.Now()) {
		t.Errorf("batch At %v, last write at %v", b.At, last)
	}
	r.none(t)
}

// A burst made with git itself.
func TestGitCheckout(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	root := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=a"}, args...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	files := func(v string) map[string]string {
		m := map[string]string{}
		for i := 0; i < 1000; i++ {
			m[fmt.Sprintf("pkg%d/f%03d.go", i%10, i)] = v
		}
		return m
	}
	git("init", "-q")
	tree(t, root, files("a"))
	git("add", ".")
	git("commit", "-qm", "a")
	git("checkout", "-qb", "b")
	tree(t, root, files("b"))
	tree(t, root, map[string]string{"newdir/sub/x.go": "b"})
	git("add", ".")
	git("commit", "-qm", "b")
	r := start(t, root, WithDelay(burstDelay))
	git("checkout", "-q", "a")
	b := r.next(t)
	if len(b.Paths) != 1000+3 { // the files, and newdir, newdir/sub, newdir/sub/x.go gone
		t.Errorf("batch of %d paths, want 1003", len(b.Paths))
	}
	r.none(t)
	if r.Watches() != 11 {
		t.Errorf("Watches() = %d after newdir went, want 11", r.Watches())
	}
	git("checkout", "-q", "b")
	if b := r.next(t); len(b.Paths) != 1003 {
		t.Errorf("batch of %d paths, want 1003", len(b.Paths))
	}
	r.none(t)
	if r.Watches() != 13 {
		t.Errorf("Watches() = %d after newdir came back, want 13", r.Watches())
	}
}

// A change made while the receiver is busy is not lost: batches it has not
// taken are merged, and a change after it took one is the next.
func TestSlowReceiver(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{"a.go": "", "b.go": "", "c.go": ""})
	r := start(t, root)
	must(t, os.WriteFile(r.path("a.go"), []byte("1"), 0o644))
	time.Sleep(testDelay + quiet) // a's batch is ready, not taken
	must(t, os.WriteFile(r.path("b.go"), []byte("1"), 0o644))
	time.Sleep(testDelay + quiet) // b's batch is ready too: merged with a's
	b := r.next(t)
	if !slices.Equal(b.Paths, []string{"a.go", "b.go"}) {
		t.Errorf("batch %q, want [a.go b.go]", b.Paths)
	}
	// The receiver is busy with that batch; c changes meanwhile.
	must(t, os.WriteFile(r.path("c.go"), []byte("1"), 0o644))
	time.Sleep(testDelay + quiet)
	if b := r.next(t); !slices.Equal(b.Paths, []string{"c.go"}) {
		t.Errorf("batch %q, want [c.go]", b.Paths)
	}
	r.none(t)
}

// A change made after New but before Run is in the first batch.
func TestChangeBeforeRun(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{"a.go": ""})
	w, err := New(root, WithDelay(testDelay))
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(root, "a.go"), []byte("1"), 0o644))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	select {
	case b := <-w.Batches():
		if !slices.Equal(b.Paths, []string{"a.go"}) {
			t.Errorf("batch %q, want [a.go]", b.Paths)
		}
	case <-time.After(patience):
		t.Fatal("no batch")
	}
}

// Removed and renamed directories lose their watches; a renamed one is
// watched under its new name.
func TestRemoveAndRenameDirectories(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{"a/b/c/x.go": "", "keep/y.go": "", "gone/d/z.go": ""})
	r := start(t, root)
	if r.Watches() != 7 {
		t.Fatalf("Watches() = %d, want 7", r.Watches())
	}

	must(t, os.RemoveAll(r.path("gone")))
	if b := r.next(t); !slices.Equal(b.Paths, []string{"gone", "gone/d", "gone/d/z.go"}) {
		t.Errorf("batch %q, want the removed paths", b.Paths)
	}
	if r.Watches() != 5 {
		t.Errorf("Watches() = %d after removing gone/, want 5", r.Watches())
	}

	must(t, os.Rename(r.path("a"), r.path("moved")))
	b := r.next(t)
	want := []string{"a", "moved", "moved/b", "moved/b/c", "moved/b/c/x.go"}
	if !slices.Equal(b.Paths, want) {
		t.Errorf("batch %q, want %q", b.Paths, want)
	}
	if r.Watches() != 5 {
		t.Errorf("Watches() = %d after the rename, want 5", r.Watches())
	}
	// The moved tree is watched under its new name, the old one is not.
	must(t, os.WriteFile(r.path("moved/b/c/x.go"), []byte("2"), 0o644))
	if b := r.next(t); !slices.Equal(b.Paths, []string{"moved/b/c/x.go"}) {
		t.Errorf("batch %q, want [moved/b/c/x.go]", b.Paths)
	}
	must(t, os.MkdirAll(r.path("a/b"), 0o755)) // a new a/, not the old watch
	if b := r.next(t); !slices.Equal(b.Paths, []string{"a", "a/b"}) {
		t.Errorf("batch %q, want [a a/b]", b.Paths)
	}
	if r.Watches() != 7 {
		t.Errorf("Watches() = %d, want 7", r.Watches())
	}

	// Moved out of the tree, then back in.
	outside := filepath.Join(t.TempDir(), "out")
	must(t, os.Rename(r.path("moved"), outside))
	r.next(t)
	if r.Watches() != 4 {
		t.Errorf("Watches() = %d after moving out, want 4", r.Watches())
	}
	must(t, os.WriteFile(filepath.Join(outside, "b/c/x.go"), []byte("3"), 0o644))
	r.none(t)
	must(t, os.Rename(outside, r.path("back")))
	if b := r.next(t); !slices.Equal(b.Paths, []string{"back", "back/b", "back/b/c", "back/b/c/x.go"}) {
		t.Errorf("batch %q after moving back in", b.Paths)
	}
	if r.Watches() != 7 {
		t.Errorf("Watches() = %d after moving back in, want 7", r.Watches())
	}

	// Renamed to a name that is left out: its watches go.
	must(t, os.WriteFile(r.path(".dockerignore"), []byte("node_modules\n"), 0o644))
	r.next(t)
	must(t, os.Rename(r.path("back"), r.path("node_modules")))
	if b := r.next(t); !slices.Equal(b.Paths, []string{"back"}) {
		t.Errorf("batch %q, want [back]", b.Paths)
	}
	if r.Watches() != 4 {
		t.Errorf("Watches() = %d, want 4", r.Watches())
	}
}

// A changed .gitignore, .dockerignore or .draftignore changes what is watched.
func TestRulesChange(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{"gen/x/": "", "src/a.go": "", "vendor/m/": ""})
	r := start(t, root)
	if r.Watches() != 6 {
		t.Fatalf("Watches() = %d, want 6", r.Watches())
	}
	must(t, os.WriteFile(r.path(".gitignore"), []byte("gen/\n"), 0o644))
	if b := r.next(t); !slices.Equal(b.Paths, []string{".gitignore"}) {
		t.Errorf("batch %q, want [.gitignore]", b.Paths)
	}
	waitWatches(t, r, 4)
	must(t, os.WriteFile(r.path("gen/x/out.go"), nil, 0o644))
	r.none(t)

	must(t, os.WriteFile(r.path(".draftignore"), []byte("vendor\n"), 0o644))
	r.next(t)
	waitWatches(t, r, 2)

	must(t, os.Remove(r.path(".gitignore")))
	r.next(t)
	waitWatches(t, r, 4)
	must(t, os.WriteFile(r.path("gen/x/out.go"), []byte("2"), 0o644))
	if b := r.next(t); !slices.Equal(b.Paths, []string{"gen/x/out.go"}) {
		t.Errorf("batch %q, want [gen/x/out.go]", b.Paths)
	}
}

func waitWatches(t *testing.T, r *running, want int) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for r.Watches() != want {
		if time.Now().After(deadline) {
			t.Fatalf("Watches() = %d, want %d", r.Watches(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The batch comes a delay after the last change, not before.
func TestDelay(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{"a.go": ""})
	r := start(t, root, WithDelay(200*time.Millisecond))
	var last time.Time
	for i := 0; i < 5; i++ { // changes 50 ms apart: one burst
		must(t, os.WriteFile(r.path("a.go"), []byte{byte(i)}, 0o644))
		last = time.Now()
		time.Sleep(50 * time.Millisecond)
	}
	r.next(t)
	if waited := time.Since(last); waited < 200*time.Millisecond {
		t.Errorf("batch %v after the last change, before the delay", waited)
	}
	r.none(t)
}

// Hitting the system's limit on watches is one sentence on how to raise it.
func TestLimits(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		after int // watches added before the failure
		want  []string
	}{
		{"watches, at the root", syscall.ENOSPC, 0, []string{"needs more inotify watches than the system allows", "fs.inotify.max_user_watches", "sudo sysctl fs.inotify.max_user_watches=524288", ".dockerignore"}},
		{"watches, deep down", syscall.ENOSPC, 3, []string{"needs more inotify watches", "reached at "}},
		{"watches, among many directories", syscall.ENOSPC, 5, []string{"needs more inotify watches", "reached at "}},
		{"instances", syscall.EMFILE, 1, []string{"inotify instance", "fs.inotify.max_user_instances", "sudo sysctl fs.inotify.max_user_instances=1024"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tree(t, root, map[string]string{"a/b/c/d/": ""})
			for i := 0; i < 20; i++ {
				tree(t, root, map[string]string{fmt.Sprintf("many/d%02d/", i): ""})
			}
			var n atomic.Int32
			_, err := New(root, withAddWatch(func(dir string, add func(string) error) error {
				if int(n.Add(1)) > tt.after {
					return tt.err
				}
				return add(dir)
			}))
			var le *LimitError
			if !errors.As(err, &le) || !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want a LimitError for %v", err, tt.err)
			}
			t.Log(err)
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Count(err.Error(), ". ") > 0 || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is more than one sentence", err)
			}
		})
	}
}

// A limit hit while watching (big new directories) is one warning, however
// many directories meet it: the other watches carry on, the folders that
// could not be watched are looked at every second (no edit in them is
// missed), and they are watched again once the limit allows.
func TestLimitWhileRunning(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{"a.go": ""})
	var full atomic.Bool
	r := start(t, root, withAddWatch(func(dir string, add func(string) error) error {
		if full.Load() {
			return syscall.ENOSPC
		}
		return add(dir)
	}))
	before := r.Watches()
	full.Store(true)
	for i := range 25 {
		must(t, os.MkdirAll(r.path(fmt.Sprintf("big%02d/x", i)), 0o755))
	}
	// The new folders come in batches (those the poll finds among them too):
	// every one of them, and nothing after.
	got := map[string]bool{}
	for deadline := time.Now().Add(patience); len(got) < 50 && time.Now().Before(deadline); {
		select {
		case b := <-r.Batches():
			for _, p := range b.Paths {
				got[p] = true
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
	if len(got) != 50 {
		t.Errorf("batches named %d paths, want the 50 new folders: %v", len(got), slices.Sorted(maps.Keys(got)))
	}
	select {
	case b := <-r.Batches():
		t.Errorf("another batch after the new folders: %q", b.Paths)
	case <-time.After(2 * pollEvery):
	}
	if n := strings.Count(r.log.String(), "sudo sysctl fs.inotify.max_user_watches"); n != 1 {
		t.Errorf("the limit was told %d times, want once; log:\n%s", n, r.log.String())
	}
	must(t, os.WriteFile(r.path("a.go"), []byte("2"), 0o644))
	if b := r.next(t); !slices.Equal(b.Paths, []string{"a.go"}) {
		t.Errorf("batch %q, want [a.go]", b.Paths)
	}
	// An edit in a folder without a watch is found by the poll.
	must(t, os.WriteFile(r.path("big03/x/f.go"), []byte("1"), 0o644))
	if b := r.next(t); !slices.Equal(b.Paths, []string{"big03/x/f.go"}) {
		t.Errorf("batch %q, want [big03/x/f.go]", b.Paths)
	}
	if r.Watches() != before {
		t.Errorf("%d watches, want %d while the limit holds", r.Watches(), before)
	}
	// The limit raised: the folders get their watches, and edits are events again.
	full.Store(false)
	deadline := time.Now().Add(patience)
	for r.Watches() != before+50 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if r.Watches() != before+50 {
		t.Fatalf("%d watches after the limit was raised, want %d", r.Watches(), before+50)
	}
	if !strings.Contains(r.log.String(), "is watched again") {
		t.Errorf("log %q does not say the folders are watched again", r.log.String())
	}
	must(t, os.WriteFile(r.path("big07/x/g.go"), []byte("1"), 0o644))
	if b := r.next(t); !slices.Equal(b.Paths, []string{"big07/x/g.go"}) {
		t.Errorf("batch %q, want [big07/x/g.go]", b.Paths)
	}
}

// Cancelling the context ends Run at once, closes Batches and leaves no
// goroutine behind.
func TestCancel(t *testing.T) {
	before := watchGoroutines()
	root := t.TempDir()
	files := map[string]string{}
	for i := 0; i < 50; i++ {
		files[fmt.Sprintf("d%d/e/f.go", i)] = ""
	}
	tree(t, root, files)
	w, err := New(root, WithDelay(testDelay))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	// Cancel in the middle of a burst.
	for p := range files {
		must(t, os.WriteFile(filepath.Join(root, p), []byte("2"), 0o644))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Run did not return within a second of the cancellation")
	}
	for range w.Batches() {
	}
	if err := w.Run(context.Background()); err == nil {
		t.Error("a second Run did not fail")
	}
	if left := waitGoroutines(before); left != "" {
		t.Errorf("goroutines left behind:\n%s", left)
	}
}

// Close without Run releases everything too.
func TestCloseWithoutRun(t *testing.T) {
	before := watchGoroutines()
	w, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	must(t, w.Close())
	must(t, w.Close())
	if left := waitGoroutines(before); left != "" {
		t.Errorf("goroutines left behind:\n%s", left)
	}
}

// The root going away ends Run with an error, also when a process still
// has it open (a shell's working directory after rm -rf .: the kernel tells
// of the removal only once the last holder lets go), and when another
// folder takes its place.
func TestRootRemoved(t *testing.T) {
	for _, tt := range []struct {
		name string
		hold bool // keep the root open while it is removed
		redo bool // make another folder under its name
		want string
	}{
		{"removed", false, false, "nothing left to watch"},
		{"removed while open", true, false, "nothing left to watch"},
		{"replaced", true, true, "replaced by another folder"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			root := filepath.Join(parent, "app")
			tree(t, root, map[string]string{"a.go": "", "sub/b.go": ""})
			w, err := New(root, WithDelay(testDelay))
			if err != nil {
				t.Fatal(err)
			}
			if tt.hold {
				f, err := os.Open(root)
				must(t, err)
				defer f.Close()
			}
			done := make(chan error, 1)
			go func() { done <- w.Run(context.Background()) }()
			must(t, os.RemoveAll(root))
			if tt.redo {
				tree(t, root, map[string]string{"a.go": ""})
			}
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Run: %v, want %q", err, tt.want)
				}
			case <-time.After(patience):
				t.Fatal("Run did not return")
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, map[string]string{"file": "", "bad/.dockerignore": "[\n"})
	for _, tt := range []struct{ root, want string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{filepath.Join(dir, "file"), "not a directory"},
		{filepath.Join(dir, "bad"), "bad pattern"},
	} {
		if _, err := New(tt.root); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s): %v, want %q", tt.root, err, tt.want)
		}
	}
}

// watchGoroutines lists the goroutines of this package and of fsnotify.
func watchGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "fsnotify") || strings.Contains(g, "pkg/watch.(*Watcher)") {
			if !strings.Contains(g, "watchGoroutines") {
				out = append(out, g)
			}
		}
	}
	return out
}

// waitGoroutines waits for the goroutines not in before to end, and returns
// those that did not.
func waitGoroutines(before []string) string {
	deadline := time.Now().Add(2 * time.Second)
	for {
		now := watchGoroutines()
		if len(now) <= len(before) {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(now, "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// When the kernel drops events (its queue overflowed), the batch says
// anything may have changed, and the tree is walked again: a directory
// created unseen is watched.
func TestOverflow(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{"a.go": "", "old/x/": ""})
	r := start(t, root)
	// Blind the watcher, change the tree unseen, then drop events.
	must(t, r.fsw.Remove(root))
	must(t, r.fsw.Remove(r.path("old")))
	must(t, os.MkdirAll(r.path("unseen/sub"), 0o755))
	must(t, os.RemoveAll(r.path("old")))
	must(t, r.fsw.Add(root))
	r.fsw.Errors <- fsnotify.ErrEventOverflow
	if b := r.next(t); !slices.Equal(b.Paths, []string{"."}) {
		t.Errorf("batch %q, want [.]", b.Paths)
	}
	waitWatches(t, r, 3) // ., unseen, unseen/sub
	must(t, os.WriteFile(r.path("unseen/sub/y.go"), nil, 0o644))
	if b := r.next(t); !slices.Equal(b.Paths, []string{"unseen/sub/y.go"}) {
		t.Errorf("batch %q, want [unseen/sub/y.go]", b.Paths)
	}
	if !strings.Contains(r.log.String(), "dropped") {
		t.Errorf("log %q does not tell of the dropped events", r.log.String())
	}
}

// The root may be a symlink to the tree.
func TestSymlinkedRoot(t *testing.T) {
	real := t.TempDir()
	tree(t, real, map[string]string{"src/a.go": ""})
	link := filepath.Join(t.TempDir(), "app")
	must(t, os.Symlink(real, link))
	r := start(t, link)
	if r.Watches() != 2 {
		t.Errorf("Watches() = %d, want 2", r.Watches())
	}
	must(t, os.WriteFile(filepath.Join(real, "src/a.go"), []byte("2"), 0o644))
	if b := r.next(t); !slices.Equal(b.Paths, []string{"src/a.go"}) {
		t.Errorf("batch %q, want [src/a.go]", b.Paths)
	}
}

// The count of watched subdirectories each directory keeps (that lets a
// removal skip a look at every watch) stays right. The events are handled
// here, step by step, rather than by Run.
func TestSubdirCounts(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{"a/b/c/": "", "a/d/": "", "e/": ""})
	w, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	step := func(change func() error) {
		t.Helper()
		must(t, change())
		pending := map[string]bool{}
		for {
			select {
			case ev := <-w.fsw.Events:
				w.handle(context.Background(), ev, pending)
				continue
			case <-time.After(quiet):
			}
			break
		}
		counts := map[string]int32{}
		for d := range w.dirs {
			if d != "." {
				counts[filepath.ToSlash(filepath.Dir(d))]++
			}
		}
		for d, n := range w.dirs {
			if n != counts[d] {
				t.Errorf("%s counts %d watched subdirectories, has %d", d, n, counts[d])
			}
		}
	}
	step(func() error { return nil })
	step(func() error { return os.RemoveAll(filepath.Join(root, "a/b")) })
	step(func() error { return os.Rename(filepath.Join(root, "a"), filepath.Join(root, "e/a")) })
	step(func() error { return os.MkdirAll(filepath.Join(root, "e/a/x/y"), 0o755) })
	if got, want := sortedKeys(w.dirs), []string{".", "e", "e/a", "e/a/d", "e/a/x", "e/a/x/y"}; !slices.Equal(got, want) {
		t.Errorf("watched %q, want %q", got, want)
	}
}

// Early tells of a pause in a burst before its batch comes; a burst that
// changed nothing lasting ends with an empty batch after its Early.
func TestEarly(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{"a.go": ""})
	r := start(t, root, WithDelay(300*time.Millisecond), WithEarly(50*time.Millisecond))
	for i := 0; i < 3; i++ { // changes 20 ms apart: no pause
		must(t, os.WriteFile(r.path("a.go"), []byte{byte(i)}, 0o644))
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case e := <-r.Early():
		if strings.Join(e.Paths, " ") != "a.go" {
			t.Errorf("Early %q, want a.go", e.Paths)
		}
	case b := <-r.Batches():
		t.Fatalf("batch %q before Early", b.Paths)
	case <-time.After(patience):
		t.Fatal("no Early")
	}
	told := time.Now()
	b := r.next(t)
	if strings.Join(b.Paths, " ") != "a.go" {
		t.Errorf("batch %q, want a.go", b.Paths)
	}
	if gap := time.Since(told); gap < 150*time.Millisecond {
		t.Errorf("the batch came %s after Early, want about 250 ms", gap)
	}
	select {
	case <-r.Early():
		t.Error("a second Early for one pause")
	default:
	}

	// A file created and removed at once.
	must(t, os.WriteFile(r.path("x.txt"), nil, 0o644))
	must(t, os.Remove(r.path("x.txt")))
	select {
	case e := <-r.Early():
		if len(e.Paths) != 0 {
			t.Errorf("Early %q for a file already gone, want none", e.Paths)
		}
	case <-time.After(patience):
		t.Fatal("no Early for the short-lived file")
	}
	if b := r.next(t); len(b.Paths) != 0 {
		t.Errorf("batch %q after a change that came to nothing, want an empty one", b.Paths)
	}
	r.none(t)

	// Without WithEarly, no Early and no empty batch.
	r2 := start(t, t.TempDir())
	if r2.Early() != nil {
		t.Error("Early without WithEarly")
	}
}
