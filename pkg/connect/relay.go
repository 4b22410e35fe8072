package connect

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/util/httpstream"
)

const (
	// maxReplay is the most a client may have sent, unanswered, for its
	// connection to be sent again to another pod.
	maxReplay = 64 << 10
	// maxAttempts bounds the pods one local connection is tried on.
	maxAttempts = 3
)

// relay carries one local connection to a pod's port. When the pod could
// not connect to its port at all (the app is gone or not listening: the
// error stream says "failed to connect"), nothing reached the app, so what
// the client sent is sent again to the current target: a request caught by a
// pod that is going away is answered by its successor instead of failing.
type relay struct {
	conn net.Conn

	mu         sync.Mutex
	to         httpstream.Stream // the data stream of the current attempt
	sent       []byte            // what the client sent, while no pod has answered
	replayable bool              // sent holds all the client sent, and no pod answered
	clientEOF  bool              // the client has half-closed
	clientGone bool              // the client has closed or reset
	clientErr  chan error        // the end of the client's side (nil: EOF)
}

// readClient copies the client's bytes to the current data stream, keeping
// them for a replay while no pod has answered.
func (r *relay) readClient() {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.conn.Read(buf)
		if n > 0 {
			r.mu.Lock()
			if r.replayable {
				if len(r.sent)+n > maxReplay {
					r.replayable, r.sent = false, nil
				} else {
					r.sent = append(r.sent, buf[:n]...)
				}
			}
			to := r.to
			r.mu.Unlock()
			// A failed write ends the attempt through its data stream.
			_, _ = to.Write(buf[:n])
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				r.mu.Lock()
				r.clientEOF = true
				r.to.Close() // half-close, as the client did
				r.mu.Unlock()
				err = nil
			} else {
				r.mu.Lock()
				r.clientGone = true
				r.mu.Unlock()
			}
			r.clientErr <- err
			return
		}
	}
}

// switchTo makes data the stream the client's bytes go to, replaying what
// the client already sent; it reports false when that cannot be done.
func (r *relay) switchTo(data httpstream.Stream, first bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !first {
		if !r.replayable {
			return false
		}
		if len(r.sent) > 0 {
			if _, err := data.Write(r.sent); err != nil {
				return false
			}
		}
	}
	r.to = data
	if r.clientEOF {
		data.Close()
	}
	return true
}

// answered marks that a pod has answered: no replay from now on.
func (r *relay) answered() {
	r.mu.Lock()
	r.replayable, r.sent = false, nil
	r.mu.Unlock()
}

// toClient writes a pod's answer to the client, counting it; the first
// bytes give the attempt's opening slot back.
type toClient struct {
	r       *relay
	n       *atomic.Int64
	release func()
}

func (w toClient) Write(p []byte) (int, error) {
	if w.n.Add(int64(len(p))) == int64(len(p)) {
		w.release()
		w.r.answered()
	}
	return w.r.conn.Write(p)
}

// handle sends one local connection to the current target of its port,
// holding it while there is none, and to the next target when the pod could
// not connect to the port.
func (f *Forwarder) handle(ctx context.Context, conn net.Conn, m Mapping) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	r := &relay{conn: conn, replayable: true, clientErr: make(chan error, 1)}
	var clientErr <-chan error // set once readClient runs, nil again when it has ended
	deadline := time.Now().Add(f.o.hold)
	for attempt := 1; ; attempt++ {
		pc, data, errStream, release, err := f.open(ctx, m, deadline)
		if err != nil {
			if ctx.Err() == nil {
				f.emit("error", "", "%s: %v", m.URL(), err)
			}
			break
		}
		if !r.switchTo(data, attempt == 1) {
			release()
			pc.conn.RemoveStreams(data, errStream)
			_ = data.Reset()
			_ = errStream.Reset()
			break
		}
		if attempt == 1 {
			go r.readClient()
			clientErr = r.clientErr
		}
		msg, answered := f.carry(ctx, r, pc, data, errStream, release, &clientErr)
		release()
		pc.conn.RemoveStreams(data, errStream)
		if ctx.Err() != nil {
			break
		}
		why := f.replayable(r, pc, m.Remote, msg, answered)
		if why == "" || attempt == maxAttempts {
			if msg != "" {
				f.emit("error", pc.pod, "%s -> %s port %d: %s", m.URL(), pc.pod, m.Remote, msg)
			}
			break
		}
		f.emit("retry", pc.pod, "%s -> %s port %d: %s; sending the connection to the current pod", m.URL(), pc.pod, m.Remote, why)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
	conn.Close()
	if clientErr != nil {
		<-clientErr // readClient has ended
	}
}

// replayable says why the connection can be sent again to another pod, or
// "" when it cannot. Never once the pod has answered or the client has gone;
// then either the pod could not connect to its port (the app never saw the
// connection), or the pod went away without a word and the client had sent
// nothing, or only the start of a safe HTTP request (GET, HEAD, OPTIONS),
// which HTTP clients themselves send again when a connection dies before
// the answer (RFC 9110, 9.2.2).
func (f *Forwarder) replayable(r *relay, pc *podConn, port int, msg string, answered bool) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case answered || r.clientGone || !r.replayable:
		return ""
	case strings.Contains(msg, "failed to connect"):
		return "the pod could not connect to its port"
	case msg != "":
		return ""
	}
	all, _ := f.pods.pods()
	if t := target(all, port); t != nil && t.UID == pc.uid {
		return "" // the pod is still the one to go to: its app closed the connection
	}
	if len(r.sent) == 0 {
		return "the pod went away before anything was sent"
	}
	for _, method := range []string{"GET ", "HEAD ", "OPTIONS "} {
		if bytes.HasPrefix(r.sent, []byte(method)) {
			return "the pod went away before it answered a " + strings.TrimSpace(method) + " request"
		}
	}
	return ""
}

// carry runs one attempt: the pod's answer to the client until the pod's
// side ends, the client resets, or the pod's connection goes. It returns the
// error stream's message and whether the pod sent anything.
func (f *Forwarder) carry(ctx context.Context, r *relay, pc *podConn, data, errStream httpstream.Stream, release func(), clientErr *<-chan error) (string, bool) {
	errc := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(errStream)
		errc <- string(b)
	}()
	var got atomic.Int64
	remoteDone := make(chan struct{})
	go func() {
		defer close(remoteDone)
		_, _ = io.Copy(toClient{r: r, n: &got, release: release}, data)
	}()
	for waiting := true; waiting; {
		select {
		case <-remoteDone:
			waiting = false
		case err := <-*clientErr:
			*clientErr = nil
			waiting = err == nil // after a half-close, the answer still comes
		case <-pc.closed:
			waiting = false
		case <-ctx.Done():
			waiting = false
		}
	}
	_ = data.Reset()
	var msg string
	select {
	case msg = <-errc:
	case <-pc.closed:
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
	}
	_ = errStream.Reset()
	if got.Load() == 0 && msg != "" {
		<-remoteDone // so that nothing of this pod's reaches the client after a switch
	}
	return strings.TrimSpace(msg), got.Load() > 0
}
