package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// server runs go-containerregistry's in-memory registry behind a handler
// wrapper; it returns the registry's host:port.
func server(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	h := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func tag(t *testing.T, c *Client, s string) name.Tag {
	t.Helper()
	repo, err := c.ParseRepository(s)
	if err != nil {
		t.Fatal(err)
	}
	return repo.Tag("v1")
}

func TestPushSkipsBlobsTheRegistryHas(t *testing.T) {
	host := server(t, nil)
	c := New(WithKeychain(authn.NewMultiKeychain()))
	img, err := random.Image(1<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, stats, err := c.Push(ctx, img, tag(t, c, host+"/app"))
	if err != nil {
		t.Fatal(err)
	}
	if stats.Uploaded < 3<<20 {
		t.Errorf("first push uploaded %d bytes, want at least the 3 MiB of layers", stats.Uploaded)
	}
	want, _ := img.Digest()
	if d.DigestStr() != want.String() {
		t.Errorf("digest %s, want %s", d.DigestStr(), want)
	}
	// The same image again: nothing to upload.
	_, stats, err = c.Push(ctx, img, tag(t, c, host+"/app"))
	if err != nil || stats.Uploaded != 0 {
		t.Errorf("second push: %v, uploaded %d bytes, want 0", err, stats.Uploaded)
	}
	// One new layer on top: only that layer and the config are sent.
	layer, _ := random.Layer(100<<10, "application/vnd.docker.image.rootfs.diff.tar.gzip")
	img2, _ := mutate.AppendLayers(img, layer)
	_, stats, err = c.Push(ctx, img2, tag(t, c, host+"/app"))
	size, _ := layer.Size()
	cfg, _ := img2.RawConfigFile()
	if err != nil || stats.Uploaded != size+int64(len(cfg)) {
		t.Errorf("push of one new layer uploaded %d bytes, want %d (layer) + %d (config)", stats.Uploaded, size, len(cfg))
	}
	h, ok, err := c.Lookup(ctx, tag(t, c, host+"/app"))
	d2, _ := img2.Digest()
	if err != nil || !ok || h != d2 {
		t.Errorf("Lookup = %v %v %v, want %v", h, ok, err, d2)
	}
	if _, ok, err := c.Lookup(ctx, tag(t, c, host+"/nothing")); ok || err != nil {
		t.Errorf("Lookup of a missing repository = %v, %v; want not found, no error", ok, err)
	}
}

func TestPushRetriesServerErrors(t *testing.T) {
	var fails atomic.Int32
	fails.Store(2)
	host := server(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch || r.Method == http.MethodPut {
				if fails.Add(-1) >= 0 {
					http.Error(w, "upstream hiccup", http.StatusServiceUnavailable)
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	})
	c := New(WithKeychain(authn.NewMultiKeychain()))
	img, _ := random.Image(1024, 1)
	if _, _, err := c.Push(context.Background(), img, tag(t, c, host+"/app")); err != nil {
		t.Fatalf("push through two 503s: %v", err)
	}
}

func TestPushErrorsAreClear(t *testing.T) {
	always := func(code int) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/" {
					h.ServeHTTP(w, r)
					return
				}
				w.WriteHeader(code)
			})
		}
	}
	img, _ := random.Image(1024, 1)
	tests := []struct {
		name string
		host string
		want string
	}{
		{"unauthorized", server(t, always(http.StatusUnauthorized)), "the registry refused the credentials (HTTP 401): log in with docker login"},
		{"server error", server(t, always(http.StatusInternalServerError)), "the registry failed (HTTP 500) after 4 tries"},
		{"unreachable", "127.0.0.1:1", "cannot reach the registry at 127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(WithKeychain(authn.NewMultiKeychain()))
			c.retries = 2
			if tt.name == "server error" {
				c.retries = 4
			}
			_, _, err := c.Push(context.Background(), img, tag(t, c, tt.host+"/app"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestMirrorsServeDockerHubImages(t *testing.T) {
	mirror := server(t, nil)
	c := New(WithKeychain(authn.NewMultiKeychain()), WithMirrors("http://"+mirror+"/"))
	img, _ := random.Image(1024, 1)
	if _, _, err := c.Push(context.Background(), img, tag(t, c, mirror+"/library/python")); err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference("python:v1")
	got, err := c.Image(context.Background(), ref, v1.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatalf("fetching python:v1 through the mirror: %v", err)
	}
	gd, _ := got.Digest()
	wd, _ := img.Digest()
	if gd != wd {
		t.Errorf("got %s, want %s", gd, wd)
	}
	cands := c.candidates(ref)
	if len(cands) != 2 || cands[0].String() != mirror+"/library/python:v1" || cands[1].Context().RegistryStr() != name.DefaultRegistry {
		t.Errorf("candidates = %v", cands)
	}
	other, _ := name.ParseReference("ghcr.io/o/app:1")
	if len(c.candidates(other)) != 1 {
		t.Errorf("mirrors used for a registry other than Docker Hub")
	}
}

func TestGuardRefusesPlainHTTPBeyondLoopback(t *testing.T) {
	g := &guard{base: http.DefaultTransport, insecure: map[string]bool{"10.1.2.3:5000": false}}
	req, _ := http.NewRequest(http.MethodGet, "http://10.1.2.3:5000/v2/", nil)
	if _, err := g.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "refusing plain HTTP to the registry 10.1.2.3:5000") {
		t.Fatalf("err = %v", err)
	}
	for reg, want := range map[string]bool{"127.0.0.1:5000": true, "localhost:5000": true, "[::1]:5000": true, "10.0.0.1:5000": false, "example.com": false} {
		if IsLoopback(reg) != want {
			t.Errorf("IsLoopback(%s) = %v", reg, !want)
		}
	}
}

// stalledServer is a registry that lets everything through but blob uploads,
// which it reads a little of and then holds, answering nothing, until the
// test ends.
func stalledServer(t *testing.T) string {
	done := make(chan struct{})
	host := server(t, stallUploads(done))
	t.Cleanup(func() { close(done) }) // before the server's Close, which waits for its handlers
	return host
}

func stallUploads(done chan struct{}) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if (r.Method == http.MethodPatch || r.Method == http.MethodPut) && strings.Contains(r.URL.Path, "/blobs/uploads/") {
				io.CopyN(io.Discard, r.Body, 512)
				<-done
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestPushToAStalledRegistryFails(t *testing.T) {
	host := stalledServer(t)
	c := New(WithKeychain(authn.NewMultiKeychain()), WithIdleTimeout(200*time.Millisecond))
	c.retries = 2
	img, _ := random.Image(4<<20, 1) // more than the socket buffers hold: the client's writes block too
	start := time.Now()
	_, _, err := c.Push(context.Background(), img, tag(t, c, host+"/app"))
	if err == nil {
		t.Fatal("the push to a registry that stopped answering succeeded")
	}
	want := "the registry at " + host + " stopped answering (nothing moved for 200ms, 2 tries); check it and try again"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v\nwant it to say %q", err, want)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the push took %s to give up", d) // a hang is the failure this guards; the bound is loose
	}
}

func TestPushInterruptedSaysSo(t *testing.T) {
	host := stalledServer(t)
	c := New(WithKeychain(authn.NewMultiKeychain()))
	img, _ := random.Image(1024, 1)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	_, _, err := c.Push(ctx, img, tag(t, c, host+"/app"))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") || strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("err = %v, want an interruption that does not blame the address", err)
	}
}

func TestParseRepositoryTakesASchemeAsMeant(t *testing.T) {
	c := New()
	for in, want := range map[string]string{
		"http://127.0.0.1:5000/team/app":   "127.0.0.1:5000/team/app",
		"https://registry.example/app":     "registry.example/app",
		"http://registry.example:5000/app": "registry.example:5000/app",
	} {
		r, err := c.ParseRepository(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseRepository(%s) = %s, %v; want %s", in, r, err, want)
		}
	}
	if r, _ := c.ParseRepository("http://registry.example:5000/app"); r.Registry.Scheme() != "http" {
		t.Errorf("http:// did not ask for plain HTTP: scheme %s", r.Registry.Scheme())
	}
	if r, _ := New().ParseRepository("https://registry.example/app"); r.Registry.Scheme() != "https" {
		t.Errorf("https:// gave scheme %s", r.Registry.Scheme())
	}
}

// hubDown fails every request to Docker Hub as a machine without internet
// does, and passes the others on.
type hubDown struct{ base http.RoundTripper }

func (h hubDown) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Hostname() == name.DefaultRegistry {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: r.URL.Hostname(), IsNotFound: true}}
	}
	return h.base.RoundTrip(r)
}

