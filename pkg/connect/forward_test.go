package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/draftk8s/draft/internal/testkit"
	"github.com/draftk8s/draft/pkg/kube"
)

// The tests below run the Forwarder against client-go's fake clientset (pods
// and their watch) and fake portforward connections whose data streams are
// TCP connections to one httptest server per pod: everything but the API
// server's SPDY upgrade, which the e2e tests cover.

const testPort = 40123 // a pod port unlikely to be taken here

// pods are the fake pods' servers, by pod name; each answers its pod's name.
type fakePods struct {
	mu      sync.Mutex
	servers map[string]*httptest.Server
	dials   atomic.Int32
	// refused, when set, is called when a pod's port refuses a connection.
	refused func(pod string)
	// stuck pods never accept a new stream (their connection is held up).
	stuck map[string]bool
	// down pods refuse connections to their port (the app is not listening).
	down map[string]bool
	// stickOnWrite: a write to the data stream of a connection that the
	// pod refused leaves the pod's connection accepting no stream, as the
	// runtime's stream workers wait on those bytes forever.
	stickOnWrite bool
	stuckConns   atomic.Int32 // connections stuck so
	// accepted counts the connections each pod's port accepted.
	accepted map[string]int
}

func (fp *fakePods) acceptedBy(pod string) int {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.accepted[pod]
}

func (fp *fakePods) setDown(pod string, down bool) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if fp.down == nil {
		fp.down = map[string]bool{}
	}
	fp.down[pod] = down
}

func newFakePods(t *testing.T, names ...string) *fakePods {
	fp := &fakePods{servers: map[string]*httptest.Server{}}
	for _, n := range names {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, n)
		}))
		t.Cleanup(srv.Close)
		fp.servers[n] = srv
	}
	return fp
}

func (fp *fakePods) dial(_ context.Context, pod *corev1.Pod) (httpstream.Connection, error) {
	fp.dials.Add(1)
	fp.mu.Lock()
	srv := fp.servers[pod.Name]
	fp.mu.Unlock()
	if srv == nil {
		return nil, fmt.Errorf("pod %s does not answer", pod.Name)
	}
	return &fakeConn{pod: pod.Name, fp: fp, addr: srv.Listener.Addr().String(), errs: map[string]*io.PipeWriter{}, closed: make(chan bool)}, nil
}

// fakeConn is a portforward connection: the error stream of a request ID
// carries the failure to reach the port; its data stream is a TCP connection.
type fakeConn struct {
	pod    string
	fp     *fakePods
	addr   string
	mu     sync.Mutex
	errs   map[string]*io.PipeWriter
	closed chan bool
	once   sync.Once
	stuck  atomic.Bool // see fakePods.stickOnWrite
}

func (c *fakeConn) CreateStream(h http.Header) (httpstream.Stream, error) {
	select {
	case <-c.closed:
		return nil, errors.New("connection closed")
	default:
	}
	if c.fp.isStuck(c.pod) || c.stuck.Load() {
		<-c.closed
		return nil, errors.New("connection closed")
	}
	id := h.Get(corev1.PortForwardRequestIDHeader)
	switch h.Get(corev1.StreamType) {
	case corev1.StreamTypeError:
		r, w := io.Pipe()
		c.mu.Lock()
		c.errs[id] = w
		c.mu.Unlock()
		return &errStream{r: r, h: h}, nil
	case corev1.StreamTypeData:
		c.mu.Lock()
		ew := c.errs[id]
		c.mu.Unlock()
		if ew == nil {
			return nil, errors.New("data stream before its error stream")
		}
		fp := c.fp
		fp.mu.Lock()
		down := fp.down[c.pod]
		fp.mu.Unlock()
		conn, err := net.Dial("tcp", c.addr)
		if err == nil && down {
			conn.Close()
			err = errors.New("connect: connection refused")
		}
		if err != nil {
			// As the kubelet does: the data stream ends, the error stream says why.
			if c.fp.refused != nil {
				c.fp.refused(c.pod)
			}
			go func() {
				fmt.Fprintf(ew, "error forwarding port %s to pod %s: failed to connect to localhost:%s inside namespace: %v", h.Get(corev1.PortHeader), c.pod, h.Get(corev1.PortHeader), err)
				ew.Close()
			}()
			a, b := net.Pipe()
			b.Close()
			ds := &dataStream{Conn: a, h: h}
			if fp.stickOnWrite {
				ds.onWrite = func() {
					if c.stuck.CompareAndSwap(false, true) {
						fp.stuckConns.Add(1)
					}
				}
			}
			return ds, nil
		}
		fp.mu.Lock()
		if fp.accepted == nil {
			fp.accepted = map[string]int{}
		}
		fp.accepted[c.pod]++
		fp.mu.Unlock()
		return &dataStream{Conn: conn, h: h, errw: ew}, nil
	}
	return nil, fmt.Errorf("unknown stream type %q", h.Get(corev1.StreamType))
}

