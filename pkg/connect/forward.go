package connect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/draftk8s/draft/pkg/kube"
)

// Event is something a Forwarder wants the user to know, for stderr: which
// pod the forward goes to, a held or dropped connection, a release without
// pods.
type Event struct {
	Time    time.Time
	Kind    string // target, waiting, retry, error, vacant
	Pod     string
	Message string
}

// Forwarder forwards local ports to the current pods of a selector.
type Forwarder struct {
	client     kubernetes.Interface
	namespace  string
	selector   string
	o          options
	dial       func(ctx context.Context, pod *corev1.Pod) (httpstream.Connection, error)
	requestIDs atomic.Int64

	mu       sync.Mutex
	mappings []Mapping
	conns    map[types.UID]*podConn
	target   map[int]string     // the pod each port went to last, for events
	pods     *kube.PodWatch     // set by Run before anything listens
	early    map[types.UID]bool // pods not Ready that passed their checks (early.go)
	checking map[types.UID]bool // pods whose checks run

	retargetMu sync.Mutex // one retarget at a time, so that its events come in order
}

// Option configures a Forwarder.
type Option func(*options)

type options struct {
	overrides []Mapping
	hold      time.Duration
	events    func(Event)
	ready     func([]Mapping)
	hosts     []string
	dialWait  time.Duration
	vacancy   time.Duration // how long no pod lasts before the workloads are looked for
	stopGone  bool
	dial      Dialer // nil: the API server's portforward subresource
	restarted func(pod string, since time.Time) bool
}

// Dialer opens a port-forward connection to a pod.
type Dialer func(ctx context.Context, pod *corev1.Pod) (httpstream.Connection, error)

// WithDialer sets how pods are dialled (default: the API server's
// portforward subresource, with the config New is given); a nil d keeps it.
func WithDialer(d Dialer) Option { return func(o *options) { o.dial = d } }

// WithStopWhenGone makes Run return kube.ErrGone when the release is deleted (no
// pod and no workload left); without it Run waits for pods to come back, as
// watch mode wants (its next redeploy makes them). Either way it says when
// the workloads are scaled to zero.
func WithStopWhenGone() Option { return func(o *options) { o.stopGone = true } }

// WithOverrides sets local ports for pod ports (LOCAL:REMOTE), and adds pod
// ports that the pods do not declare. An override's local port must be free.
func WithOverrides(m ...Mapping) Option {
	return func(o *options) { o.overrides = append(o.overrides, m...) }
}

// WithHold sets how long a new connection waits for a Ready pod before it
// is closed (default 30 s).
func WithHold(d time.Duration) Option { return func(o *options) { o.hold = d } }

// WithEvents receives what the Forwarder has to say (for stderr).
func WithEvents(f func(Event)) Option { return func(o *options) { o.events = f } }

// WithReady is called once, when the local ports listen, with the mappings.
func WithReady(f func([]Mapping)) Option { return func(o *options) { o.ready = f } }

// WithRestarts tells the Forwarder when the app in a pod was restarted in
// its container (watch mode's live update restarts it): restarted reports
// whether that happened after since, or is happening. A safe request (GET,
// HEAD, OPTIONS) whose connection the app closed unanswered then is sent
// again to the pod, once its app listens again, instead of failing.
func WithRestarts(restarted func(pod string, since time.Time) bool) Option {
	return func(o *options) { o.restarted = restarted }
}

// WithHosts sets the local addresses to listen on; the first must work, the
// others are used when they can (default 127.0.0.1, then ::1).
func WithHosts(hosts ...string) Option { return func(o *options) { o.hosts = hosts } }

// New returns a Forwarder for the pods that selector matches in namespace.
// cfg is what the pods' portforward subresource is dialled with.
func New(cfg *rest.Config, client kubernetes.Interface, namespace, selector string, opts ...Option) *Forwarder {
	f := &Forwarder{
		client: client, namespace: namespace, selector: selector,
		o:        options{hold: 30 * time.Second, hosts: []string{"127.0.0.1", "::1"}, dialWait: 10 * time.Second, vacancy: kube.VacancyDelay},
		conns:    map[types.UID]*podConn{},
		target:   map[int]string{},
		early:    map[types.UID]bool{},
		checking: map[types.UID]bool{},
	}
	for _, opt := range opts {
		opt(&f.o)
	}
	f.dial = f.o.dial
	if f.dial == nil {
		f.dial = func(ctx context.Context, pod *corev1.Pod) (httpstream.Connection, error) {
			return kube.DialPod(ctx, cfg, client, pod)
		}
	}
	return f
}