// A base image that the mirror does not have, on a machine that cannot reach
// Docker Hub: one sentence that names both, not a message about a registry
// called "python:3.99-slim".
func TestMirrorLacksImageAndHubUnreachable(t *testing.T) {
	mirror := server(t, nil)
	c := New(WithKeychain(authn.NewMultiKeychain()), WithMirrors(mirror))
	c.base, c.retries = hubDown{c.base}, 1
	ref, _ := name.ParseReference("python:3.99-slim")
	_, err := c.Image(context.Background(), ref, v1.Platform{OS: "linux", Architecture: "amd64"})
	want := "fetching python:3.99-slim: it is not in the registry mirror " + mirror + ", and Docker Hub cannot be reached"
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v, want one line starting %q", err, want)
	}
	// Without a mirror, the registry named is Docker Hub's.
	c = New(WithKeychain(authn.NewMultiKeychain()))
	c.base, c.retries = hubDown{c.base}, 1
	_, err = c.Image(context.Background(), ref, v1.Platform{OS: "linux", Architecture: "amd64"})
	if want := "cannot reach the registry at index.docker.io (Docker Hub)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

// Clients made one after another (one per up in watch mode) share their
// connections: a second client's requests go over the first's kept-alive
// connection rather than a new one.
func TestClientsShareConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, _ := random.Image(1024, 1)
	first := int32(0)
	for i := range 3 {
		c := New(WithKeychain(authn.NewMultiKeychain()))
		if _, _, err := c.Push(context.Background(), img, tag(t, c, fmt.Sprintf("%s/app%d", host, i))); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = conns.Load()
		}
	}
	// A push uses a few connections at once; the next clients' pushes must
	// find some of them open.
	if later := conns.Load() - first; later >= 2*first {
		t.Errorf("the first client opened %d connections, the next two %d more: they reused none", first, later)
	}
}