func (c *fakeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}
func (c *fakeConn) CloseChan() <-chan bool             { return c.closed }
func (c *fakeConn) SetIdleTimeout(time.Duration)       {}
func (c *fakeConn) RemoveStreams(...httpstream.Stream) {}
func (s *errStream) Read(p []byte) (int, error)        { return s.r.Read(p) }
func (s *errStream) Write(p []byte) (int, error)       { return 0, errors.New("read-only") }
func (s *errStream) Close() error                      { return nil }
func (s *errStream) Reset() error                      { return s.r.Close() }
func (s *errStream) Headers() http.Header              { return s.h }
func (s *errStream) Identifier() uint32                { return 0 }
func (s *dataStream) Headers() http.Header             { return s.h }
func (s *dataStream) Identifier() uint32               { return 0 }
func (s *dataStream) Close() error {
	if tc, ok := s.Conn.(*net.TCPConn); ok {
		return tc.CloseWrite()
	}
	return s.Conn.Close()
}
func (s *dataStream) Reset() error {
	if s.errw != nil {
		s.errw.Close()
	}
	return s.Conn.Close()
}
func (s *dataStream) Read(p []byte) (int, error) { return s.Conn.Read(p) }
func (s *dataStream) Write(p []byte) (int, error) {
	if s.onWrite != nil && len(p) > 0 {
		s.onWrite()
	}
	return s.Conn.Write(p)
}
func (fp *fakePods) server(name string) *httptest.Server { return fp.servers[name] }

func (fp *fakePods) isStuck(pod string) bool {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.stuck[pod]
}

type errStream struct {
	r *io.PipeReader
	h http.Header
}

type dataStream struct {
	net.Conn
	h       http.Header
	errw    *io.PipeWriter
	onWrite func() // see fakePods.stickOnWrite
}

// startForwarder runs a Forwarder on the fake clientset until the test ends.
func startForwarder(t *testing.T, cs *fake.Clientset, fp *fakePods, opts ...Option) (*Forwarder, Mapping, chan error) {
	t.Helper()
	ready := make(chan []Mapping, 1)
	opts = append([]Option{WithHosts("127.0.0.1"), WithReady(func(m []Mapping) { ready <- m })}, opts...)
	f := New(nil, cs, testNS, "app.kubernetes.io/instance=web", opts...)
	f.dial = fp.dial
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	select {
	case m := <-ready:
		if len(m) != 1 {
			t.Fatalf("mappings = %+v, want one", m)
		}
		return f, m[0], done
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the forwarder did not listen")
	}
	return nil, Mapping{}, nil
}

