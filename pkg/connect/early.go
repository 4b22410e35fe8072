package connect

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/draftk8s/draft/pkg/kube"
)

// Kubernetes marks a new pod Ready late. The kubelet learns that a container
// runs only when it next lists the runtime's containers (once a second), and
// probes its readiness only then: the app has often been answering for most
// of that second when the pod turns Ready. So, for a pod that is not Ready
// yet, the Forwarder runs the pod's own readiness checks itself, through its
// portforward connection, every checkEvery; once all of them pass, the pod
// takes new connections as though it were Ready, as it will be when
// Kubernetes catches up. Only checks that can be run here as the kubelet runs
// them are: a tcpSocket or an http httpGet readiness probe without a host or
// an initial delay, or no readiness probe on a container that declares a TCP
// port (which must then accept connections). A pod with another kind of
// probe, or with a startup probe, waits for Kubernetes.

const (
	// checkEvery is how often a pod that is not Ready is checked, for its
	// first checkFast; then every checkSlow (an app that does not start).
	checkEvery = 50 * time.Millisecond
	checkFast  = 10 * time.Second
	checkSlow  = 500 * time.Millisecond
	// tcpGrace is how long a tcp check waits for the runtime to say that it
	// could not connect; a refused connection is told at once.
	tcpGrace = 150 * time.Millisecond
)

// check is one readiness check of a pod: a port that must accept a
// connection, or answer an HTTP GET of path with a status below 400.
type check struct {
	port    int
	http    bool
	path    string
	headers []corev1.HTTPHeader
	timeout time.Duration
	passes  int // how many passes in a row make it pass (the probe's successThreshold)
}

// readinessChecks returns what makes p Ready, as checks that the Forwarder can
// run, or nil when it cannot run them all (see above).
func readinessChecks(p *corev1.Pod) []check {
	var out []check
	for _, c := range p.Spec.Containers {
		if c.StartupProbe != nil {
			return nil
		}
		rp := c.ReadinessProbe
		if rp == nil {
			port := 0
			for _, cp := range c.Ports {
				if cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP {
					port = int(cp.ContainerPort)
					break
				}
			}
			if port == 0 {
				return nil // nothing tells that it runs
			}
			out = append(out, check{port: port, timeout: time.Second, passes: 1})
			continue
		}
		if rp.InitialDelaySeconds > 0 {
			return nil
		}
		timeout := time.Duration(max(rp.TimeoutSeconds, 1)) * time.Second
		passes := int(max(rp.SuccessThreshold, 1))
		switch {
		case rp.TCPSocket != nil && rp.TCPSocket.Host == "":
			port := containerPort(c, rp.TCPSocket.Port)
			if port == 0 {
				return nil
			}
			out = append(out, check{port: port, timeout: timeout, passes: passes})
		case rp.HTTPGet != nil && rp.HTTPGet.Host == "" && (rp.HTTPGet.Scheme == "" || rp.HTTPGet.Scheme == corev1.URISchemeHTTP):
			port := containerPort(c, rp.HTTPGet.Port)
			if port == 0 {
				return nil
			}
			path := rp.HTTPGet.Path
			if !strings.HasPrefix(path, "/") {
				path = "/" + path
			}
			out = append(out, check{port: port, http: true, path: path, headers: rp.HTTPGet.HTTPHeaders, timeout: timeout, passes: passes})
		default:
			return nil
		}
	}
	return out
}

// mostPasses is how many rounds in a row all checks must pass: the highest
// successThreshold of the pod's probes (Kubernetes counts each probe's own
// passes; with one probe a container, as is usual, that is the same).
func mostPasses(checks []check) int {
	n := 1
	for _, c := range checks {
		n = max(n, c.passes)
	}
	return n
}

// containerPort resolves a probe's port, a number or the name of one of the
// container's ports; 0 when it cannot.
func containerPort(c corev1.Container, port intstr.IntOrString) int {
	if port.Type == intstr.Int {
		return port.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == port.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return 0
}

// isEarly reports whether p passed all its readiness checks here, last time.
func (f *Forwarder) isEarly(p *corev1.Pod) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.early[p.UID]
}

// setEarly records the outcome of p's checks; a change moves the ports.
func (f *Forwarder) setEarly(ctx context.Context, uid types.UID, ok bool) {
	f.mu.Lock()
	changed := f.early[uid] != ok
	if ok {
		f.early[uid] = true
	} else {
		delete(f.early, uid)
	}
	f.mu.Unlock()
	if changed {
		f.pods.Notify()
		f.retarget(ctx, f.pods)
	}
}

// startChecks checks the pods that are not Ready yet but may be the next
// target: not being deleted, and newer than every Ready pod.
// Called by retarget.
func (f *Forwarder) startChecks(ctx context.Context, all []*corev1.Pod) {
	var newest *corev1.Pod
	for _, p := range all {
		if serving(p) && (newest == nil || kube.Newer(p, newest)) {
			newest = p
		}
	}
	for _, p := range all {
		if p.DeletionTimestamp != nil || serving(p) || (newest != nil && !kube.Newer(p, newest)) {
			continue
		}
		if readinessChecks(p) == nil {
			// Kubernetes alone says when it is Ready; when it runs, dial it
			// now, so that its first connection does not wait for the dial.
			if p.Status.Phase == corev1.PodRunning {
				f.mu.Lock()
				_, dialled := f.conns[p.UID]
				f.mu.Unlock()
				if !dialled {
					go func() { _, _ = f.podConn(ctx, p) }()
				}
			}
			continue
		}
		f.mu.Lock()
		running := f.checking[p.UID]
		f.checking[p.UID] = true
		f.mu.Unlock()
		if !running {
			go f.checkUntilReady(ctx, p.UID)
		}
	}
}