// Ports returns the forwarded ports once they listen (nil before).
func (f *Forwarder) Ports() []Mapping {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Mapping(nil), f.mappings...)
}

func (f *Forwarder) emit(kind, pod, format string, a ...any) {
	if f.o.events != nil {
		f.o.events(Event{Time: time.Now(), Kind: kind, Pod: pod, Message: fmt.Sprintf(format, a...)})
	}
}

// undeclared warns of the overrides for pod ports that the pods do not
// declare, when they declare some: a typo, most likely (the app may still
// listen there: it is forwarded all the same, as kubectl port-forward does).
func (f *Forwarder) undeclared(declared []Mapping) {
	if len(declared) == 0 {
		return // an override is the only way to name the port
	}
	var have []string
	known := map[int]bool{}
	for _, d := range declared {
		known[d.Remote] = true
		have = append(have, strconv.Itoa(d.Remote))
	}
	for _, o := range f.o.overrides {
		if !known[o.Remote] {
			f.emit("warning", "", "the pods declare no port %d (they declare %s): forwarding %d:%d anyway, connections fail unless the app listens there", o.Remote, strings.Join(have, ", "), o.Local, o.Remote)
		}
	}
}

// Run listens on the local ports and forwards until ctx ends, then closes
// the listeners and every connection and returns nil. It fails at once when
// the selector matches no pod (kube.ErrNoPods) or a local port cannot be had.
// A Forwarder runs once.
func (f *Forwarder) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pods := kube.NewPodWatch(f.client, f.namespace, f.selector)
	f.pods = pods
	pods.On(kube.PodHandler{
		Add:    func(*corev1.Pod, bool) { f.retarget(ctx, pods) },
		Update: func(*corev1.Pod) { f.retarget(ctx, pods) },
		Remove: func(p *corev1.Pod) { f.forget(p.UID); f.retarget(ctx, pods) },
	})
	informerDone, err := pods.Start(ctx)
	defer func() { cancel(); <-informerDone }()
	if err != nil {
		return err
	}
	all, _ := pods.Pods()
	if len(all) == 0 {
		return kube.ErrNoPods
	}
	declared := podPorts(kube.Live(all))
	ports, fixed := plan(declared, f.o.overrides)
	if len(ports) == 0 {
		return errors.New("the pods declare no TCP container port: give the port to forward as an override (LOCAL:REMOTE)")
	}
	f.undeclared(declared)
	listeners, err := f.listenAll(ports, fixed)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.mappings = ports
	f.mu.Unlock()
	f.retarget(ctx, pods) // say where each port goes, and dial it

	var wg sync.WaitGroup
	for i, m := range ports {
		for _, l := range listeners {
			if l.Addr().(*net.TCPAddr).Port != m.Local {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.accept(ctx, &wg, l, ports[i])
			}()
		}
	}
	if f.o.ready != nil {
		f.o.ready(f.Ports())
	}
	runErr := f.untilDone(ctx, pods)
	cancel() // the connections end with ctx
	closeListeners(listeners)
	wg.Wait()
	f.closeConns()
	return runErr
}

// listenAll listens on the local port of each mapping (on every host),
// choosing a free one where the port is not fixed; all or none.
func (f *Forwarder) listenAll(ports []Mapping, fixed []bool) ([]net.Listener, error) {
	var listeners []net.Listener
	taken := map[int]bool{}
	for i := range ports {
		ls, err := listen(f.o.hosts, &ports[i], fixed[i], taken)
		if err != nil {
			closeListeners(listeners)
			return nil, err
		}
		taken[ports[i].Local] = true
		listeners = append(listeners, ls...)
	}
	return listeners, nil
}