func get(m Mapping, timeout time.Duration) (string, error) {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(m.URL())
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// eventually polls GET until it answers want.
func eventually(t *testing.T, m Mapping, want string) time.Duration {
	t.Helper()
	start := time.Now()
	var got string
	var err error
	for time.Since(start) < 5*time.Second {
		if got, err = get(m, 2*time.Second); err == nil && got == want {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("GET %s = %q, %v; want %q", m.URL(), got, err, want)
	return 0
}

func update(t *testing.T, cs *fake.Clientset, p *corev1.Pod) { testkit.UpdatePod(t, cs, p) }

func create(t *testing.T, cs *fake.Clientset, p *corev1.Pod) { testkit.CreatePod(t, cs, p) }

// The same local port follows the pods as a rollout replaces them: new
// connections go to the new pod as soon as it is Ready, never before.
func TestForwarderFollowsRollout(t *testing.T) {
	fp := newFakePods(t, "a", "b", "c")
	a := pod("a", 1, true, port("http", testPort))
	cs := fake.NewClientset(a)
	var events []Event
	var mu sync.Mutex
	_, m, _ := startForwarder(t, cs, fp, WithEvents(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }))
	if m.Remote != testPort || m.Name != "http" {
		t.Fatalf("mapping = %+v", m)
	}
	eventually(t, m, "a")

	// A new pod, not yet Ready: still a.
	b := pod("b", 2, false, port("http", testPort))
	create(t, cs, b)
	time.Sleep(50 * time.Millisecond)
	if got, err := get(m, 2*time.Second); err != nil || got != "a" {
		t.Fatalf("before b is Ready: %q, %v", got, err)
	}
	// b Ready: new connections go to b, the old pod is being deleted.
	setReady(b, true)
	update(t, cs, b)
	if d := eventually(t, m, "b"); d > 500*time.Millisecond {
		t.Errorf("took %s to move to the Ready pod", d)
	}
	update(t, cs, deleting(a))
	if got, err := get(m, 2*time.Second); err != nil || got != "b" {
		t.Fatalf("after the switch: %q, %v", got, err)
	}

	// b deleted (kubectl delete pod) before its replacement c is Ready: a
	// new connection is held, then answered by c.
	update(t, cs, deleting(b))
	if err := cs.CoreV1().Pods(testNS).Delete(context.Background(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The informer tells of the deletion asynchronously: a connection made at
	// once could still be sent to b (1 run in 20 under -race).
	time.Sleep(100 * time.Millisecond)
	type answer struct {
		body string
		err  error
	}
	held := make(chan answer, 1)
	go func() {
		body, err := get(m, 5*time.Second)
		held <- answer{body, err}
	}()
	time.Sleep(100 * time.Millisecond)
	c := pod("c", 3, false, port("http", testPort))
	create(t, cs, c)
	time.Sleep(50 * time.Millisecond)
	select {
	case a := <-held:
		t.Fatalf("the connection was not held while no pod was Ready: %q, %v", a.body, a.err)
	default:
	}
	setReady(c, true)
	update(t, cs, c)
	select {
	case a := <-held:
		if a.err != nil || a.body != "c" {
			t.Fatalf("held connection: %q, %v; want c", a.body, a.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held connection never went through")
	}

	// The events come from another of the informer's handlers: give them a moment.
	want := "target:a target:b waiting: target:c"
	var got string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && got != want; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		var kinds []string
		for _, e := range events {
			kinds = append(kinds, e.Kind+":"+e.Pod)
		}
		mu.Unlock()
		got = strings.Join(kinds, " ")
	}
	if got != want {
		t.Errorf("events = %s, want %s", got, want)
	}
}

// Without a Ready pod, a connection is held for the hold time, then closed.
func TestForwarderHoldTimeout(t *testing.T) {
	fp := newFakePods(t, "a")
	cs := fake.NewClientset(pod("a", 1, false, port("http", testPort)))
	_, m, _ := startForwarder(t, cs, fp, WithHold(300*time.Millisecond))
	start := time.Now()
	if got, err := get(m, 3*time.Second); err == nil {
		t.Fatalf("GET without a Ready pod = %q", got)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("held for %s, want about 300ms", d)
	}
}

// One connection to a pod carries every local connection to it; a dead
// one is dialled again.
func TestForwarderRedialsDeadConnection(t *testing.T) {
	fp := newFakePods(t, "a")
	cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)))
	f, m, _ := startForwarder(t, cs, fp)
	for i := 0; i < 5; i++ {
		eventually(t, m, "a")
	}
	if n := fp.dials.Load(); n != 1 {
		t.Errorf("%d dials for 5 connections to one pod, want 1", n)
	}
	f.mu.Lock()
	for _, c := range f.conns {
		c.conn.Close() // the API server dropped it
	}
	f.mu.Unlock()
	eventually(t, m, "a")
	if n := fp.dials.Load(); n != 2 {
		t.Errorf("%d dials after the connection dropped, want 2", n)
	}
}

// A connection that the pod could not connect to its port (its app is
// gone: the pod is being replaced) is sent again, whole, to the current
// target; one that a pod answered is not.
func TestForwarderReplaysRefusedConnection(t *testing.T) {
	fp := newFakePods(t, "a", "b")
	fp.server("a").Close() // a's app has exited; the API does not know yet
	a, b := pod("a", 1, true, port("http", testPort)), pod("b", 2, false, port("http", testPort))
	cs := fake.NewClientset(a, b)
	var once sync.Once
	fp.refused = func(string) {
		once.Do(func() { // the API catches up, a little later: a is going, b is Ready
			time.AfterFunc(20*time.Millisecond, func() {
				bb := b.DeepCopy()
				setReady(bb, true)
				for _, p := range []*corev1.Pod{deleting(a.DeepCopy()), bb} {
					if _, err := cs.CoreV1().Pods(testNS).Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
						t.Error(err)
					}
				}
			})
		})
	}
	var retries atomic.Int32
	_, m, _ := startForwarder(t, cs, fp, WithEvents(func(e Event) {
		if e.Kind == "retry" {
			retries.Add(1)
		}
	}))
	body := strings.Repeat("x", 10000) // more than one read of the client
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Post(m.URL(), "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST through a pod that refused: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "b" || retries.Load() == 0 {
		t.Errorf("answer %q after %d retries, want b after at least one", got, retries.Load())
	}

	// b's app goes too, and no other pod comes: the connection fails after
	// a few attempts rather than hanging.
	fp.server("b").Close()
	start := time.Now()
	if _, err := get(m, 5*time.Second); err == nil {
		t.Error("GET to a pod that refuses succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a refused connection took %s to fail", d)
	}
}

// A pod that goes away without answering: a GET is sent again to the new
// target (as HTTP clients do themselves), a POST is not.
func TestForwarderReplaysUnansweredGet(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			fp := newFakePods(t, "b")
			release := make(chan struct{})
			hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
			t.Cleanup(func() { close(release); hung.Close() })
			fp.servers["a"] = hung
			a, b := pod("a", 1, true, port("http", testPort)), pod("b", 2, false, port("http", testPort))
			cs := fake.NewClientset(a, b)
			_, m, _ := startForwarder(t, cs, fp)
			got := make(chan string, 1)
			go func() {
				c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
				req, _ := http.NewRequest(method, m.URL(), strings.NewReader(""))
				resp, err := c.Do(req)
				if err != nil {
					got <- "error"
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got <- string(body)
			}()
			time.Sleep(200 * time.Millisecond) // the request waits on a
			setReady(b, true)
			update(t, cs, b)
			if err := cs.CoreV1().Pods(testNS).Delete(context.Background(), "a", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{http.MethodGet: "b", http.MethodPost: "error"}[method]
			select {
			case s := <-got:
				if s != want {
					t.Errorf("%s = %q, want %q", method, s, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s never ended", method)
			}
		})
	}
}

// A pod whose connection accepts no stream holds a new connection only until
// the port moves to another pod, or for streamWait; Ctrl-C is not held up.
func TestForwarderStuckPod(t *testing.T) {
	fp := newFakePods(t, "a", "b")
	fp.stuck = map[string]bool{"a": true}
	a, b := pod("a", 1, true, port("http", testPort)), pod("b", 2, false, port("http", testPort))
	cs := fake.NewClientset(a, b)
	_, m, _ := startForwarder(t, cs, fp)
	got := make(chan string, 1)
	go func() {
		body, err := get(m, 5*time.Second)
		got <- fmt.Sprint(body, err)
	}()
	time.Sleep(200 * time.Millisecond)
	setReady(b, true)
	update(t, cs, b)
	select {
	case s := <-got:
		if s != "b<nil>" {
			t.Errorf("GET = %s, want b once b is Ready", s)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the connection stayed with the stuck pod after the port moved")
	}

	// b is stuck too, and nothing moves: a connection waits on it, and
	// cancelling still ends Run at once.
	fp.mu.Lock()
	fp.stuck["b"] = true
	fp.mu.Unlock()
	ready := make(chan []Mapping, 1)
	f := New(nil, fake.NewClientset(pod("b", 2, true, port("http", testPort+2))), testNS, "app.kubernetes.io/instance=web",
		WithHosts("127.0.0.1"), WithReady(func(m []Mapping) { ready <- m }))
	f.dial = fp.dial
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	m2 := (<-ready)[0]
	conn, err := net.Dial("tcp", strings.TrimPrefix(m2.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.0\r\n\r\n")
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case <-done:
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("Run took %s to end with a connection stuck on its pod", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not end with a connection stuck on its pod")
	}
}

func TestForwarderNoPods(t *testing.T) {
	f := New(nil, fake.NewClientset(), testNS, "app.kubernetes.io/instance=web")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.Run(ctx); !errors.Is(err, kube.ErrNoPods) {
		t.Fatalf("Run = %v, want kube.ErrNoPods", err)
	}
}

func TestForwarderOverrideTaken(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	local := busy.Addr().(*net.TCPAddr).Port
	cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)))
	f := New(nil, cs, testNS, "app.kubernetes.io/instance=web", WithHosts("127.0.0.1"), WithOverrides(Mapping{Local: local, Remote: testPort}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.Run(ctx); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Run = %v, want the port in use", err)
	}
}

// Cancelling ends Run promptly, with open and held connections, and leaves
// no goroutine behind.
func TestForwarderCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	fp := newFakePods(t, "a")
	cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)), pod("b", 2, false, port("other", testPort+1)))
	ready := make(chan []Mapping, 1)
	f := New(nil, cs, testNS, "app.kubernetes.io/instance=web", WithHosts("127.0.0.1"), WithReady(func(m []Mapping) { ready <- m }))
	f.dial = fp.dial
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	ms := <-ready
	eventually(t, ms[0], "a")
	// An idle open connection, and one held (no Ready pod for port+1).
	idle, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ms[0].Local))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	heldConn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ms[1].Local))
	if err != nil {
		t.Fatal(err)
	}
	defer heldConn.Close()
	time.Sleep(50 * time.Millisecond)

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Run took %s to stop", d)
	}
	if _, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ms[0].Local)); err == nil {
		t.Error("the listener is still open")
	}
	for _, c := range []net.Conn{idle, heldConn} {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, errTimeout(err)) {
			t.Errorf("a connection was left open: %v", err)
		}
	}
	fp.server("a").CloseClientConnections()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// errTimeout returns err when it is a timeout, so that errors.Is matches it.
func errTimeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return errors.New("not a timeout")
}

// Connections held while no pod is Ready reach the next one at most
// maxOpening at a time, the next as soon as one is answered: all at once,
// they would overflow the accept queue of an app with a short backlog
// (Python's http.server: 5), whose kernel then drops them for a second.
func TestForwarderPacesHeldConnections(t *testing.T) {
	fp := newFakePods(t)
	var inApp, most atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inApp.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		inApp.Add(-1)
		fmt.Fprint(w, "a")
	}))
	t.Cleanup(srv.Close)
	fp.servers["a"] = srv
	a := pod("a", 1, false, port("http", testPort))
	cs := fake.NewClientset(a)
	_, m, _ := startForwarder(t, cs, fp)

	const held = 20
	errs := make(chan error, held)
	for range held {
		go func() {
			body, err := get(m, 5*time.Second)
			if err == nil && body != "a" {
				err = fmt.Errorf("body %q", body)
			}
			errs <- err
		}()
	}
	time.Sleep(200 * time.Millisecond)
	setReady(a, true)
	update(t, cs, a)
	start := time.Now()
	for range held {
		if err := <-errs; err != nil {
			t.Errorf("held connection: %v", err)
		}
	}
	if got := most.Load(); got > maxOpening {
		t.Errorf("%d connections reached the app at once, want at most %d", got, maxOpening)
	}
	// 20 connections, 4 at a time, 20 ms each: about 100 ms.
	t.Logf("answered in %s, at most %d at once in the app", time.Since(start), most.Load())
	if d := time.Since(start); d > time.Second {
		t.Errorf("the held connections took %s to be answered", d)
	}
}

