// Package benchutil holds what draft's benchmarks share: a byte-counting proxy
// in front of the registry, running commands, copying apps, medians.
package benchutil

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"sync"
)

// Proxy counts the bytes pushed through it to a registry.
type Proxy struct {
	Addr     string // host:port to push to
	uploaded atomic.Int64
	srv      *http.Server
}

// NewProxy listens on loopback and forwards to the registry at target (host:port).
func NewProxy(target string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: l.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	rp.ModifyResponse = func(r *http.Response) error {
		// Upload locations point at the registry itself: send clients back through us.
		if loc := r.Header.Get("Location"); loc != "" {
			r.Header.Set("Location", strings.Replace(loc, target, p.Addr, 1))
		}
		return nil
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && (r.Method == http.MethodPut || r.Method == http.MethodPatch || r.Method == http.MethodPost) {
			r.Body = &counter{r: r.Body, n: &p.uploaded}
		}
		rp.ServeHTTP(w, r)
	})}
	go p.srv.Serve(l)
	return p, nil
}

// Take returns the bytes pushed since the last call.
func (p *Proxy) Take() int64 { return p.uploaded.Swap(0) }

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

type counter struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (c *counter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}
func (c *counter) Close() error { return c.r.Close() }

// Run runs a command in dir with extra environment, and fails loudly.
func Run(dir string, env []string, name string, args ...string) (string, time.Duration) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s %s: %v\n%s\n", name, strings.Join(args, " "), err, out)
		os.Exit(1)
	}
	return string(out), d
}

// CopyDir copies a directory tree.
func CopyDir(src, dst string) {
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, info.Mode())
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Median of durations or numbers.
func Median[T int64 | float64 | time.Duration](xs []T) T {
	s := append([]T(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Root is the repository's top folder (benchmarks run from it).
func Root() string {
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "e2e", "testdata")); err == nil {
				return d
			}
		}
	}
	return wd
}

// RSS is this process's resident set size in bytes (VmRSS in /proc/self/status).
func RSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// CPU is the user and system CPU time this process has used so far.
func CPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// WaitFor polls url until its body is want, and returns how long after
// since that was; after two minutes it exits the benchmark, saying so.
func WaitFor(url, want string, since time.Time) time.Duration {
	c := &http.Client{Timeout: 2 * time.Second}
	for time.Since(since) < 2*time.Minute {
		if resp, err := c.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(b)) == want {
				return time.Since(since)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "%s never answered %q\n", url, want)
	os.Exit(1)
	return 0
}

// FreePort is a TCP port free on loopback now.
func FreePort() int {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// LastLine is the last line of s.
func LastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// Lines are the lines a command wrote, with when each came.
type Lines struct {
	mu    sync.Mutex
	lines []stampedLine
}

type stampedLine struct {
	at   time.Time
	line string
}

// Add books a line, now.
func (s *Lines) Add(line string) {
	s.mu.Lock()
	s.lines = append(s.lines, stampedLine{time.Now(), line})
	s.mu.Unlock()
}

// After is the first line that came after t and that match takes, and
// when it came (zero, "" for none yet).
func (s *Lines) After(t time.Time, match func(string) bool) (time.Time, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		if l.at.After(t) && match(l.line) {
			return l.at, l.line
		}
	}
	return time.Time{}, ""
}
