package build

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/go-archive"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// writeTree makes files under dir: a name ending in "/" is a directory, a
// value starting with "-> " a symlink to the rest, anything else a file.
func writeTree(t testing.TB, dir string, tree map[string]string) {
	t.Helper()
	for name, v := range tree {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(name, "/"):
			err = os.MkdirAll(p, 0o755)
		case strings.HasPrefix(v, "-> "):
			err = os.Symlink(strings.TrimPrefix(v, "-> "), p)
		default:
			err = os.WriteFile(p, []byte(v), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

type tarEntry struct {
	hdr  tar.Header
	data string
}

func readTar(t testing.TB, r io.Reader) []tarEntry {
	t.Helper()
	var out []tarEntry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading the context tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{*h, string(b)})
	}
}

func contextTar(t testing.TB, dir, dockerfile string, opts ...TarOption) []byte {
	t.Helper()
	rc, err := ContextTar(context.Background(), dir, dockerfile, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func names(entries []tarEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.hdr.Name)
	}
	return out
}

// dockerCLINames is what the docker CLI sends for dir: moby's own archiver
// (github.com/moby/go-archive) given the .dockerignore patterns plus the
// exceptions the CLI adds for the Dockerfile and .dockerignore.
func dockerCLINames(t *testing.T, dir, dockerfile string) []string {
	t.Helper()
	var excludes []string
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		excludes, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := patternmatcher.MatchesOrParentMatches(".dockerignore", excludes); ok {
		excludes = append(excludes, "!.dockerignore")
	}
	if ok, _ := patternmatcher.MatchesOrParentMatches(dockerfile, excludes); ok {
		excludes = append(excludes, "!"+dockerfile)
	}
	rc, err := archive.TarWithOptions(dir, &archive.TarOptions{ExcludePatterns: excludes})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out []string
	for _, e := range readTar(t, rc) {
		if e.hdr.Name != "./" && e.hdr.Name != "." {
			out = append(out, e.hdr.Name)
		}
	}
	return out
}

func TestContextTarFollowsDockerignoreAsDockerDoes(t *testing.T) {
	app := map[string]string{
		"Dockerfile":            "FROM scratch\n",
		"server.py":             "print('hi')\n",
		"README.md":             "readme",
		"README-secret.md":      "secret",
		"CHANGES.md":            "changes",
		"lib/util.py":           "util",
		"lib/util.pyc":          "bytecode",
		"lib/deep/x.pyc":        "bytecode",
		"lib/deep/x.log":        "log",
		"docs/keep.md":          "kept",
		"docs/other.md":         "dropped",
		"docs/img/a.png":        "png",
		".git/HEAD":             "ref: refs/heads/main",
		".env":                  "SECRET=1",
		"build/out.bin":         "bin",
		"charts/app/Chart.yaml": "name: app",
		"empty/":                "",
	}
	tests := []struct {
		name       string
		ignore     *string // nil: no .dockerignore
		dockerfile string
		extra      map[string]string
		want       []string
	}{
		{
			name: "no .dockerignore sends everything",
			want: []string{".env", ".git/", ".git/HEAD", "CHANGES.md", "Dockerfile", "README-secret.md", "README.md", "build/", "build/out.bin",
				"charts/", "charts/app/", "charts/app/Chart.yaml", "docs/", "docs/img/", "docs/img/a.png", "docs/keep.md", "docs/other.md",
				"empty/", "lib/", "lib/deep/", "lib/deep/x.log", "lib/deep/x.pyc", "lib/util.py", "lib/util.pyc", "server.py"},
		},
		{
			name:   "plain patterns, comments, a leading slash, **",
			ignore: ptr("# secrets\n.git\n.env\n/build\n**/*.pyc\n*.log\ncharts\nempty\n"),
			// *.log matches at the top only: lib/deep/x.log stays.
			want: []string{".dockerignore", "CHANGES.md", "Dockerfile", "README-secret.md", "README.md", "docs/", "docs/img/", "docs/img/a.png",
				"docs/keep.md", "docs/other.md", "lib/", "lib/deep/", "lib/deep/x.log", "lib/util.py", "server.py"},
		},
		{
			name:   "exceptions, and a later pattern that takes one back",
			ignore: ptr("*.md\n!README*.md\nREADME-secret.md\n"),
			want: []string{".dockerignore", ".env", ".git/", ".git/HEAD", "Dockerfile", "README.md", "build/", "build/out.bin",
				"charts/", "charts/app/", "charts/app/Chart.yaml", "docs/", "docs/img/", "docs/img/a.png", "docs/keep.md", "docs/other.md",
				"empty/", "lib/", "lib/deep/", "lib/deep/x.log", "lib/deep/x.pyc", "lib/util.py", "lib/util.pyc", "server.py"},
		},
		{
			name: "an exception inside an ignored directory walks it, without the directory itself",
			// docs/ is not sent (as docker does), docs/keep.md is.
			ignore: ptr("docs\n!docs/keep.md\n*\n!server.py\n!docs\n!lib/util.py\n"),
			want:   []string{".dockerignore", "Dockerfile", "docs/", "docs/img/", "docs/img/a.png", "docs/keep.md", "docs/other.md", "lib/util.py", "server.py"},
		},
		{
			name:   "an ignored directory with an exception for one file",
			ignore: ptr("docs\n!docs/keep.md\n"),
			want: []string{".dockerignore", ".env", ".git/", ".git/HEAD", "CHANGES.md", "Dockerfile", "README-secret.md", "README.md",
				"build/", "build/out.bin", "charts/", "charts/app/", "charts/app/Chart.yaml", "docs/keep.md",
				"empty/", "lib/", "lib/deep/", "lib/deep/x.log", "lib/deep/x.pyc", "lib/util.py", "lib/util.pyc", "server.py"},
		},
		{
			name:   "the Dockerfile and .dockerignore are sent even when ignored (draft's packs ignore them)",
			ignore: ptr("*\n!server.py\n"),
			want:   []string{".dockerignore", "Dockerfile", "server.py"},
		},
		{
			name: "a Dockerfile in an ignored directory is sent",
			// (*.md matches at the top only)
			ignore:     ptr("deploy\n*.md\n"),
			dockerfile: "deploy/Dockerfile.prod",
			extra:      map[string]string{"deploy/Dockerfile.prod": "FROM scratch\n", "deploy/notes.txt": "n"},
			want: []string{".dockerignore", ".env", ".git/", ".git/HEAD", "Dockerfile", "build/", "build/out.bin",
				"charts/", "charts/app/", "charts/app/Chart.yaml", "deploy/Dockerfile.prod", "docs/", "docs/img/", "docs/img/a.png",
				"docs/keep.md", "docs/other.md", "empty/", "lib/", "lib/deep/", "lib/deep/x.log", "lib/deep/x.pyc", "lib/util.py", "lib/util.pyc", "server.py"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, app)
			writeTree(t, dir, tc.extra)
			if tc.ignore != nil {
				writeTree(t, dir, map[string]string{".dockerignore": *tc.ignore})
			}
			df := tc.dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			got := names(readTar(t, bytes.NewReader(contextTar(t, dir, df))))
			sorted := slices.Clone(got)
			slices.Sort(sorted)
			if !slices.Equal(sorted, tc.want) {
				t.Errorf("sent:\n  %s\nwant:\n  %s", strings.Join(sorted, " "), strings.Join(tc.want, " "))
			}
			// The same set as moby's own archiver with the CLI's patterns.
			docker := dockerCLINames(t, dir, df)
			slices.Sort(docker)
			if !slices.Equal(sorted, docker) {
				t.Errorf("differs from the docker CLI:\n  draft:  %s\n  docker: %s", strings.Join(sorted, " "), strings.Join(docker, " "))
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestContextTarNeverLeavesTheDirectory(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"secret.txt": "TOP SECRET", "dir/inner.txt": "ALSO SECRET"})
	// A FIFO: anything that opened it for reading would block, and the test
	// would time out.
	if err := syscall.Mkfifo(filepath.Join(outside, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile":  "FROM scratch\n",
		"app.py":      "print(1)\n",
		"secret":      "-> " + filepath.Join(outside, "secret.txt"),
		"up":          "-> ../" + filepath.Base(outside) + "/secret.txt",
		"linkdir":     "-> " + filepath.Join(outside, "dir"),
		"fifo":        "-> " + filepath.Join(outside, "fifo"),
		"inside":      "-> app.py",
		"sub/dangles": "-> nowhere",
	})
	b := contextTar(t, dir, "Dockerfile")
	if bytes.Contains(b, []byte("SECRET")) {
		t.Fatal("the tar holds the content of a file outside the app directory")
	}
	got := map[string]tar.Header{}
	for _, e := range readTar(t, bytes.NewReader(b)) {
		got[e.hdr.Name] = e.hdr
	}
	for name, target := range map[string]string{
		"secret":      filepath.Join(outside, "secret.txt"),
		"up":          "../" + filepath.Base(outside) + "/secret.txt",
		"linkdir":     filepath.Join(outside, "dir"),
		"fifo":        filepath.Join(outside, "fifo"),
		"inside":      "app.py",
		"sub/dangles": "nowhere",
	} {
		h, ok := got[name]
		if !ok || h.Typeflag != tar.TypeSymlink || h.Linkname != target {
			t.Errorf("%s: got %+v, want a symlink to %s", name, h, target)
		}
	}
	if _, ok := got["linkdir/inner.txt"]; ok {
		t.Error("a symlinked directory was walked into")
	}
	if _, err := ContextDigest(dir, "Dockerfile", nil); err != nil {
		t.Fatal(err)
	}

	// A .dockerignore or a Dockerfile that is a symlink out is refused, not read.
	for _, name := range []string{".dockerignore", "Dockerfile"} {
		t.Run(name+" pointing out", func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\n"})
			os.Remove(filepath.Join(dir, name))
			writeTree(t, dir, map[string]string{name: "-> " + filepath.Join(outside, "fifo")})
			if _, err := ContextTar(context.Background(), dir, "Dockerfile"); err == nil {
				t.Error("ContextTar: no error")
			}
			if _, err := ContextDigest(dir, "Dockerfile", nil); err == nil {
				t.Error("ContextDigest: no error")
			}
		})
	}
}

func TestContextTarIsReproducible(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM scratch\n", ".dockerignore": "*.tmp\nDockerfile\n", "a/b/c.txt": "c", "a.txt": "a", "run.sh": "#!/bin/sh\n",
		"x.tmp": "ignored", "link": "-> a.txt",
		strings.Repeat("long-name/", 12) + "file.txt": "a path longer than ustar's 100 bytes",
	})
	os.Chmod(filepath.Join(dir, "run.sh"), 0o755)
	first := contextTar(t, dir, "Dockerfile")
	// New times everywhere: the bytes must not change.
	later := time.Now().Add(time.Hour)
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { os.Chtimes(p, later, later); return nil })
	if second := contextTar(t, dir, "Dockerfile"); !bytes.Equal(first, second) {
		t.Fatal("two tars of the same tree differ")
	}
	for _, e := range readTar(t, bytes.NewReader(first)) {
		h := e.hdr
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(time.Unix(ContextModTime, 0)) {
			t.Errorf("%s: owner %d:%d (%q:%q), time %s; want 0:0 at the fixed time", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
		}
		if h.Name == "run.sh" && h.Mode != 0o755 {
			t.Errorf("run.sh: mode %o, want 755", h.Mode)
		}
	}

	// Options: owner, time, prefix, and leaving out the ignored Dockerfile.
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	entries := readTar(t, bytes.NewReader(contextTar(t, dir, "Dockerfile", WithOwner(10001, 10002), WithModTime(at), WithPrefix("/app/"), WithoutIgnoredBuildFiles())))
	var got []string
	for _, e := range entries {
		got = append(got, e.hdr.Name)
		if e.hdr.Uid != 10001 || e.hdr.Gid != 10002 || !e.hdr.ModTime.Equal(at) {
			t.Errorf("%s: owner %d:%d time %s", e.hdr.Name, e.hdr.Uid, e.hdr.Gid, e.hdr.ModTime)
		}
	}
	want := []string{"app/.dockerignore", "app/a/", "app/a/b/", "app/a/b/c.txt", "app/a.txt", "app/link", "app/" + strings.Repeat("long-name/", 12),
		"app/" + strings.Repeat("long-name/", 12) + "file.txt", "app/run.sh"}
	// .dockerignore does not ignore itself here, so it stays; the Dockerfile goes.
	var wantDirs []string
	for _, w := range want {
		if strings.HasPrefix(w, "app/long-name/") {
			continue
		}
		wantDirs = append(wantDirs, w)
	}
	var gotShort []string
	for _, g := range got {
		if !strings.HasPrefix(g, "app/long-name/") {
			gotShort = append(gotShort, g)
		}
	}
	if !slices.Equal(gotShort, wantDirs) {
		t.Errorf("with options: %v, want %v (plus the long-name tree)", gotShort, wantDirs)
	}
}

