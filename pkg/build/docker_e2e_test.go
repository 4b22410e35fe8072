//go:build e2e

package build

// Tests of the Docker builder against the real Docker Engine and registry of
// the project's environment: eval "$(bash e2e/env/up)" first. They skip when
// there is no engine or registry, except under CI=true, where they fail.

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/draftk8s/draft/internal/testenv"
	"github.com/draftk8s/draft/internal/testkit"
)

// e2eEnv returns a builder for the environment's engine and its registry.
func e2eEnv(t *testing.T) (*DockerBuilder, string) {
	t.Helper()
	reg := os.Getenv("DRAFT_REGISTRY")
	if reg == "" {
		testkit.SkipOrFail(t, "DRAFT_REGISTRY is not set")
	}
	b, err := NewDockerBuilder()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Ping(ctx); err != nil {
		testkit.SkipOrFail(t, "no Docker engine: %v", err)
	}
	testenv.BaseImages(t, "python:3.12-slim") // what these tests build on
	return b, reg
}

// draftCreate writes a stdlib Python app whose source says version, and
// runs draft create on it for draft's own Dockerfile and .dockerignore.
func draftCreate(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	src := `import http.server, os

VERSION = "` + version + `"


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(("hello " + VERSION + "\n").encode())


http.server.ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), Hello).serve_forever()
`
	writeTree(t, dir, map[string]string{"app.py": src, ".env": "SECRET=1", "__pycache__/app.cpython-312.pyc": "x"})
	mod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./cmd/draft", "create", dir)
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(mod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("draft create: %v\n%s", err, out)
	}
	return dir
}

