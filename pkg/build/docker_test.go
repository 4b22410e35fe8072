package build

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Streams as the Docker Engine 20.10 of the project's environment sends them
// (recorded with curl against /v1.41/build and /v1.41/images/.../push).
const (
	buildOK = `{"stream":"Step 1/2 : FROM python:3.12-slim"}
{"stream":"\n"}
{"stream":" ---\u003e 00d2789ba645\n"}
{"stream":"Step 2/2 : COPY app.py /app/"}
{"stream":"\n"}
{"stream":" ---\u003e 6982e554dba0\n"}
{"aux":{"ID":"sha256:6982e554dba05e6338d32b92e8f5c597b5723fc12dd75eeb08a655e3c4ea5cd2"}}
{"stream":"Successfully built 6982e554dba0\n"}
{"stream":"Successfully tagged 127.0.0.1:5000/app:abc\n"}
`
	buildRunFails = `{"stream":"Step 1/3 : FROM python:3.12-slim"}
{"stream":"\n"}
{"stream":" ---\u003e 00d2789ba645\n"}
{"stream":"Step 2/3 : RUN echo building"}
{"stream":"\n"}
{"stream":" ---\u003e Running in 32a18603bd11\n"}
{"stream":"building\n"}
{"stream":"Removing intermediate container 32a18603bd11\n"}
{"stream":" ---\u003e 15f271171ae0\n"}
{"stream":"Step 3/3 : RUN npm ci"}
{"stream":"\n"}
{"stream":" ---\u003e Running in 7658ddc0e575\n"}
{"stream":"\u001b[91mnpm ERR! code ENOLOCK\n\u001b[0m"}
{"stream":"npm ERR! This command requires an existing lockfile.\n"}
{"stream":"Removing intermediate container 7658ddc0e575\n"}
{"errorDetail":{"code":1,"message":"The command '/bin/sh -c npm ci' returned a non-zero code: 1"},"error":"The command '/bin/sh -c npm ci' returned a non-zero code: 1"}
`
	buildCopyFails = `{"stream":"Step 1/2 : FROM python:3.12-slim"}
{"stream":"\n"}
{"stream":" ---\u003e 00d2789ba645\n"}
{"stream":"Step 2/2 : COPY missing.txt ."}
{"stream":"\n"}
{"errorDetail":{"message":"COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist"},"error":"COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist"}
`
	buildFromFails = `{"stream":"Step 1/1 : FROM python:9.99-nope"}
{"stream":"\n"}
{"errorDetail":{"message":"manifest for python:9.99-nope not found: manifest unknown: manifest unknown"},"error":"manifest for python:9.99-nope not found: manifest unknown: manifest unknown"}
`
	pushOK = `{"status":"The push refers to repository [127.0.0.1:5000/app]"}
{"status":"Preparing","progressDetail":{},"id":"db611911eb44"}
{"status":"Preparing","progressDetail":{},"id":"f6e9d7e07978"}
{"status":"Pushing","progressDetail":{"current":512,"total":3},"progress":"[==================================================\u003e]     512B","id":"db611911eb44"}
{"status":"Pushed","progressDetail":{},"id":"db611911eb44"}
{"status":"Layer already exists","progressDetail":{},"id":"f6e9d7e07978"}
{"status":"abc: digest: sha256:491cf510aec081317e771cb1c0e35318ffa4c68ae5eaa8e1726d1d1ecc865f24 size: 736"}
{"progressDetail":{},"aux":{"Tag":"abc","Digest":"sha256:491cf510aec081317e771cb1c0e35318ffa4c68ae5eaa8e1726d1d1ecc865f24","Size":736}}
`
	pushNoAux = `{"status":"The push refers to repository [127.0.0.1:5000/app]"}
{"status":"abc: digest: sha256:491cf510aec081317e771cb1c0e35318ffa4c68ae5eaa8e1726d1d1ecc865f24 size: 736"}
`
	pushUnauthorized = `{"status":"The push refers to repository [127.0.0.1:5000/app]"}
{"errorDetail":{"message":"unauthorized: authentication required"},"error":"unauthorized: authentication required"}
`
	pushedDigest = "sha256:491cf510aec081317e771cb1c0e35318ffa4c68ae5eaa8e1726d1d1ecc865f24"
)

// fakeEngine answers the Docker Engine API calls the builder makes, as the
// engine does, and records what it was sent.
type fakeEngine struct {
	buildStatus int
	build, push string

	query   url.Values
	names   []string
	auth    registry.AuthConfig
	pushRef string
}

