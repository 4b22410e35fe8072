package connect

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
)

// scheduled is p on a node, not Ready, with the given readiness probe.
func scheduled(p *corev1.Pod, probe *corev1.Probe) *corev1.Pod {
	p.Spec.NodeName = "node"
	p.Spec.Containers[0].ReadinessProbe = probe
	setReady(p, false)
	p.Status.Phase = corev1.PodPending // the kubelet has not said that it runs
	return p
}

func tcpProbe(port string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(port)}}, PeriodSeconds: 1}
}

func httpProbe(path string, port int) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(int32(port))}}, PeriodSeconds: 1}
}

func TestReadinessChecks(t *testing.T) {
	withProbe := func(probe *corev1.Probe, ports ...corev1.ContainerPort) *corev1.Pod {
		p := pod("p", 1, false, ports...)
		p.Spec.Containers[0].ReadinessProbe = probe
		return p
	}
	exec := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
	delayed := tcpProbe("http")
	delayed.InitialDelaySeconds = 5
	https := httpProbe("/", 8443)
	https.HTTPGet.Scheme = corev1.URISchemeHTTPS
	otherHost := tcpProbe("http")
	otherHost.TCPSocket.Host = "db"
	startup := withProbe(tcpProbe("http"), port("http", 8080))
	startup.Spec.Containers[0].StartupProbe = tcpProbe("http")
	sidecar := withProbe(nil, port("http", 8080))
	sidecar.Spec.Containers = append(sidecar.Spec.Containers, corev1.Container{Name: "sidecar"})
	timeout := httpProbe("health", 8080)
	timeout.TimeoutSeconds = 3
	twice := tcpProbe("http")
	twice.SuccessThreshold = 2

	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"tcp probe on a named port", withProbe(tcpProbe("http"), port("http", 8080)), "[tcp 8080 1s]"},
		{"two passes in a row", withProbe(twice, port("http", 8080)), "[tcp 8080 1s x2]"},
		{"http probe", withProbe(timeout, port("http", 8080)), "[http 8080 /health 3s]"},
		{"no probe: the first TCP port", withProbe(nil, port("metrics", 9090), port("http", 8080)), "[tcp 9090 1s]"},
		{"no probe, no port", withProbe(nil), "none"},
		{"unknown port name", withProbe(tcpProbe("web"), port("http", 8080)), "none"},
		{"exec probe", withProbe(exec, port("http", 8080)), "none"},
		{"initial delay", withProbe(delayed, port("http", 8080)), "none"},
		{"https", withProbe(https, port("https", 8443)), "none"},
		{"another host", withProbe(otherHost, port("http", 8080)), "none"},
		{"startup probe", startup, "none"},
		{"a container that nothing checks", sidecar, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checks := readinessChecks(tt.pod)
			got := "none"
			if checks != nil {
				var parts []string
				for _, c := range checks {
					part := fmt.Sprintf("tcp %d %s", c.port, c.timeout)
					if c.http {
						part = fmt.Sprintf("http %d %s %s", c.port, c.path, c.timeout)
					}
					if c.passes > 1 {
						part += fmt.Sprintf(" x%d", c.passes)
					}
					parts = append(parts, part)
				}
				got = "[" + strings.Join(parts, ", ") + "]"
			}
			if got != tt.want {
				t.Errorf("checks = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestStartsHTTPRequest(t *testing.T) {
	for in, want := range map[string]bool{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n":     true,
		"POST /api HTTP/1.0\r\n":                true,
		"DELETE /x?y=1 HTTP/1.1\r\nHost: a\r\n": true,
		"GET / HTTP/1.1":                        false, // no end of line yet
		"GET / HTTP/2.0\r\n":                    false,
		"get / HTTP/1.1\r\n":                    false,
		"BREW /pot HTTP/1.1\r\n":                false,
		"GET  HTTP/1.1\r\n":                     false,
		"\x81\x05hello":                         false, // a websocket frame
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n":      false, // HTTP/2's preface
		"{\"json\": \"GET / HTTP/1.1\"}\r\n":    false,
		"":                                      false,
	} {
		if got := startsHTTPRequest([]byte(in)); got != want {
			t.Errorf("startsHTTPRequest(%q) = %v, want %v", in, got, want)
		}
	}
}

// A new pod whose readiness checks pass here takes new connections before
// Kubernetes marks it Ready; until its port accepts, the old pod keeps them.
func TestForwarderEarlyTCP(t *testing.T) {
	fp := newFakePods(t, "a", "b")
	fp.setDown("b", true)
	cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)))
	var events []Event
	var mu sync.Mutex
	_, m, _ := startForwarder(t, cs, fp, WithEvents(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }))
	eventually(t, m, "a")

	create(t, cs, scheduled(pod("b", 2, false, port("http", testPort)), tcpProbe("http")))
	for range 5 { // b is checked, but refuses: a answers
		time.Sleep(3 * checkEvery)
		if got, err := get(m, 2*time.Second); err != nil || got != "a" {
			t.Fatalf("while b refuses: %q, %v", got, err)
		}
	}
	fp.setDown("b", false)
	if d := eventually(t, m, "b"); d > time.Second {
		t.Errorf("took %s to move to b once its port accepted", d)
	}
	for range 5 {
		if got, err := get(m, 2*time.Second); err != nil || got != "b" {
			t.Fatalf("after the move to b: %q, %v", got, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind+":"+e.Pod)
	}
	if got := strings.Join(kinds, " "); got != "target:a target:b" {
		t.Errorf("events = %s, want target:a target:b", got)
	}
}