func TestDockerBuilderE2E(t *testing.T) {
	b, reg := e2eEnv(t)
	ctx := context.Background()
	repo := reg + "/draft-e2e/build-python"
	// Unique source each run, so the COPY layer and its push are new.
	version := time.Now().Format("20060102-150405.000000000")
	dir := draftCreate(t, version)
	tag, err := ContextDigest(dir, "Dockerfile", nil)
	if err != nil {
		t.Fatal(err)
	}
	target, err := name.NewTag(repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	req := Request{
		Dir:        dir,
		Dockerfile: "Dockerfile",
		Target:     target,
		Platform:   v1.Platform{OS: "linux", Architecture: "amd64"},
		Labels:     map[string]string{"dev.draft.test": version},
	}

	var first *Result
	t.Run("builds and pushes draft's Python Dockerfile", func(t *testing.T) {
		var log bytes.Buffer
		req.Log = &log
		start := time.Now()
		res, err := b.Build(ctx, req)
		if err != nil {
			t.Fatalf("%v\n%s", err, log.String())
		}
		t.Logf("build + push of a new source: %s\n%s", time.Since(start).Round(time.Millisecond), log.String())
		first = res
		if res.Path != "docker" || res.Image != nil || res.Pushed.Context().String() != target.Context().String() {
			t.Fatalf("result %+v", res)
		}
		for _, l := range []string{"Step 1/", "COPY --chown=10001:10001 . .", "Successfully tagged " + target.Name(), "The push refers to repository", ": Pushed"} {
			if !strings.Contains(log.String(), l) {
				t.Errorf("the log lacks %q:\n%s", l, log.String())
			}
		}
		// The registry has it, under the digest the builder returned.
		desc, err := remote.Head(res.Pushed)
		if err != nil {
			t.Fatalf("the registry does not have %s: %v", res.Pushed, err)
		}
		if desc.Digest.String() != res.Pushed.DigestStr() {
			t.Errorf("the registry has %s, the builder said %s", desc.Digest, res.Pushed.DigestStr())
		}
		img, err := remote.Image(res.Pushed)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Architecture != "amd64" || cfg.Config.User != "10001:10001" || !slices.Equal(cfg.Config.Cmd, []string{"python", "app.py"}) ||
			cfg.Config.Labels["dev.draft.test"] != version {
			t.Errorf("image config: arch %s user %q cmd %q labels %v", cfg.Architecture, cfg.Config.User, cfg.Config.Cmd, cfg.Config.Labels)
		}
		// The source layer holds the app and nothing .dockerignore keeps out
		// (the engine drops the Dockerfile and .dockerignore, as draft's
		// .dockerignore asks).
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		files := layerFiles(t, layers[len(layers)-1])
		if !slices.Contains(files, "app/app.py") {
			t.Errorf("the top layer lacks app/app.py: %v", files)
		}
		for _, f := range files {
			for _, bad := range []string{"Dockerfile", ".dockerignore", ".env", "draft.toml", "charts", "__pycache__"} {
				if strings.HasPrefix(f, "app/"+bad) {
					t.Errorf("the image holds %s", f)
				}
			}
		}
	})

	t.Run("a second build with no change is fast and gives the same digest", func(t *testing.T) {
		if first == nil {
			t.Skip("the first build did not succeed")
		}
		var log bytes.Buffer
		req.Log = &log
		start := time.Now()
		res, err := b.Build(ctx, req)
		if err != nil {
			t.Fatalf("%v\n%s", err, log.String())
		}
		took := time.Since(start)
		t.Logf("build + push with no change: %s", took.Round(time.Millisecond))
		if res.Pushed != first.Pushed {
			t.Errorf("digest %s, first %s", res.Pushed, first.Pushed)
		}
		if strings.Contains(log.String(), ": Pushed") {
			t.Errorf("a layer was pushed again:\n%s", log.String())
		}
		if took > 5*time.Second {
			t.Errorf("an unchanged build took %s", took)
		}
	})

	failing := []struct {
		name, dockerfile, want string
	}{
		{
			name:       "a Dockerfile syntax error",
			dockerfile: "FROM python:3.12-slim\nWORKDIR /app\nRUNN echo hi\n",
			want:       `building the image: DIR/Dockerfile line 3: unknown instruction: RUNN (the line reads "RUNN echo hi")`,
		},
		{
			name:       "a failing RUN",
			dockerfile: "FROM python:3.12-slim\nRUN echo preparing\nRUN echo 'npm ERR! code ENOLOCK' >&2; echo 'npm ERR! no lockfile' >&2; exit 3\n",
			want: "building the image: step RUN echo 'npm ERR! code ENOLOCK' >&2; echo 'npm ERR! no lockfile' >&2; exit 3 failed (exit code 3):\n" +
				"    npm ERR! code ENOLOCK\n    npm ERR! no lockfile",
		},
	}
	for _, tc := range failing {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"Dockerfile": tc.dockerfile})
			var log bytes.Buffer
			_, err := b.Build(ctx, Request{Dir: dir, Target: mustTag(t, repo+":failing"), Log: &log})
			want := strings.ReplaceAll(tc.want, "DIR/", dir+string(filepath.Separator))
			if err == nil || err.Error() != want {
				t.Fatalf("error:\n%v\nwant:\n%s\nlog:\n%s", err, want, log.String())
			}
			var be *BuildError
			if !errors.As(err, &be) {
				t.Errorf("%T is not a *BuildError", err)
			}
		})
	}

	t.Run("cancelling stops the build in the engine", func(t *testing.T) {
		dir := t.TempDir()
		marker := fmt.Sprintf("draft-e2e-cancel-%d", time.Now().UnixNano())
		writeTree(t, dir, map[string]string{"Dockerfile": "FROM python:3.12-slim\nRUN echo " + marker + " && sleep 120\n"})
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		log := &signalWriter{match: marker, seen: make(chan struct{})}
		done := make(chan error, 1)
		go func() {
			_, err := b.Build(ctx, Request{Dir: dir, Target: mustTag(t, repo+":cancelled"), Log: log})
			done <- err
		}()
		select {
		case <-log.seen:
		case err := <-done:
			t.Fatalf("the build ended before it was cancelled: %v", err)
		case <-time.After(60 * time.Second):
			t.Fatal("the RUN step did not start")
		}
		// The engine stops the step's container when the request goes away.
		c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		runs := func() bool {
			running, err := c.ContainerList(context.Background(), container.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return slices.ContainsFunc(running, func(c container.Summary) bool { return strings.Contains(c.Command, marker) })
		}
		// (The echo's output can come before the container is listed.)
		for i := 0; !runs(); i++ {
			if i == 50 {
				t.Fatal("the RUN step's container is not among the running containers")
			}
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		start := time.Now()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
			t.Logf("Build returned %s after the cancel", time.Since(start).Round(time.Millisecond))
		case <-time.After(5 * time.Second):
			t.Fatal("Build did not return within 5 s of the cancel")
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			if !runs() {
				t.Logf("the engine stopped the RUN container %s after the cancel", time.Since(start).Round(time.Millisecond))
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the RUN container still runs 15 s after the cancel")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// signalWriter closes seen once match has been written.
type signalWriter struct {
	match string
	seen  chan struct{}
	buf   bytes.Buffer
	done  bool
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.match+"\n") {
		w.done = true
		close(w.seen)
	}
	return len(p), nil
}

func layerFiles(t *testing.T, l v1.Layer) []string {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.TrimPrefix(h.Name, "./"))
	}
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}