func (f *fakeEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", "1.41")
	switch {
	case strings.HasSuffix(r.URL.Path, "/_ping"):
		w.Write([]byte("OK"))
	case strings.HasSuffix(r.URL.Path, "/build"):
		f.query = r.URL.Query()
		tr := tar.NewReader(r.Body)
		for h, err := tr.Next(); err == nil; h, err = tr.Next() {
			f.names = append(f.names, h.Name)
		}
		if f.buildStatus != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.buildStatus)
			w.Write([]byte(f.build))
			return
		}
		w.Write([]byte(f.build))
	case strings.HasSuffix(r.URL.Path, "/push"):
		f.pushRef = strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1.41/images/"), "/push") + ":" + r.URL.Query().Get("tag")
		b, _ := base64.URLEncoding.DecodeString(r.Header.Get("X-Registry-Auth"))
		json.Unmarshal(b, &f.auth)
		w.Write([]byte(f.push))
	case strings.HasSuffix(r.URL.Path, "/json"):
		w.Write([]byte(`{"RepoDigests":["127.0.0.1:5000/other@sha256:0000000000000000000000000000000000000000000000000000000000000000","127.0.0.1:5000/app@` + pushedDigest + `"]}`))
	default:
		http.NotFound(w, r)
	}
}

type staticKeychain struct{ user, pass string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	if k.user == "" {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: k.pass}), nil
}

func pythonApp(t *testing.T) string {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile":    "FROM python:3.12-slim\nRUNN echo hi\nCOPY app.py /app/\n",
		".dockerignore": "Dockerfile\n.dockerignore\nvenv\n",
		"app.py":        "print('hi')\n",
		"venv/x":        "ignored",
	})
	return dir
}