// An override for a pod port the pods do not declare is forwarded, with a
// warning that names the ports they do declare.
func TestForwarderWarnsOfUndeclaredOverride(t *testing.T) {
	cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)))
	var mu sync.Mutex
	var warnings []string
	ready := make(chan []Mapping, 1)
	f := New(nil, cs, testNS, "app.kubernetes.io/instance=web", WithHosts("127.0.0.1"),
		WithOverrides(Mapping{Local: 0, Remote: 9999}, Mapping{Local: 0, Remote: testPort}),
		WithReady(func(m []Mapping) { ready <- m }),
		WithEvents(func(e Event) {
			if e.Kind == "warning" {
				mu.Lock()
				warnings = append(warnings, e.Message)
				mu.Unlock()
			}
		}))
	f.dial = newFakePods(t, "a").dial
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var ms []Mapping
	select {
	case ms = <-ready:
	case err := <-done:
		t.Fatalf("Run = %v", err)
	}
	cancel()
	<-done
	if len(ms) != 2 {
		t.Errorf("forwarded %v, want the declared port and 9999", ms)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) != 1 || !strings.Contains(warnings[0], "declare no port 9999 (they declare "+strconv.Itoa(testPort)+")") {
		t.Errorf("warnings %q, want one on port 9999", warnings)
	}
}