// Progress is told per push: each push's own callback, ending complete, and
// none of it reaches another push of the same client.
func TestPushProgressPerPush(t *testing.T) {
	host := server(t, nil)
	c := New(WithKeychain(authn.NewMultiKeychain()))
	ctx := context.Background()
	var seen [2][]Progress
	for i := range seen {
		img, err := random.Image(256<<10, 2)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Push(ctx, img, tag(t, c, host+"/app"), WithProgress(func(p Progress) { seen[i] = append(seen[i], p) })); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range seen {
		if len(s) == 0 {
			t.Fatalf("push %d: no progress", i)
		}
		if last := s[len(s)-1]; last.Total == 0 || last.Complete != last.Total {
			t.Errorf("push %d ended at %+v, want complete", i, last)
		}
	}
	// Without the option: no callback, the push as before.
	img, _ := random.Image(1024, 1)
	if _, _, err := c.Push(ctx, img, tag(t, c, host+"/app")); err != nil {
		t.Fatal(err)
	}
}

// A connection the registry (or a proxy) resets is said so, whichever of
// its errors the transport saw last.
func TestDescribeResetConnections(t *testing.T) {
	c := New()
	for _, err := range []error{
		&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET},
		&net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed},
		fmt.Errorf("Patch: %w", io.ErrUnexpectedEOF),
	} {
		if got := c.describe("pushing", "127.0.0.1:5000/app", err).Error(); !strings.Contains(got, "closed the connection mid-request") {
			t.Errorf("%v: %s", err, got)
		}
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	if got := c.describe("pushing", "127.0.0.1:5000/app", refused).Error(); !strings.Contains(got, "cannot reach the registry") {
		t.Errorf("a refused dial: %s", got)
	}
}