// A probe's successThreshold counts: the pod takes connections once its
// checks have passed that many times in a row.
func TestForwarderEarlySuccessThreshold(t *testing.T) {
	fp := newFakePods(t, "a", "b")
	fp.setDown("b", true)
	cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)))
	_, m, _ := startForwarder(t, cs, fp)
	eventually(t, m, "a")
	probe := tcpProbe("http")
	probe.SuccessThreshold = 3
	create(t, cs, scheduled(pod("b", 2, false, port("http", testPort)), probe))
	time.Sleep(3 * checkEvery)
	fp.setDown("b", false)
	eventually(t, m, "b")
	// Three checks, then the GET that b answered.
	if n := fp.acceptedBy("b"); n < 4 {
		t.Errorf("b took connections after %d accepted ones, want 3 checks first", n-1)
	}
}

// An httpGet probe is run as the kubelet runs it: a status below 400 passes.
func TestForwarderEarlyHTTP(t *testing.T) {
	fp := newFakePods(t, "a")
	var healthy atomic.Bool
	var checks atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			checks.Add(1)
			if r.Header.Get("X-Probe") != "draft" {
				w.WriteHeader(http.StatusBadRequest)
			} else if !healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		fmt.Fprint(w, "b")
	}))
	t.Cleanup(srv.Close)
	fp.servers["b"] = srv
	cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)))
	_, m, _ := startForwarder(t, cs, fp)
	eventually(t, m, "a")

	probe := httpProbe("healthz", testPort)
	probe.HTTPGet.HTTPHeaders = []corev1.HTTPHeader{{Name: "X-Probe", Value: "draft"}}
	create(t, cs, scheduled(pod("b", 2, false, port("http", testPort)), probe))
	deadline := time.Now().Add(5 * time.Second)
	for checks.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if checks.Load() < 3 {
		t.Fatalf("b was checked %d times, want its probe run every %s", checks.Load(), checkEvery)
	}
	if got, err := get(m, 2*time.Second); err != nil || got != "a" {
		t.Fatalf("while b answers 503: %q, %v", got, err)
	}
	healthy.Store(true)
	eventually(t, m, "b")
}

// An http check writes nothing to a connection the pod refused (bytes that
// the runtime never reads hold up the pod's whole connection): once the app
// listens, the pod takes connections at once.
func TestForwarderEarlyHTTPWhileStarting(t *testing.T) {
	fp := newFakePods(t, "a", "b")
	fp.stickOnWrite = true
	fp.setDown("b", true)
	cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)))
	_, m, _ := startForwarder(t, cs, fp)
	eventually(t, m, "a")
	create(t, cs, scheduled(pod("b", 2, false, port("http", testPort)), httpProbe("/", testPort)))
	time.Sleep(10 * checkEvery) // b is checked while its app does not listen
	fp.setDown("b", false)
	if d := eventually(t, m, "b"); d > time.Second {
		t.Errorf("took %s to move to b once its app listened", d)
	}
	if n := fp.stuckConns.Load(); n > 0 {
		t.Errorf("checks wrote to %d connections that b refused", n)
	}
}

