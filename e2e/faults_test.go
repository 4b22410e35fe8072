//go:build e2e

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/draftk8s/draft/internal/testkit"
)

// The fault suite: each case runs the draft binary against the real
// environment with one thing wrong (a registry with TLS and a password, a
// registry that fails, resets or stalls uploads, an API server that goes
// away and comes back, a signal), and checks the exit code, the one
// sentence, and that nothing was lost: the release still serves what it
// served, no revision was added by a failure.

// envState is the environment's state folder (e2e/env/lib.sh's STATE).
func envState() string {
	if s := os.Getenv("DRAFT_ENV_STATE"); s != "" {
		return s
	}
	return "/var/lib/draft-env"
}

// testCA writes a new CA and a certificate for 127.0.0.1 that it signed
// into dir.
func testCA(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "draft e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for f, b := range map[string]*pem.Block{caFile: {Type: "CERTIFICATE", Bytes: caDER}, certFile: {Type: "CERTIFICATE", Bytes: leafDER}, keyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

// authRegistry runs another Debian docker-registry, with TLS and a
// password, on the environment registry's storage: the cluster pulls what
// is pushed to it through the environment's registry, as it pulls the images
// of every registry.
func authRegistry(t *testing.T, user, password string) (addr, caFile string) {
	t.Helper()
	dir := t.TempDir()
	caFile, cert, key := testCA(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	must(t, os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600))
	addr = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	conf := filepath.Join(dir, "registry.yml")
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf(`version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: %s}
  maintenance: {uploadpurging: {enabled: false}}
http:
  addr: %s
  secret: draft-e2e-faults
  tls: {certificate: %s, key: %s}
auth:
  htpasswd: {realm: draft-e2e, path: %s}
`, filepath.Join(envState(), "registry"), addr, cert, key, htpasswd)), 0o600))
	cmd := exec.Command("docker-registry", "serve", conf)
	var logs testkit.LockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(b)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := client.Get("https://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return addr, caFile
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the TLS registry on %s did not answer 401 (%v)\n%s", addr, err, logs.String())
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// dockerConfig writes a Docker config folder whose config.json is content.
func dockerConfig(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(content), 0o600))
	return dir
}

// lastLine is the last line of stderr.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// faultCase is one draft up with something wrong, and what it must give.
type faultCase struct {
	name string
	env  []string
	args []string
	code int    // the exit code wanted
	want string // in the last line of stderr when code != 0
	prep func() // before the up
	post func(t *testing.T)
}

var versionLine = regexp.MustCompile(`VERSION = "[^"]*"`)

// runFaults runs each case as an up of a new version of dir's python app,
// and checks that a failure added no revision and left the last version
// that deployed serving.
func runFaults(t *testing.T, dir, ns string, cases []faultCase) {
	t.Helper()
	cfg, cs, _ := cluster(t)
	serving := ""
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			// A version never pushed before: its layer must be uploaded.
			version := fmt.Sprintf("f%d-%d", i+1, time.Now().UnixNano())
			b, _ := os.ReadFile(filepath.Join(dir, "app.py"))
			b = []byte(versionLine.ReplaceAllString(string(b), `VERSION = "`+version+`"`))
			must(t, os.WriteFile(filepath.Join(dir, "app.py"), b, 0o644))
			before := 0
			if serving != "" {
				before = revisions(t, cs, ns, "python-app")
			}
			if tt.prep != nil {
				tt.prep()
			}
			if tt.post != nil {
				defer tt.post(t)
			}
			start := time.Now()
			r := draft(t, dir, tt.env, append([]string{"up", "-n", ns}, tt.args...)...)
			t.Logf("exit %d in %s: %s", r.code, time.Since(start).Round(time.Millisecond), lastLine(r.stderr))
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tt.code, r.stderr)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
				t.Errorf("a stack trace:\n%s", r.stderr)
			}
			if tt.code == 0 {
				serving = "python-app " + version
				if got := get(t, cfg, cs, ns, "python-app", 8080); got != serving {
					t.Errorf("the app answers %q, want %q", got, serving)
				}
				return
			}
			if last := lastLine(r.stderr); !strings.HasPrefix(last, "Error: ") || !strings.Contains(last, tt.want) {
				t.Errorf("last line %q, want an Error line with %q\n%s", last, tt.want, r.stderr)
			}
			if serving == "" {
				return
			}
			if after := revisions(t, cs, ns, "python-app"); after != before {
				t.Errorf("%d revisions after the failure, %d before", after, before)
			}
			if got := get(t, cfg, cs, ns, "python-app", 8080); got != serving {
				t.Errorf("after the failure the app answers %q, want %q", got, serving)
			}
		})
	}
}

