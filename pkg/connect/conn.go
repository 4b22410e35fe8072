package connect

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/httpstream"

	"github.com/draftk8s/draft/pkg/kube"
)

// podConn is one upgraded connection to a pod's portforward subresource;
// every local connection to that pod is a pair of streams on it.
type podConn struct {
	pod    string
	uid    types.UID
	ready  chan struct{} // closed when the dial is done
	conn   httpstream.Connection
	err    error
	closed chan struct{} // closed when conn is gone
	once   sync.Once

	mu      sync.Mutex
	opening map[int]chan struct{} // per pod port: a slot per connection being opened, not yet answered
}

func (c *podConn) close() {
	c.once.Do(func() {
		if c.conn != nil {
			c.conn.Close()
		}
		close(c.closed)
	})
}

// streams opens the error and data streams of one forwarded connection.
func (c *podConn) streams(port int, requestID int64) (data, errStream httpstream.Stream, err error) {
	return kube.ForwardStreams(c.conn, port, requestID)
}

// errMoved says that the port's target moved to another pod while streams
// to this one were being created.
var errMoved = errors.New("the port moved to another pod")

// streamWait is how long a pod's connection may take to accept new streams
// before it is taken for stuck and dialled again.
const streamWait = 5 * time.Second

// open creates the streams of one forwarded connection like streams, but
// gives up when ctx ends, when moved is closed (errMoved), or after
// streamWait (the connection is then dropped, so that the next one dials
// anew). A pod whose app does not take its connections can hold up the
// whole connection to it: the runtime serves a connection's streams from a
// few shared workers, which wait on the stuck ones.
func (c *podConn) open(ctx context.Context, port int, requestID int64, moved <-chan struct{}, drop func()) (data, errStream httpstream.Stream, err error) {
	type result struct {
		data, errStream httpstream.Stream
		err             error
	}
	done := make(chan result, 1)
	go func() {
		d, e, err := c.streams(port, requestID)
		done <- result{d, e, err}
	}()
	timer := time.NewTimer(streamWait)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.data, r.errStream, r.err
	case <-ctx.Done():
		err = ctx.Err()
	case <-moved:
		err = errMoved
	case <-timer.C:
		drop()
		err = fmt.Errorf("pod %s took more than %s to accept a connection", c.pod, streamWait)
	}
	go func() { // the streams, when they come, are not used
		if r := <-done; r.err == nil {
			_ = r.data.Reset()
			_ = r.errStream.Reset()
			c.conn.RemoveStreams(r.data, r.errStream)
		}
	}()
	return nil, nil, err
}

const (
	// maxOpening is how many connections to one pod port may be opening at
	// once: streams asked for, nothing answered yet. Connections held while
	// no pod was Ready all go to the next one when it is Ready; at once,
	// they overflow the accept queue of an app that listens with a short
	// backlog (Python's http.server and socketserver: 5), the kernel drops
	// the runtime's SYNs, and each dropped connection waits for the SYN to
	// be sent again (1 s, then 3 s, 7 s...). Below the backlog, none is
	// dropped.
	maxOpening = 4
	// openingWait is how long a connection that has no answer yet keeps its
	// slot: an app that speaks only when spoken to holds the others back no
	// longer than that.
	openingWait = 250 * time.Millisecond
)

// admit waits for one of the slots of port (see maxOpening) and returns the
// function that gives it back, which may be called more than once.
func (c *podConn) admit(ctx context.Context, port int, moved <-chan struct{}) (release func(), err error) {
	c.mu.Lock()
	if c.opening == nil {
		c.opening = map[int]chan struct{}{}
	}
	slots := c.opening[port]
	if slots == nil {
		slots = make(chan struct{}, maxOpening)
		c.opening[port] = slots
	}
	c.mu.Unlock()
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-moved:
		return nil, errMoved
	case <-c.closed:
		return nil, fmt.Errorf("the connection to pod %s closed", c.pod)
	}
	var once sync.Once
	timer := time.AfterFunc(openingWait, func() { once.Do(func() { <-slots }) })
	return func() {
		once.Do(func() {
			timer.Stop()
			<-slots
		})
	}, nil
}

// podConn returns the connection to pod, dialling it when there is none; a
// dial under way is shared.
func (f *Forwarder) podConn(ctx context.Context, pod *corev1.Pod) (*podConn, error) {
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	f.mu.Lock()
	c, ok := f.conns[pod.UID]
	if !ok {
		c = &podConn{pod: pod.Name, uid: pod.UID, ready: make(chan struct{}), closed: make(chan struct{})}
		f.conns[pod.UID] = c
	}
	f.mu.Unlock()
	if !ok {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.o.dialWait)
		stop := context.AfterFunc(ctx, cancel)
		c.conn, c.err = f.dial(dctx, pod)
		stop()
		cancel()
		close(c.ready)
		if c.err != nil {
			f.forgetConn(c)
		} else {
			go func() {
				select {
				case <-c.conn.CloseChan():
					f.forgetConn(c)
				case <-c.closed:
				}
			}()
		}
	}
	select {
	case <-c.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c.err != nil {
		return nil, c.err
	}
	select {
	case <-c.closed:
		return nil, fmt.Errorf("the connection to pod %s closed", c.pod)
	default:
	}
	return c, nil
}

// forgetConn closes c and drops it, so that the next connection dials again.
func (f *Forwarder) forgetConn(c *podConn) {
	f.mu.Lock()
	if f.conns[c.uid] == c {
		delete(f.conns, c.uid)
	}
	f.mu.Unlock()
	c.close()
}

// forget drops the connection to a pod that is gone.
func (f *Forwarder) forget(uid types.UID) {
	f.mu.Lock()
	c := f.conns[uid]
	f.mu.Unlock()
	if c != nil {
		go func() {
			<-c.ready
			f.forgetConn(c)
		}()
	}
}