// checkUntilReady runs the readiness checks of a pod until Kubernetes marks
// it Ready or it goes.
func (f *Forwarder) checkUntilReady(ctx context.Context, uid types.UID) {
	defer func() {
		f.mu.Lock()
		delete(f.checking, uid)
		delete(f.early, uid)
		f.mu.Unlock()
	}()
	began := time.Now()
	passed := 0 // rounds in a row that all checks passed
	for {
		all, changed := f.pods.Pods()
		var p *corev1.Pod
		for _, q := range all {
			if q.UID == uid {
				p = q
			}
		}
		if p == nil || p.DeletionTimestamp != nil || serving(p) || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return
		}
		checks := readinessChecks(p)
		if checks == nil {
			return
		}
		wait := changed
		if p.Spec.NodeName != "" { // scheduled: it may have a sandbox to forward to
			if f.runChecks(ctx, p, checks) {
				passed++
			} else {
				passed = 0
			}
			f.setEarly(ctx, uid, passed >= mostPasses(checks))
			wait = nil
		}
		every := checkEvery
		if time.Since(began) > checkFast {
			every = checkSlow
		}
		select {
		case <-ctx.Done():
			return
		case <-wait:
		case <-time.After(every):
		}
	}
}

// runChecks reports whether all of p's checks pass now.
func (f *Forwarder) runChecks(ctx context.Context, p *corev1.Pod, checks []check) bool {
	pc, err := f.podConn(ctx, p)
	if err != nil {
		return false // no sandbox yet, most likely
	}
	for _, c := range checks {
		if !f.runCheck(ctx, pc, p, c) {
			return false
		}
	}
	return true
}

// runCheck runs one check through pc: first whether the port accepts a
// connection, then, for an http check, the GET. Nothing is written to a
// connection before the port is known to accept: the bytes of a connection
// the runtime could not make are never read on its side, and they hold up
// one of the few workers that serve all the streams of pc (every connection
// to the pod then waits, some forever).
func (f *Forwarder) runCheck(ctx context.Context, pc *podConn, p *corev1.Pod, c check) bool {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if !f.accepts(ctx, pc, c.port) {
		return false
	}
	if !c.http {
		return true
	}
	return f.answers(ctx, pc, p, c)
}

// checkStreams opens the streams of one check's connection; the channel
// receives what the error stream said once it ends: the runtime writes on it
// when it could not connect, and closes it, empty, when the connection it
// made has ended. done closes the streams.
func (f *Forwarder) checkStreams(ctx context.Context, pc *podConn, port int) (data httpstream.Stream, errc <-chan string, done func(), err error) {
	data, errStream, err := pc.open(ctx, port, f.requestIDs.Add(1), nil, func() { f.forgetConn(pc) })
	if err != nil {
		return nil, nil, nil, err
	}
	ch := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(errStream)
		ch <- strings.TrimSpace(string(b))
	}()
	return data, ch, func() {
		_ = data.Reset()
		_ = errStream.Reset()
		pc.conn.RemoveStreams(data, errStream)
	}, nil
}

// accepts reports whether the pod's port accepts a connection: one that
// says nothing and ends at once.
func (f *Forwarder) accepts(ctx context.Context, pc *podConn, port int) bool {
	data, errc, done, err := f.checkStreams(ctx, pc, port)
	if err != nil {
		return false
	}
	defer done()
	_ = data.Close() // half-close: the app sees the end of a connection that says nothing
	select {
	case msg := <-errc:
		return msg == ""
	case <-time.After(tcpGrace):
		return true // connected: a refusal would have been told
	case <-ctx.Done():
		return false
	}
}

// answers reports whether an HTTP GET of c.path on the pod's port is
// answered with a status below 400, as the kubelet's httpGet probe asks.
func (f *Forwarder) answers(ctx context.Context, pc *podConn, p *corev1.Pod, c check) bool {
	data, errc, done, err := f.checkStreams(ctx, pc, c.port)
	if err != nil {
		return false
	}
	defer done()
	answer := make(chan bool, 1)
	go func() {
		host := "localhost"
		if p.Status.PodIP != "" {
			host = p.Status.PodIP
		}
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s:%d%s", host, c.port, c.path), nil)
		if err != nil {
			answer <- false
			return
		}
		req.Header.Set("User-Agent", "draft-connect")
		for _, h := range c.headers {
			if strings.EqualFold(h.Name, "Host") {
				req.Host = h.Value
			} else {
				req.Header.Add(h.Name, h.Value)
			}
		}
		req.Close = true
		if err := req.Write(data); err != nil {
			answer <- false
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(data), req)
		if err != nil {
			answer <- false
			return
		}
		resp.Body.Close()
		answer <- resp.StatusCode >= 200 && resp.StatusCode < 400
	}()
	for {
		select {
		case ok := <-answer:
			return ok
		case msg := <-errc:
			if msg != "" {
				return false
			}
			errc = nil
		case <-ctx.Done():
			return false
		}
	}
}