// A registry with TLS (its own CA) and a password: credentials from a Docker
// config and from a credential helper work; wrong or missing credentials
// and an untrusted CA are one sentence each.
func TestFaultsRegistryTLSAndPassword(t *testing.T) {
	_, cs, _ := cluster(t)
	ns := namespace(t, cs)
	addr, ca := authRegistry(t, "draft", "s3cret-pass")
	dir := copyApp(t, "python-app")
	mustDraft(t, dir, nil, "create")

	auth := func(user, pass string) string {
		return fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, addr, base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	}
	good := dockerConfig(t, auth("draft", "s3cret-pass"))
	bad := dockerConfig(t, auth("draft", "wrong"))
	none := dockerConfig(t, `{}`)
	// A credential helper, as docker-credential-* programs are found: on PATH.
	bin := t.TempDir()
	must(t, os.WriteFile(filepath.Join(bin, "docker-credential-draft-e2e"), []byte(`#!/bin/sh
[ "$1" = get ] || exit 1
read server
echo "{\"ServerURL\": \"$server\", \"Username\": \"draft\", \"Secret\": \"s3cret-pass\"}"
`), 0o755))
	helper := dockerConfig(t, fmt.Sprintf(`{"credHelpers": {%q: "draft-e2e"}}`, addr))
	trust := "SSL_CERT_FILE=" + ca
	args := []string{"--registry", addr, "--builder", "daemonless"}
	runFaults(t, dir, ns, []faultCase{
		{name: "credentials in the Docker config", env: []string{"DOCKER_CONFIG=" + good, trust}, args: args},
		{name: "credentials from a helper", env: []string{"DOCKER_CONFIG=" + helper, trust, "PATH=" + bin + ":" + os.Getenv("PATH")}, args: args},
		{name: "wrong password", env: []string{"DOCKER_CONFIG=" + bad, trust}, args: args, code: 1,
			want: "the registry refused the credentials (HTTP 401): log in with docker login " + addr},
		{name: "no credentials", env: []string{"DOCKER_CONFIG=" + none, trust}, args: args, code: 1,
			want: "the registry refused the credentials (HTTP 401)"},
		{name: "CA not trusted", env: []string{"DOCKER_CONFIG=" + good}, args: args, code: 1,
			want: "the registry's certificate is signed by an authority this machine does not trust"},
		{name: "credentials in the Docker config again", env: []string{"DOCKER_CONFIG=" + good, trust}, args: args},
	})
}

// faultProxy stands in front of the environment's registry and, by mode,
// fails blob uploads with 503, resets their connections, or stalls them
// (reads nothing, answers nothing).
type faultProxy struct {
	addr  string
	mode  atomic.Value // "", "fail", "reset", "stall"
	fails atomic.Int32 // uploads still to fail in mode "fail"
	seen  atomic.Int32 // uploads met in a fault mode
	stop  chan struct{}
}

func startFaultProxy(t *testing.T, registry string) *faultProxy {
	t.Helper()
	p := &faultProxy{stop: make(chan struct{})}
	p.mode.Store("")
	target, _ := url.Parse("http://" + registry)
	rp := httputil.NewSingleHostReverseProxy(target)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upload := (r.Method == http.MethodPatch || r.Method == http.MethodPut) && strings.Contains(r.URL.Path, "/blobs/uploads/")
		mode := p.mode.Load().(string)
		if !upload || mode == "" {
			rp.ServeHTTP(w, r)
			return
		}
		p.seen.Add(1)
		switch mode {
		case "fail":
			if p.fails.Add(-1) >= 0 {
				io.Copy(io.Discard, r.Body)
				http.Error(w, "failing on purpose", http.StatusServiceUnavailable)
				return
			}
			rp.ServeHTTP(w, r)
		case "reset":
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0) // a reset, not a clean close
				}
				conn.Close()
			}
		case "stall":
			select {
			case <-r.Context().Done():
			case <-p.stop:
			}
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { close(p.stop); srv.Close() })
	return p
}

