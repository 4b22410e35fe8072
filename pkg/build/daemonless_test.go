package build

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/draftk8s/draft/internal/testkit"
)

var linuxAMD64 = v1.Platform{OS: "linux", Architecture: "amd64"}

// fakeHub serves base images from an in-memory registry as if it were Docker Hub.
func fakeHub(t *testing.T, images map[string]v1.Image) Fetcher {
	t.Helper()
	s := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	host := strings.TrimPrefix(s.URL, "http://")
	for ref, img := range images {
		tag, err := name.NewTag(host + "/library/" + ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(tag, img); err != nil {
			t.Fatal(err)
		}
	}
	return func(ctx context.Context, ref name.Reference, p v1.Platform) (v1.Image, error) {
		r, err := name.ParseReference(host + "/" + ref.Context().RepositoryStr() + ":" + ref.Identifier())
		if err != nil {
			return nil, err
		}
		return remote.Image(r, remote.WithContext(ctx), remote.WithPlatform(p))
	}
}

// app copies a golden tree that draft create wrote into a temporary directory.
func app(t *testing.T, c string) string {
	t.Helper()
	src := filepath.Join("..", "action", "testdata", "create", c, "want")
	dir := t.TempDir()
	testkit.CopyTree(t, src, dir)
	return dir
}

// files lists a layer's entries: name -> "uid:gid mode" (and the content of small files).
func files(t *testing.T, l v1.Layer) map[string]string {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		v := strings.Join([]string{itoa(h.Uid) + ":" + itoa(h.Gid), os.FileMode(h.Mode).String()}, " ")
		if h.Typeflag == tar.TypeSymlink {
			v += " -> " + h.Linkname
		}
		if len(b) < 64 && h.Typeflag == tar.TypeReg {
			v += " " + string(b)
		}
		if !h.ModTime.Equal(time.Unix(ContextModTime, 0)) {
			t.Errorf("%s has mtime %v, want ContextModTime", h.Name, h.ModTime)
		}
		out[h.Name] = v
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func itoaPort(i int) string { return strconv.Itoa(i) }

func TestDaemonlessSourceOnBase(t *testing.T) {
	base, _ := random.Image(512, 2)
	fetch := fakeHub(t, map[string]v1.Image{"python:3.12-slim": base})
	dir := app(t, "python-plain")
	os.WriteFile(filepath.Join(dir, ".env"), []byte("SECRET=1"), 0o600)
	os.MkdirAll(filepath.Join(dir, "pkg"), 0o755)
	os.WriteFile(filepath.Join(dir, "pkg", "util.py"), []byte("x = 1\n"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(dir, "link"))
	d := NewDaemonless(fetch)
	req := Request{Dir: dir, Dockerfile: "Dockerfile", Platform: linuxAMD64, Labels: map[string]string{DepsLabel: "abc"}}
	res, err := d.Build(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "daemonless-source" || res.Image == nil {
		t.Fatalf("result %+v", res)
	}
	layers, _ := res.Image.Layers()
	if len(layers) != 3 {
		t.Fatalf("%d layers, want the base's 2 and the source", len(layers))
	}
	got := files(t, layers[2])
	for name, want := range map[string]string{
		"app/":            "0:0 ",
		"app/server.py":   "10001:10001 -rw-r--r--",
		"app/pkg/":        "10001:10001 ",
		"app/pkg/util.py": "10001:10001 -rw-r--r-- x = 1\n",
		"app/link":        "10001:10001 -rwxrwxrwx -> /etc/passwd",
	} {
		if !strings.HasPrefix(got[name], strings.SplitN(want, " ", 2)[0]) || (strings.Contains(want, "x = 1") && got[name] != want) || (strings.Contains(want, "->") && !strings.HasSuffix(got[name], "-> /etc/passwd")) {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
	for _, ignored := range []string{"app/.env", "app/Dockerfile", "app/draft.toml", "app/charts/python-plain/Chart.yaml", "app/.dockerignore"} {
		if _, ok := got[ignored]; ok {
			t.Errorf("%s is in the image; .dockerignore excludes it", ignored)
		}
	}
	cfg, _ := res.Image.ConfigFile()
	c := cfg.Config
	if c.User != "10001:10001" || c.WorkingDir != "/app" || strings.Join(c.Cmd, " ") != "python server.py" || c.Labels[DepsLabel] != "abc" {
		t.Errorf("config %+v", c)
	}
	if _, ok := c.ExposedPorts["9000/tcp"]; !ok || !strings.Contains(strings.Join(c.Env, " "), "PORT=9000") {
		t.Errorf("ports %v env %v", c.ExposedPorts, c.Env)
	}
	// Reproducible: the same tree gives the same digest.
	res2, err := d.Build(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := res.Image.Digest()
	d2, _ := res2.Image.Digest()
	if d1 != d2 {
		t.Errorf("two builds of the same tree: %s and %s", d1, d2)
	}
	os.WriteFile(filepath.Join(dir, "server.py"), []byte("print(2)\n"), 0o644)
	res3, _ := d.Build(context.Background(), req)
	if d3, _ := res3.Image.Digest(); d3 == d1 {
		t.Errorf("a changed source gave the same digest")
	}
}

func TestDaemonlessReplacesOnlyTheSourceLayer(t *testing.T) {
	dir := app(t, "python-flask")
	d := NewDaemonless(func(context.Context, name.Reference, v1.Platform) (v1.Image, error) {
		return nil, errors.New("no base image should be fetched")
	})
	prev, _ := random.Image(1024, 3) // base, dependencies, old source
	cfg, _ := prev.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.Labels = map[string]string{DepsLabel: "deps-1"}
	cfg.Config.Cmd = []string{"python", "-m", "flask"}
	cfg.History = []v1.History{{CreatedBy: "base"}, {CreatedBy: "RUN pip install"}, {CreatedBy: "COPY . ."}, {CreatedBy: "CMD", EmptyLayer: true}}
	prev, _ = mutate.ConfigFile(prev, cfg)
	req := Request{Dir: dir, Dockerfile: "Dockerfile", Platform: linuxAMD64, Previous: prev, Labels: map[string]string{DepsLabel: "deps-1"}}
	res, err := d.Build(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := prev.Layers()
	now, _ := res.Image.Layers()
	if len(now) != 3 {
		t.Fatalf("%d layers, want 3", len(now))
	}
	for i := 0; i < 2; i++ {
		a, _ := old[i].Digest()
		b, _ := now[i].Digest()
		if a != b {
			t.Errorf("layer %d changed", i)
		}
	}
	if _, ok := files(t, now[2])["app/app.py"]; !ok {
		t.Errorf("the new top layer lacks app/app.py")
	}
	ncfg, _ := res.Image.ConfigFile()
	if strings.Join(ncfg.Config.Cmd, " ") != "python -m flask" || len(ncfg.History) != 4 || ncfg.History[2].CreatedBy != "COPY . /app # draft daemonless" || !ncfg.History[3].EmptyLayer {
		t.Errorf("config %+v history %+v", ncfg.Config, ncfg.History)
	}
	if m, err := res.Image.Manifest(); err != nil || len(m.Layers) != 3 {
		t.Errorf("manifest: %v", err)
	}
	// Dependencies changed: not eligible, before any work.
	req.Labels = map[string]string{DepsLabel: "deps-2"}
	if _, err := d.Build(context.Background(), req); !errors.Is(err, ErrNotEligible) || !strings.Contains(err.Error(), "dependencies or the Dockerfile changed") {
		t.Errorf("err = %v", err)
	}
	req.Previous = nil
	if _, err := d.Build(context.Background(), req); !errors.Is(err, ErrNotEligible) || !strings.Contains(err.Error(), "need a first build with Docker") {
		t.Errorf("err = %v", err)
	}
}

func TestDaemonlessGo(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go on PATH")
	}
	dir := app(t, "go-plain")
	d := NewDaemonless(nil)
	res, err := d.Build(context.Background(), Request{Dir: dir, Dockerfile: "Dockerfile", Platform: linuxAMD64})
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := res.Image.Layers()
	if res.Path != "daemonless-go" || len(layers) != 2 {
		t.Fatalf("path %s, %d layers", res.Path, len(layers))
	}
	if _, ok := files(t, layers[0])["etc/ssl/certs/ca-certificates.crt"]; !ok {
		t.Errorf("no CA bundle in the first layer")
	}
	cfg, _ := res.Image.ConfigFile()
	if cfg.OS != "linux" || cfg.Architecture != "amd64" || strings.Join(cfg.Config.Entrypoint, " ") != "/app" || cfg.Config.User != "10001:10001" {
		t.Errorf("config %+v", cfg)
	}
	// The binary in the layer runs and serves.
	rc, _ := layers[1].Uncompressed()
	tr := tar.NewReader(rc)
	bin := filepath.Join(t.TempDir(), "app")
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no app in the binary layer: %v", err)
		}
		if h.Name == "app" {
			f, _ := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
			io.Copy(f, tr)
			f.Close()
			break
		}
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin)
	cmd.Env = []string{"PORT=" + itoaPort(port)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var body string
	for i := 0; i < 50; i++ {
		resp, err := http.Get("http://127.0.0.1:" + itoaPort(port))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if body != "hello\n" {
		t.Errorf("the built binary answered %q", body)
	}
	// Same source, same digest.
	res2, err := d.Build(context.Background(), Request{Dir: dir, Dockerfile: "Dockerfile", Platform: linuxAMD64})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := res.Image.Digest()
	b, _ := res2.Image.Digest()
	if a != b {
		t.Errorf("two builds of the same Go app: %s and %s", a, b)
	}
}

func TestDepsDigest(t *testing.T) {
	dir := app(t, "python-flask")
	df, _ := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	p, _ := Analyze(df)
	digest := func() string {
		d, err := DepsDigest(dir, df, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d0 := digest()
	os.WriteFile(filepath.Join(dir, "app.py"), []byte("changed = True\n"), 0o644)
	if d := digest(); d != d0 {
		t.Errorf("a source change changed the dependency digest")
	}
	os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("flask==3.1.0\n"), 0o644)
	if d := digest(); d == d0 {
		t.Errorf("a requirements.txt change did not change the dependency digest")
	}
	if d, _ := DepsDigest(dir, df, p, map[string]string{"A": "1"}); d == digest() {
		t.Errorf("a build argument did not change the dependency digest")
	}
}

// A layer is compressed once, and its digests are those of its two forms;
// the same entries make the same layer.
func TestFileLayer(t *testing.T) {
	d := NewDaemonless(nil)
	content := bytes.Repeat([]byte("a Go binary, more or less "), 10000)
	bin := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(bin, content, 0o755); err != nil {
		t.Fatal(err)
	}
	entries := func() []layerEntry {
		return []layerEntry{{name: "/usr/local/bin/app", mode: 0o755, src: bin}, {name: "/etc/x", mode: 0o644, data: []byte("x\n")}}
	}
	l, err := d.layer(entries())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := io.ReadAll(rc)
	if want, _, _ := v1.SHA256(bytes.NewReader(gz)); mustHash(l.Digest()) != want {
		t.Errorf("digest %s, want the compressed bytes' %s", mustHash(l.Digest()), want)
	}
	if size, _ := l.Size(); size != int64(len(gz)) || len(gz) >= len(content)/10 {
		t.Errorf("size %d of %d compressed bytes (from %d)", size, len(gz), len(content))
	}
	ur, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	tarball, err := io.ReadAll(ur)
	if err != nil {
		t.Fatal(err)
	}
	if want, _, _ := v1.SHA256(bytes.NewReader(tarball)); mustHash(l.DiffID()) != want {
		t.Errorf("diff ID %s, want %s", mustHash(l.DiffID()), want)
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
		if h.Name == "usr/local/bin/app" {
			if b, _ := io.ReadAll(tr); !bytes.Equal(b, content) {
				t.Errorf("the binary in the layer is %d bytes, want the %d written", len(b), len(content))
			}
		}
	}
	if want := []string{"etc/", "etc/x", "usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/app"}; !slices.Equal(names, want) {
		t.Errorf("layer holds %q, want %q", names, want)
	}
	again, _ := d.layer(entries())
	if mustHash(again.Digest()) != mustHash(l.Digest()) {
		t.Error("the same layer written twice has two digests")
	}
}

func mustHash(h v1.Hash, err error) v1.Hash {
	if err != nil {
		panic(err)
	}
	return h
}

// The folders a Go binary reads at run time (the go pack copies templates/
// and the like from the build stage) come from the context, as
// .dockerignore lets them through, in a layer of their own.
func TestDaemonlessGoRuntimeFolders(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go on PATH")
	}
	dir := app(t, "go-plain")
	os.MkdirAll(filepath.Join(dir, "templates", "parts"), 0o755)
	os.WriteFile(filepath.Join(dir, "templates", "index.html"), []byte("<h1>hi</h1>"), 0o644)
	os.WriteFile(filepath.Join(dir, "templates", "parts", "nav.html"), []byte("<nav/>"), 0o644)
	os.WriteFile(filepath.Join(dir, "templates", "notes.bak"), []byte("left out"), 0o644)
	di, _ := os.ReadFile(filepath.Join(dir, ".dockerignore"))
	os.WriteFile(filepath.Join(dir, ".dockerignore"), append(di, "\n**/*.bak\n"...), 0o644)
	df, _ := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	df = []byte(strings.Replace(string(df), "# The binary, last", "WORKDIR /srv\nCOPY --from=build /src/templates ./templates\n# The binary, last", 1))
	os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644)
	res, err := NewDaemonless(nil).Build(context.Background(), Request{Dir: dir, Dockerfile: "Dockerfile", Platform: linuxAMD64})
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := res.Image.Layers()
	if res.Path != "daemonless-go" || len(layers) != 3 {
		t.Fatalf("path %s, %d layers; want daemonless-go, 3", res.Path, len(layers))
	}
	got := files(t, layers[1])
	if !strings.HasSuffix(got["srv/templates/index.html"], " <h1>hi</h1>") || !strings.HasSuffix(got["srv/templates/parts/nav.html"], " <nav/>") {
		t.Errorf("the templates layer holds %v", got)
	}
	if _, ok := got["srv/templates/notes.bak"]; ok {
		t.Errorf("a file .dockerignore leaves out is in the image")
	}
	if cfg, _ := res.Image.ConfigFile(); cfg.Config.WorkingDir != "/srv" {
		t.Errorf("working directory %q, want /srv", cfg.Config.WorkingDir)
	}
}