// A connection that the app refused after the client's bytes were written
// to it (the app restarts) leaves the pod's connection stuck on the
// runtime's side: the next connections dial a fresh one.
func TestForwarderRedialsAfterRefusedWrite(t *testing.T) {
	fp := newFakePods(t, "a")
	fp.stickOnWrite = true
	cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)))
	_, m, _ := startForwarder(t, cs, fp)
	eventually(t, m, "a")
	fp.setDown("a", true) // the app restarts; Kubernetes has not noticed
	if got, err := get(m, 3*time.Second); err == nil {
		t.Fatalf("GET while the app is down = %q", got)
	}
	if fp.stuckConns.Load() == 0 {
		t.Fatal("the fake did not stick: the test proves nothing")
	}
	fp.setDown("a", false)
	if d := eventually(t, m, "a"); d > time.Second {
		t.Errorf("took %s to answer once the app was back", d)
	}
}

// A pod whose readiness connect cannot check (an exec probe) waits for
// Kubernetes.
func TestForwarderNoEarlyForExecProbe(t *testing.T) {
	fp := newFakePods(t, "a", "b")
	cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)))
	_, m, _ := startForwarder(t, cs, fp)
	eventually(t, m, "a")
	exec := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"ready"}}}}
	b := scheduled(pod("b", 2, false, port("http", testPort)), exec)
	b.Status.Phase = corev1.PodRunning
	create(t, cs, b)
	time.Sleep(10 * checkEvery)
	if got, err := get(m, 2*time.Second); err != nil || got != "a" {
		t.Fatalf("before b is Ready: %q, %v", got, err)
	}
	setReady(b, true)
	update(t, cs, b)
	eventually(t, m, "b")
}

// A pod that passed its checks and then stops taking connections loses them
// again: a connection it refuses is sent to the old pod.
func TestForwarderEarlyPodThatFails(t *testing.T) {
	fp := newFakePods(t, "a", "b")
	cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)))
	_, m, _ := startForwarder(t, cs, fp)
	eventually(t, m, "a")
	create(t, cs, scheduled(pod("b", 2, false, port("http", testPort)), tcpProbe("http")))
	eventually(t, m, "b")
	fp.setDown("b", true) // b's app crashed
	for range 10 {
		if got, err := get(m, 2*time.Second); err != nil || got != "a" {
			t.Fatalf("after b's app went: %q, %v", got, err)
		}
	}
}

// A keep-alive HTTP connection to the old pod carries its next request to
// the new target: a browser or a client's pool does not keep seeing the
// old version until the old pod dies.
func TestForwarderMovesKeepAliveConnection(t *testing.T) {
	fp := newFakePods(t, "a", "b")
	a := pod("a", 1, true, port("http", testPort))
	cs := fake.NewClientset(a)
	_, m, _ := startForwarder(t, cs, fp)
	var dials atomic.Int32
	client := &http.Client{Timeout: 2 * time.Second}
	getReused := func() (string, bool) {
		t.Helper()
		reused := false
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) {
				reused = i.Reused
				if !i.Reused {
					dials.Add(1)
				}
			},
		})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL(), nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b), reused
	}
	for range 3 {
		if got, _ := getReused(); got != "a" {
			t.Fatalf("GET = %q, want a", got)
		}
	}
	b := pod("b", 2, true, port("http", testPort))
	create(t, cs, b)
	deadline := time.Now().Add(2 * time.Second)
	got, reused := getReused()
	for got != "b" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		got, reused = getReused()
	}
	if got != "b" || !reused {
		t.Fatalf("GET = %q (connection reused: %v), want b on the kept-alive connection", got, reused)
	}
	for range 3 {
		if got, _ := getReused(); got != "b" {
			t.Fatalf("GET after the move = %q, want b", got)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("the client opened %d connections, want 1", n)
	}
}

// A pod's app that stops closes a connection unanswered a moment before the
// API says that the pod is going: the GET is sent to the new target.
func TestForwarderReplaysWhenTheAPILags(t *testing.T) {
	fp := newFakePods(t, "b")
	closed := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // the app stops: no answer
		}
		select {
		case closed <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(srv.Close)
	fp.servers["a"] = srv
	a, b := pod("a", 1, true, port("http", testPort)), pod("b", 2, false, port("http", testPort))
	cs := fake.NewClientset(a, b)
	_, m, _ := startForwarder(t, cs, fp)
	go func() {
		<-closed
		time.Sleep(100 * time.Millisecond) // the API catches up
		bb := b.DeepCopy()
		setReady(bb, true)
		for _, p := range []*corev1.Pod{deleting(a.DeepCopy()), bb} {
			if _, err := cs.CoreV1().Pods(testNS).Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
				t.Error(err)
			}
		}
	}()
	if got, err := get(m, 5*time.Second); err != nil || got != "b" {
		t.Fatalf("GET while a's app stopped = %q, %v; want b", got, err)
	}
}