func TestContextDigest(t *testing.T) {
	base := map[string]string{
		"Dockerfile":    "FROM python:3.12-slim\nCOPY . .\n",
		".dockerignore": "Dockerfile\n.dockerignore\n*.pyc\nvenv\n",
		"app.py":        "print('v1')\n",
		"lib/util.py":   "x = 1\n",
		"venv/bin/py":   "binary",
		"link":          "-> app.py",
	}
	tests := []struct {
		name    string
		change  func(dir string) error
		args    map[string]string
		changes bool
	}{
		{"nothing", func(string) error { return nil }, nil, false},
		{"a new mtime", func(d string) error {
			t := time.Now().Add(time.Hour)
			return os.Chtimes(filepath.Join(d, "app.py"), t, t)
		}, nil, false},
		{"an ignored file edited", func(d string) error { return os.WriteFile(filepath.Join(d, "venv/bin/py"), []byte("other"), 0o644) }, nil, false},
		{"an ignored file added", func(d string) error { return os.WriteFile(filepath.Join(d, "app.pyc"), []byte("pyc"), 0o644) }, nil, false},
		{"a sent file edited", func(d string) error { return os.WriteFile(filepath.Join(d, "app.py"), []byte("print('v2')\n"), 0o644) }, nil, true},
		{"a sent file edited, same size", func(d string) error { return os.WriteFile(filepath.Join(d, "lib/util.py"), []byte("x = 2\n"), 0o644) }, nil, true},
		{"a file made executable", func(d string) error { return os.Chmod(filepath.Join(d, "app.py"), 0o755) }, nil, true},
		{"a file added", func(d string) error { return os.WriteFile(filepath.Join(d, "new.py"), nil, 0o644) }, nil, true},
		{"an empty directory added", func(d string) error { return os.Mkdir(filepath.Join(d, "static"), 0o755) }, nil, true},
		{"a file renamed", func(d string) error {
			return os.Rename(filepath.Join(d, "lib/util.py"), filepath.Join(d, "lib/utils.py"))
		}, nil, true},
		{"a symlink retargeted", func(d string) error {
			os.Remove(filepath.Join(d, "link"))
			return os.Symlink("lib/util.py", filepath.Join(d, "link"))
		}, nil, true},
		{"the (ignored) Dockerfile edited", func(d string) error {
			return os.WriteFile(filepath.Join(d, "Dockerfile"), []byte("FROM python:3.13-slim\nCOPY . .\n"), 0o644)
		}, nil, true},
		{"a pattern dropped from .dockerignore", func(d string) error {
			return os.WriteFile(filepath.Join(d, ".dockerignore"), []byte("Dockerfile\n.dockerignore\n*.pyc\n"), 0o644)
		}, nil, true},
		{"a build arg", func(string) error { return nil }, map[string]string{"VERSION": "1"}, true},
	}
	ref := t.TempDir()
	writeTree(t, ref, base)
	want, err := ContextDigest(ref, "Dockerfile", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 64 {
		t.Fatalf("digest %q: want 64 hex digits", want)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, base)
			if err := tc.change(dir); err != nil {
				t.Fatal(err)
			}
			got, err := ContextDigest(dir, "Dockerfile", tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if changed := got != want; changed != tc.changes {
				t.Errorf("digest changed: %v, want %v", changed, tc.changes)
			}
		})
	}
	// Build args: the order of a map is not the order of the digest.
	a1, _ := ContextDigest(ref, "Dockerfile", map[string]string{"A": "1", "B": "2", "C": "3"})
	a2, _ := ContextDigest(ref, "Dockerfile", map[string]string{"C": "3", "B": "2", "A": "1"})
	a3, _ := ContextDigest(ref, "Dockerfile", map[string]string{"A": "12", "B": "", "C": "3"})
	if a1 != a2 || a1 == a3 {
		t.Errorf("build args: %s %s %s", a1, a2, a3)
	}
}