func closeListeners(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// untilDone waits for ctx to end, or, with WithStopWhenGone, for the
// release to be gone (kube.ErrGone); without it a release that is gone is
// said, and waited for.
func (f *Forwarder) untilDone(ctx context.Context, pods *kube.PodWatch) error {
	gone := kube.WatchVacancy(ctx, f.client, f.namespace, f.selector, pods, f.o.vacancy, func(msg string) { f.emit("vacant", "", "%s", msg) })
	select {
	case <-ctx.Done():
	case <-gone:
		if f.o.stopGone {
			return kube.ErrGone
		}
		f.emit("vacant", "", "no pod and no workload are left (the release was deleted?); waiting for the next deploy (Ctrl-C to stop)")
		<-ctx.Done()
	}
	return nil
}

// closeConns closes the connections to the pods, once each is dialled.
func (f *Forwarder) closeConns() {
	f.mu.Lock()
	conns := f.conns
	f.conns = map[types.UID]*podConn{}
	f.mu.Unlock()
	for _, c := range conns {
		<-c.ready
		c.close()
	}
}

// targetOf is the pod a new connection to port goes to now.
func (f *Forwarder) targetOf(all []*corev1.Pod, port int) *corev1.Pod {
	return target(all, port, f.isEarly)
}

// retarget tells of a change of target, and dials the new target at once so
// that the first connection to it does not wait for the dial; it checks the
// pods that may be the next target (early.go).
func (f *Forwarder) retarget(ctx context.Context, w *kube.PodWatch) {
	f.retargetMu.Lock()
	defer f.retargetMu.Unlock()
	all, _ := w.Pods()
	f.mu.Lock()
	ports := append([]Mapping(nil), f.mappings...)
	f.mu.Unlock()
	for _, m := range ports {
		p := f.targetOf(all, m.Remote)
		name := ""
		if p != nil {
			name = p.Name
		}
		f.mu.Lock()
		prev, known := f.target[m.Remote]
		f.target[m.Remote] = name
		f.mu.Unlock()
		if known && prev == name {
			continue
		}
		if p == nil {
			f.emit("waiting", "", "no Ready pod serves port %d: new connections to %s wait for one", m.Remote, m.URL())
			continue
		}
		f.emit("target", p.Name, "%s -> %s port %d", m.URL(), p.Name, m.Remote)
		go func() { _, _ = f.podConn(ctx, p) }()
	}
	if ctx.Err() == nil {
		f.startChecks(ctx, all)
	}
}

// accept serves one listener until it is closed.
func (f *Forwarder) accept(ctx context.Context, wg *sync.WaitGroup, l net.Listener, m Mapping) {
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			f.emit("error", "", "accepting on %s: %v", l.Addr(), err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.handle(ctx, conn, m)
		}()
	}
}

// open waits (until deadline, the hold time) for a target of m's port and
// opens a data and an error stream to it, once one of the port's opening
// slots is free (see maxOpening); release gives the slot back, at the
// pod's first answer or the attempt's end. A dead connection to the pod is
// dialled again.
func (f *Forwarder) open(ctx context.Context, m Mapping, deadline time.Time) (*podConn, httpstream.Stream, httpstream.Stream, func(), error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var last error
	for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		pod, err := f.wait(ctx, m.Remote)
		if err != nil {
			if last != nil {
				return nil, nil, nil, nil, last
			}
			return nil, nil, nil, nil, fmt.Errorf("no Ready pod for port %d within %s", m.Remote, f.o.hold)
		}
		pc, err := f.podConn(ctx, pod)
		if err == nil {
			var data, errStream httpstream.Stream
			var release func()
			mctx, stop := context.WithCancel(ctx)
			moved := f.movedAway(mctx, pod, m.Remote)
			release, err = pc.admit(ctx, m.Remote, moved)
			if err == nil {
				data, errStream, err = pc.open(ctx, m.Remote, f.requestIDs.Add(1), moved, func() { f.forgetConn(pc) })
				if err != nil {
					release()
				}
			}
			stop()
			if err == nil {
				return pc, data, errStream, release, nil
			}
			if errors.Is(err, errMoved) {
				continue // at once, to the new target
			}
			if ctx.Err() == nil {
				f.forgetConn(pc) // closed, or stuck
			}
		}
		last = fmt.Errorf("forwarding to pod %s: %w", pod.Name, err)
		select {
		case <-ctx.Done():
			return nil, nil, nil, nil, last
		case <-time.After(backoff):
		}
	}
}

// movedAway returns a channel closed when port's target is no longer pod
// (or when ctx ends).
func (f *Forwarder) movedAway(ctx context.Context, pod *corev1.Pod, port int) <-chan struct{} {
	moved := make(chan struct{})
	go func() {
		for {
			all, changed := f.pods.Pods()
			if t := f.targetOf(all, port); t == nil || t.UID != pod.UID {
				close(moved)
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return moved
}

// wait returns the target of port, waiting for one.
func (f *Forwarder) wait(ctx context.Context, port int) (*corev1.Pod, error) {
	for {
		all, changed := f.pods.Pods()
		if p := f.targetOf(all, port); p != nil {
			return p, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