func TestWithDialer(t *testing.T) {
	called := ""
	d := func(_ context.Context, pod *corev1.Pod) (httpstream.Connection, error) {
		called = pod.Name
		return nil, errors.New("no")
	}
	f := New(nil, nil, "dev", "app=x", WithDialer(d))
	if _, err := f.dial(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p1"}}); err == nil || called != "p1" {
		t.Errorf("the dialer given was not used: %v, %q", err, called)
	}
	if g := New(nil, nil, "dev", "app=x", WithDialer(nil)); g.dial == nil {
		t.Error("WithDialer(nil) left no dialer")
	}
}

// A GET whose connection the app closed unanswered because it was
// restarted in its pod (live update: WithRestarts says so) is sent again
// to the same pod, and answered there; without a restart it fails, as an
// app's own close must.
func TestForwarderReplaysGetCutByRestart(t *testing.T) {
	for _, restarted := range []bool{true, false} {
		t.Run(fmt.Sprint("restarted=", restarted), func(t *testing.T) {
			fp := &fakePods{servers: map[string]*httptest.Server{}}
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 { // the app killed mid-request: the connection closed, no answer
					conn, _, _ := w.(http.Hijacker).Hijack()
					conn.Close()
					return
				}
				fmt.Fprint(w, "a after its restart")
			}))
			t.Cleanup(srv.Close)
			fp.servers["a"] = srv
			cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)))
			var asked atomic.Value
			_, m, _ := startForwarder(t, cs, fp, WithRestarts(func(pod string, since time.Time) bool {
				asked.Store(pod)
				return restarted && time.Since(since) < 5*time.Second
			}))
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := c.Get(m.URL())
			if !restarted {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("a GET the app closed unanswered, with no restart, was answered (%d)", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("a GET cut by the app's restart: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "a after its restart" || calls.Load() != 2 || asked.Load() != "a" {
				t.Errorf("answer %q after %d requests (asked of %v), want the restarted app's after 2", body, calls.Load(), asked.Load())
			}
		})
	}
}

// A GET held by an app that is restarted meanwhile, whose stream the
// runtime does not end at once: the attempt is ended as soon as the restart
// is known, and the request sent again and answered.
func TestForwarderCutsGetHeldByRestartedApp(t *testing.T) {
	fp := &fakePods{servers: map[string]*httptest.Server{}}
	var calls atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			<-release // the old app: killed, its connection not closed yet
			return
		}
		fmt.Fprint(w, "restarted")
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	fp.servers["a"] = srv
	cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)))
	var restartAt atomic.Int64 // unix nanos of the restart, 0 before
	_, m, _ := startForwarder(t, cs, fp, WithRestarts(func(pod string, since time.Time) bool {
		at := restartAt.Load()
		return at != 0 && time.Unix(0, at).After(since)
	}))
	go func() {
		for calls.Load() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		restartAt.Store(time.Now().UnixNano())
	}()
	// (the old app never answers: without the cut the client times out)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(m.URL())
	if err != nil {
		t.Fatalf("a GET held by a restarted app: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "restarted" {
		t.Errorf("answer %q, want the restarted app's", body)
	}
}