func TestContextErrors(t *testing.T) {
	tests := []struct {
		name       string
		tree       map[string]string
		dockerfile string
		want       string
	}{
		{"no Dockerfile", map[string]string{"app.py": ""}, "", "there is no Dockerfile at "},
		{"a Dockerfile outside", map[string]string{"Dockerfile": ""}, "../Dockerfile", "is not inside the app directory"},
		{"a Dockerfile that is a directory", map[string]string{"Dockerfile/": ""}, "", "is not a file"},
		{"a bad pattern", map[string]string{"Dockerfile": "", ".dockerignore": "!\n"}, "", ".dockerignore has a bad pattern"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.tree)
			_, err := ContextTar(context.Background(), dir, tc.dockerfile)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ContextTar: %v, want an error with %q", err, tc.want)
			}
			_, err = ContextDigest(dir, tc.dockerfile, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ContextDigest: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestContextTarStopsWhenCancelled(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\n"})
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<20) // 64 MiB
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		writeTree(t, dir, map[string]string{fmt.Sprintf("f/%03d.txt", i): "x"})
	}

	t.Run("while read", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		rc, err := ContextTar(ctx, dir, "Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		cancel()
		start := time.Now()
		_, err = io.Copy(io.Discard, rc)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("after cancel: %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("stopped after %s", d)
		}
	})
	t.Run("while nobody reads", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		rc, err := ContextTar(ctx, dir, "Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		closed := make(chan struct{})
		go func() { rc.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return: the walk goes on")
		}
	})
	t.Run("closed early", func(t *testing.T) {
		rc, err := ContextTar(context.Background(), dir, "Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		io.ReadFull(rc, make([]byte, 4096))
		done := make(chan struct{})
		go func() { rc.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return")
		}
	})
}

// thousandFiles is a tree like a mid-size app: 1,000 small files in 50
// directories, plus an ignored venv of 1,000 more.
func thousandFiles(t testing.TB) string {
	dir := t.TempDir()
	tree := map[string]string{"Dockerfile": "FROM python:3.12-slim\nCOPY . .\n", ".dockerignore": "venv\n*.pyc\n"}
	for i := range 1000 {
		tree[fmt.Sprintf("pkg%02d/mod%03d.py", i%50, i)] = strings.Repeat(fmt.Sprintf("x = %d\n", i), 40)
		tree[fmt.Sprintf("venv/lib/site%02d/m%03d.py", i%50, i)] = "ignored"
	}
	writeTree(t, dir, tree)
	return dir
}

func TestContextDigestIsFast(t *testing.T) {
	dir := thousandFiles(t)
	ContextDigest(dir, "Dockerfile", nil) // warm the page cache
	best := time.Hour
	for range 5 {
		start := time.Now()
		if _, err := ContextDigest(dir, "Dockerfile", nil); err != nil {
			t.Fatal(err)
		}
		best = min(best, time.Since(start))
	}
	t.Logf("ContextDigest of 1,000 files: %s (best of 5)", best)
	// The goal is well under 100 ms; the bound is loose for a busy machine.
	if best > 250*time.Millisecond {
		t.Errorf("ContextDigest of 1,000 files took %s", best)
	}
}

func BenchmarkContextDigest1000Files(b *testing.B) {
	dir := thousandFiles(b)
	for b.Loop() {
		if _, err := ContextDigest(dir, "Dockerfile", nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkContextTar1000Files(b *testing.B) {
	dir := thousandFiles(b)
	for b.Loop() {
		rc, err := ContextTar(context.Background(), dir, "Dockerfile")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}

// A user's .dockerignore that leaves out secrets only at the root: Inspect
// names what it lets through, a folder once for its files, and not what is
// left out or is no secret.
func TestInspectFindsSecretsTheDockerignoreLetsThrough(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile":    "FROM python:3.12-slim\nCOPY . /app\n",
		".dockerignore": ".env\n*.pem\nid_rsa\n",
		"app.py":        "print(1)\n", ".env": "A=1", "root.pem": "x", "id_rsa": "x",
		"sub/.env": "A=1", "config/id_rsa": "x", "config/server.key": "x", "id_ed25519": "x",
		".ssh/id_rsa": "x", ".ssh/config": "x", ".env.example": "A=", "config/app.yaml": "a: 1",
	})
	c, err := Inspect(dir, "Dockerfile", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".ssh", "config/id_rsa", "config/server.key", "id_ed25519", "sub/.env"}
	if !slices.Equal(c.Secrets, want) {
		t.Errorf("Secrets = %q, want %q", c.Secrets, want)
	}
	d, err := ContextDigest(dir, "Dockerfile", nil)
	if err != nil || d != c.Digest {
		t.Errorf("ContextDigest = %s (%v), Inspect's digest %s", d, err, c.Digest)
	}
	// with every depth covered, nothing is left to warn about
	writeTree(t, dir, map[string]string{".dockerignore": strings.Join(SecretPatterns, "\n") + "\n"})
	if c, err = Inspect(dir, "Dockerfile", nil); err != nil || len(c.Secrets) > 0 {
		t.Errorf("with SecretPatterns: Secrets = %q (%v), want none", c.Secrets, err)
	}
}

// The quick rules Inspect applies mean what SecretPatterns mean in a
// .dockerignore (patternmatcher, as Docker reads it), on paths of every kind.
func TestSecretRulesAgreeWithDockerignore(t *testing.T) {
	pm, err := patternmatcher.New(SecretPatterns)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range SecretPatterns {
		q := strings.TrimPrefix(strings.TrimPrefix(p, "!"), "**/")
		if !strings.HasPrefix(strings.TrimPrefix(p, "!"), "**/") || strings.Count(q, "/") > 1 || ((strings.HasPrefix(p, "!") || strings.Contains(q, "/")) && strings.ContainsAny(q, "*?[")) || (strings.HasPrefix(p, "!") && strings.Contains(q, "/")) {
			t.Errorf("pattern %q: the quick rules take **/NAME, **/DIR/NAME, or an exception !**/NAME", p)
		}
	}
	paths := []string{
		".env", "a/.env", "a/b/.env.local", ".env.example", "x/.env.sample", ".envrc", "env", "my.env",
		"server.key", "k/tls.pem", "a.pem.txt", "keys", "store.p12", "c/a.pfx", "x.jks", "app.keystore",
		"id_rsa", "id_rsa.pub", "d/id_ed25519", "id_ecdsa_sk", "my_id_rsa", ".ssh", "h/.ssh", ".sshd",
		".netrc", ".git-credentials", "w/.npmrc", ".npmrc.bak", ".yarnrc.yml", ".yarnrc", ".pypirc",
		".gem/credentials", "u/.gem/credentials", "credentials", ".composer/auth.json", "auth.json",
		".docker/config.json", "config.json", "ops/.kube/config", ".kube/cache", "kubeconfig", "kubeconfig.yaml",
		".aws", "o/.aws", ".azure", ".config/gcloud", "h/.config/gcloud", ".config/other", "application_default_credentials.json",
		"infra/terraform.tfstate", "terraform.tfstate.backup", "main.tf", ".vault-token", "app.py", "src/main.go",
	}
	for _, p := range paths {
		want, _ := pm.MatchesOrParentMatches(p)
		if got := secretPath(p); got != want {
			t.Errorf("secretPath(%q) = %v, the .dockerignore says %v", p, got, want)
		}
	}
}

// A secret-like file that .dockerignore lets in by name was chosen: it is
// not reported (create writes "!.env" for a committed .env).
func TestInspectChosenSecret(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY . .\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("APP_ENV=prod\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "id_rsa"), []byte("key\n"), 0o600)
	os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("**/.env\n!.env\n"), 0o644)
	c, err := Inspect(dir, "Dockerfile", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Secrets, []string{"id_rsa"}) {
		t.Errorf("secrets %q, want only id_rsa", c.Secrets)
	}
}