func TestDockerBuilder(t *testing.T) {
	tests := []struct {
		name        string
		engine      fakeEngine
		keychain    staticKeychain
		wantErr     string   // the whole message, when the build fails
		wantLog     []string // lines the log must hold
		notInLog    []string
		wantAuthFor string
	}{
		{
			name:     "builds and pushes with the keychain's credentials",
			engine:   fakeEngine{build: buildOK, push: pushOK},
			keychain: staticKeychain{"alice", "s3cret"},
			wantLog: []string{"Step 2/2 : COPY app.py /app/\n", "Successfully tagged 127.0.0.1:5000/app:abc\n",
				"The push refers to repository [127.0.0.1:5000/app]\n", "db611911eb44: Pushed\n", "f6e9d7e07978: Layer already exists\n",
				"abc: digest: " + pushedDigest + " size: 736\n"},
			notInLog:    []string{"Preparing", "Pushing", "[==", "s3cret"},
			wantAuthFor: "alice",
		},
		{
			name:   "anonymous push; the digest from the status line",
			engine: fakeEngine{build: buildOK, push: pushNoAux},
		},
		{
			name:   "the digest from the image's repo digests",
			engine: fakeEngine{build: buildOK, push: `{"status":"The push refers to repository [127.0.0.1:5000/app]"}`},
		},
		{
			name:   "a failing RUN: the step, its exit code and its last lines",
			engine: fakeEngine{build: buildRunFails},
			wantErr: "building the image: step RUN npm ci failed (exit code 1):\n" +
				"    npm ERR! code ENOLOCK\n    npm ERR! This command requires an existing lockfile.",
			wantLog:  []string{"npm ERR! code ENOLOCK\n"},
			notInLog: []string{"\x1b["},
		},
		{
			name:    "a failing COPY",
			engine:  fakeEngine{build: buildCopyFails},
			wantErr: "building the image: step COPY missing.txt . failed: COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist",
		},
		{
			name:    "a base image that cannot be pulled",
			engine:  fakeEngine{build: buildFromFails},
			wantErr: "building the image: step FROM python:9.99-nope failed: cannot pull the base image: manifest for python:9.99-nope not found: manifest unknown: manifest unknown",
		},
		{
			name:    "a Dockerfile syntax error names the line",
			engine:  fakeEngine{buildStatus: 400, build: `{"message":"dockerfile parse error line 2: unknown instruction: RUNN"}`},
			wantErr: `building the image: DIR/Dockerfile line 2: unknown instruction: RUNN (the line reads "RUNN echo hi")`,
		},
		{
			name:    "a push refused by the registry",
			engine:  fakeEngine{build: buildOK, push: pushUnauthorized},
			wantErr: "pushing 127.0.0.1:5000/app:abc through the Docker engine: unauthorized: authentication required (log in with docker login 127.0.0.1:5000, or check that you may push there)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			engine := tc.engine
			srv := httptest.NewServer(&engine)
			defer srv.Close()
			b, err := NewDockerBuilder(WithKeychain(tc.keychain), WithDockerClientOptions(client.WithHost("tcp://"+srv.Listener.Addr().String())))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			dir := pythonApp(t)
			var log bytes.Buffer
			res, err := b.Build(context.Background(), Request{
				Dir:        dir,
				Dockerfile: "Dockerfile",
				BuildArgs:  map[string]string{"PY": "3.12", "EMPTY": ""},
				Target:     name.MustParseReference("127.0.0.1:5000/app:abc").(name.Tag),
				Network:    "host",
				Platform:   v1.Platform{OS: "linux", Architecture: "amd64"},
				Labels:     map[string]string{"dev.draft.deps": "x"},
				Log:        &log,
			})
			if tc.wantErr != "" {
				want := strings.ReplaceAll(tc.wantErr, "DIR/", dir+string(filepath.Separator))
				if err == nil || err.Error() != want {
					t.Fatalf("error:\n%v\nwant:\n%s", err, want)
				}
				var be *BuildError
				if strings.HasPrefix(want, "building") && !errors.As(err, &be) {
					t.Errorf("%T is not a *BuildError", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if got := res.Pushed.String(); got != "127.0.0.1:5000/app@"+pushedDigest || res.Path != "docker" || res.Image != nil {
					t.Errorf("result: %s %q %v", got, res.Path, res.Image)
				}
				if engine.pushRef != "127.0.0.1:5000/app:abc" {
					t.Errorf("pushed %q", engine.pushRef)
				}
				if engine.auth.Username != tc.wantAuthFor {
					t.Errorf("push credentials for %q, want %q", engine.auth.Username, tc.wantAuthFor)
				}
			}
			for _, l := range tc.wantLog {
				if !strings.Contains(log.String(), l) {
					t.Errorf("log lacks %q:\n%s", l, log.String())
				}
			}
			for _, l := range tc.notInLog {
				if strings.Contains(log.String(), l) {
					t.Errorf("log holds %q:\n%s", l, log.String())
				}
			}
			// What the engine was sent.
			q := engine.query
			var args map[string]*string
			json.Unmarshal([]byte(q.Get("buildargs")), &args)
			var labels map[string]string
			json.Unmarshal([]byte(q.Get("labels")), &labels)
			if q.Get("t") != "127.0.0.1:5000/app:abc" || q.Get("dockerfile") != "Dockerfile" || q.Get("networkmode") != "host" ||
				q.Get("rm") == "0" || q.Get("forcerm") != "1" || q.Get("platform") != "linux/amd64" || q.Get("version") != "1" ||
				args["PY"] == nil || *args["PY"] != "3.12" || args["EMPTY"] == nil || labels["dev.draft.deps"] != "x" {
				t.Errorf("build query: %v", q)
			}
			if want := []string{".dockerignore", "Dockerfile", "app.py"}; !slices.Equal(engine.names, want) {
				t.Errorf("context sent: %v, want %v", engine.names, want)
			}
		})
	}
}

func TestDockerBuilderWithoutEngine(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	b, err := NewDockerBuilder()
	if err != nil {
		t.Fatal(err)
	}
	want := "cannot reach the Docker engine at unix://" + sock + ": start Docker, or set DOCKER_HOST; draft can also build some apps without Docker: --builder daemonless"
	if err := b.Ping(context.Background()); err == nil || err.Error() != want {
		t.Errorf("Ping: %v\nwant: %s", err, want)
	}
	_, err = b.Build(context.Background(), Request{Dir: pythonApp(t), Target: name.MustParseReference("127.0.0.1:5000/app:abc").(name.Tag)})
	if err == nil || err.Error() != want {
		t.Errorf("Build: %v\nwant: %s", err, want)
	}
}

func TestDockerBuilderCancel(t *testing.T) {
	// An engine that streams a long RUN until the client goes away.
	gone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		if !strings.HasSuffix(r.URL.Path, "/build") {
			return
		}
		w.Write([]byte(`{"stream":"Step 1/2 : RUN sleep 600\n"}` + "\n"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(gone)
	}))
	defer srv.Close()
	b, err := NewDockerBuilder(WithDockerClientOptions(client.WithHost("tcp://" + srv.Listener.Addr().String())))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err = b.Build(ctx, Request{Dir: pythonApp(t), Target: name.MustParseReference("127.0.0.1:5000/app:abc").(name.Tag)})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Build returned %s after the cancel", d)
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Error("the engine's request was not closed")
	}
}