// A registry that fails, resets or stalls uploads: a few failures are
// retried and the up succeeds; more fail it in one sentence, with the
// release as it was.
func TestFaultsRegistryProxy(t *testing.T) {
	_, cs, reg := cluster(t)
	ns := namespace(t, cs)
	p := startFaultProxy(t, reg)
	dir := copyApp(t, "python-app")
	mustDraft(t, dir, nil, "create")
	args := []string{"--registry", p.addr, "--builder", "daemonless"}
	mode := func(m string, fails int32) func() {
		return func() {
			p.mode.Store(m)
			p.fails.Store(fails)
			p.seen.Store(0)
		}
	}
	met := func(t *testing.T) {
		if p.seen.Load() == 0 {
			t.Errorf("the proxy met no upload: the case tested nothing")
		}
	}
	runFaults(t, dir, ns, []faultCase{
		{name: "healthy", args: args, prep: mode("", 0)},
		{name: "two failed uploads", args: args, prep: mode("fail", 2), post: met},
		{name: "every upload fails", args: args, prep: mode("fail", 1000), post: met, code: 1,
			want: "the registry failed (HTTP 503) after 4 tries; try again later"},
		{name: "connections reset", args: args, prep: mode("reset", 0), post: met, code: 1, want: "closed the connection mid-request, 4 tries"},
		{name: "uploads stall", args: args, prep: mode("stall", 0), post: met, env: []string{"DRAFT_REGISTRY_IDLE_TIMEOUT=2s"}, code: 1,
			want: "stopped answering (nothing moved for 2s"},
		{name: "healthy again", args: args, prep: mode("", 0)},
	})
}

// tcpProxy forwards TCP connections to target; drop closes them all and
// refuses new ones until restore.
type tcpProxy struct {
	target, addr string
	mu           sync.Mutex
	l            net.Listener
	conns        map[net.Conn]struct{}
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{target: target, addr: fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)), conns: map[net.Conn]struct{}{}}
	must(t, p.restore())
	t.Cleanup(p.drop)
	return p
}

func (p *tcpProxy) restore() error {
	l, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return nil
}

func (p *tcpProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
	clear(p.conns)
}

// proxiedKubeconfig writes a copy of $KUBECONFIG whose server is the
// proxy's address.
func proxiedKubeconfig(t *testing.T) (*tcpProxy, string) {
	t.Helper()
	kc, err := clientcmd.LoadFromFile(os.Getenv("KUBECONFIG"))
	must(t, err)
	var p *tcpProxy
	for _, c := range kc.Clusters {
		u, err := url.Parse(c.Server)
		must(t, err)
		if p == nil {
			p = startTCPProxy(t, u.Host)
		}
		u.Host = p.addr
		c.Server = u.String()
	}
	file := filepath.Join(t.TempDir(), "proxied.kubeconfig")
	must(t, clientcmd.WriteToFile(*kc, file))
	return p, file
}

// The API server goes away for a while (its connections reset, new ones
// refused) and comes back, while connect and watch mode run: the forward and
// the log stream come back by themselves, and the next save redeploys.
func TestFaultsAPIServerDrops(t *testing.T) {
	_, cs, _ := cluster(t)
	ns := namespace(t, cs)
	dir := copyApp(t, "python-app")
	mustDraft(t, dir, nil, "create")
	mustDraft(t, dir, nil, "up", "-n", ns)
	p, kc := proxiedKubeconfig(t)
	t.Setenv("KUBECONFIG", kc)

	t.Run("connect", func(t *testing.T) {
		c := startConnect(t, dir, "-n", ns)
		l := startLoop(c.url)
		defer l.end()
		l.waitBody(t, "python-app v1", time.Now())
		p.drop()
		time.Sleep(5 * time.Second)
		logged := strings.Count(c.stdout.String(), "request: ")
		must(t, p.restore())
		restored := time.Now()
		back := l.waitBody(t, "python-app v1", restored)
		t.Logf("the forward answered %s after the API server came back", back.Sub(restored).Round(time.Millisecond))
		for deadline := time.Now().Add(60 * time.Second); strings.Count(c.stdout.String(), "request: ") <= logged+3; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no new log line within 60 s of the API server's return\nstdout:\n%s\nstderr:\n%s", c.stdout, c.stderr)
			}
		}
		t.Logf("log lines flowed again %s after the API server came back", time.Since(restored).Round(time.Millisecond))
		select {
		case <-c.done:
			t.Fatalf("draft connect ended\n%s", c.stderr)
		default:
		}
		c.interrupt(t)
		t.Logf("draft connect's stderr:\n%s", c.stderr)
	})

	t.Run("watch", func(t *testing.T) {
		w := startWatch(t, dir, ns, false, "--no-live-update")
		w.waitFor(t, "python-app v1", time.Minute)
		p.drop()
		time.Sleep(5 * time.Second)
		must(t, p.restore())
		edit(t, filepath.Join(dir, "app.py"), `VERSION = "v1"`, `VERSION = "v2"`)
		took := w.waitFor(t, "python-app v2", 2*time.Minute)
		t.Logf("a save after the API server came back answered in %s", took.Round(time.Millisecond))
		w.stop(t)
	})
}

// Ctrl-C in watch mode during a redeploy's rollout: exit 130, the message
// says it was rolled back, and the previous version still serves.
func TestFaultsWatchInterrupted(t *testing.T) {
	cfg, cs, _ := cluster(t)
	ns := namespace(t, cs)
	dir := copyApp(t, "python-app")
	mustDraft(t, dir, nil, "create")
	w := startWatch(t, dir, ns, false, "--no-live-update") // a redeploy's rollout is what is interrupted
	w.waitFor(t, "python-app v1", time.Minute)
	w.settle()
	// A version that takes 20 s to listen: its rollout is under way for long.
	edit(t, filepath.Join(dir, "app.py"), "signal.signal(", "import time; time.sleep(20)\nsignal.signal(")
	rolling := func() bool {
		s := w.stderr()
		i := strings.LastIndex(s, "changed: app.py")
		return i >= 0 && strings.Contains(s[i:], "not ready")
	}
	for deadline := time.Now().Add(time.Minute); !rolling(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the redeploy's rollout did not start\n%s", w.stderr())
		}
	}
	w.stopped = true
	w.cmd.Process.Signal(syscall.SIGINT)
	var err error
	select {
	case err = <-w.done:
	case <-time.After(time.Minute):
		t.Fatal("draft up --watch did not end within a minute of Ctrl-C")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit %v, want 130\n%s", err, w.stderr())
	}
	if last := lastLine(w.stderr()); !strings.Contains(last, "was interrupted; rolled back to revision 1") {
		t.Errorf("last line %q does not say the redeploy was rolled back\n%s", last, w.stderr())
	}
	if got := get(t, cfg, cs, ns, "python-app", 8080); got != "python-app v1" {
		t.Errorf("after the interrupted redeploy the app answers %q", got)
	}
}

// Signals in the phases the other tests leave: SIGTERM (what a terminal or
// an IDE sends when closed) during a rollout is an interrupt like Ctrl-C;
// Ctrl-C while delete waits for the pods to go leaves the release
// uninstalled and says so.
func TestFaultsSignals(t *testing.T) {
	cfg, cs, _ := cluster(t)
	ns := namespace(t, cs)
	dir := copyApp(t, "python-app")
	mustDraft(t, dir, nil, "create")
	mustDraft(t, dir, nil, "up", "-n", ns)
	signalled := func(t *testing.T, sig os.Signal, when string, after time.Duration, args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(draftBin(t), args...)
		cmd.Dir = dir
		var errOut testkit.LockedBuffer
		cmd.Stderr = &errOut
		must(t, cmd.Start())
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		for deadline := time.Now().Add(time.Minute); !strings.Contains(errOut.String(), when); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no %q within a minute\n%s", when, errOut.String())
			}
		}
		time.Sleep(after)
		cmd.Process.Signal(sig)
		select {
		case <-done:
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			t.Fatalf("still running a minute after the signal\n%s", errOut.String())
		}
		if s := errOut.String(); strings.Contains(s, "goroutine ") || strings.Contains(s, "panic:") {
			t.Errorf("a stack trace:\n%s", s)
		}
		return cmd.ProcessState.ExitCode(), lastLine(errOut.String())
	}

	t.Run("SIGTERM during the rollout", func(t *testing.T) {
		edit(t, filepath.Join(dir, "app.py"), "signal.signal(", "import time; time.sleep(20)\nsignal.signal(")
		code, last := signalled(t, syscall.SIGTERM, "not ready", 0, "up", "-n", ns)
		if code != 130 || !strings.Contains(last, "was interrupted; rolled back to revision 1") {
			t.Errorf("exit %d, %q; want 130 and the rollback", code, last)
		}
		if got := get(t, cfg, cs, ns, "python-app", 8080); got != "python-app v1" {
			t.Errorf("after the interrupted up the app answers %q", got)
		}
		edit(t, filepath.Join(dir, "app.py"), "import time; time.sleep(20)\n", "")
	})

	t.Run("Ctrl-C while delete waits", func(t *testing.T) {
		// Pods that take their time to go: SIGTERM is ignored (30 s of grace).
		edit(t, filepath.Join(dir, "app.py"), "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))", "signal.signal(signal.SIGTERM, signal.SIG_IGN)")
		mustDraft(t, dir, nil, "up", "-n", ns)
		code, last := signalled(t, os.Interrupt, "deleting release", 2*time.Second, "delete", "-n", ns)
		if code != 130 || !regexp.MustCompile(`release python-app was uninstalled, but waiting for its (1 pod|\d+ pods) to go was interrupted`).MatchString(last) {
			t.Errorf("exit %d, %q; want 130 and what was done", code, last)
		}
		if n := revisions(t, cs, ns, "python-app"); n != 0 {
			t.Errorf("%d revisions of the release are left after delete", n)
		}
		r := draft(t, dir, nil, "delete", "-n", ns)
		if r.code != 1 || !strings.Contains(r.stderr, "there is no release python-app") {
			t.Errorf("a second delete: exit %d\n%s", r.code, r.stderr)
		}
	})
}
