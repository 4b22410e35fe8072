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
	// refusedHold is how long a connection the pod's app refused (it was
	// not listening: an app restarting, as watch mode's live update does,
	// in 10 to 120 ms here) is tried again, however many attempts that
	// takes; short, so that a port nothing listens on fails soon.
	refusedHold = time.Second
	// refusedEvery is the pause between those attempts.
	refusedEvery = 20 * time.Millisecond
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
	since      time.Time         // when the current attempt began

	// Moving a keep-alive HTTP connection to the new pod (see readClient).
	podLast  bool          // the last bytes were the pod's
	move     chan struct{} // closed to end the attempt and move on; nil when not allowed
	switched chan struct{} // closed when the next attempt has begun, or none will
}

// readClient copies the client's bytes to the current data stream, keeping
// them for a replay while no pod has answered.
func (r *relay) readClient() {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.conn.Read(buf)
		if n > 0 {
			r.mu.Lock()
			if r.podLast && r.move != nil && startsHTTPRequest(buf[:n]) {
				// A new request on a keep-alive connection: the previous
				// exchange is over (HTTP/1 clients do not pipeline), so the
				// request goes to the port's target now, on a new stream,
				// as a replay would: to the new pod after a redeploy, and
				// to the app itself after it restarted in its pod (live
				// update, a reloader), where the old stream would hold the
				// request until the runtime noticed that its app was gone.
				r.sent = append([]byte(nil), buf[:n]...)
				r.replayable, r.podLast = true, false
				move, switched := r.move, make(chan struct{})
				r.move, r.switched = nil, switched
				r.mu.Unlock()
				close(move)
				<-switched
				continue
			}
			r.podLast = false
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
// the client already sent; it reports false when that cannot be done. move
// is the attempt's (see relay).
func (r *relay) switchTo(data httpstream.Stream, first bool, move chan struct{}) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.move = move
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
	r.resume()
	return true
}

// resume lets readClient go on after a move; called with r.mu held.
func (r *relay) resume() {
	if r.switched != nil {
		close(r.switched)
		r.switched = nil
	}
}

// startsHTTPRequest reports whether b begins with the request line of an
// HTTP/1 request.
func startsHTTPRequest(b []byte) bool {
	line, _, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok {
		return false
	}
	method, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return false
	}
	switch string(method) {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE":
	default:
		return false
	}
	target, proto, ok := bytes.Cut(rest, []byte(" "))
	return ok && len(target) > 0 && (string(proto) == "HTTP/1.1" || string(proto) == "HTTP/1.0")
}

// canReplay reports whether what the client sent can still be sent again.
func (r *relay) canReplay() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.replayable && !r.clientGone
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
	w.r.mu.Lock()
	w.r.podLast = true
	w.r.mu.Unlock()
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
	first := true
	var refusedSince time.Time
	for attempt := 1; ; attempt++ {
		r.mu.Lock()
		r.since = time.Now()
		r.mu.Unlock()
		pc, data, errStream, release, err := f.open(ctx, m, deadline)
		if err != nil {
			if ctx.Err() == nil {
				f.emit("error", "", "%s: %v", m.URL(), err)
			}
			break
		}
		move := make(chan struct{})
		if !r.switchTo(data, first, move) {
			release()
			pc.conn.RemoveStreams(data, errStream)
			_ = data.Reset()
			_ = errStream.Reset()
			if first {
				break
			}
			// The replay's write failed, most likely on a connection the
			// pod refused at once (see the "failed to connect" case in
			// again): tried again like one, while the client's bytes may
			// still be sent.
			f.forgetConn(pc)
			if !r.canReplay() || !f.again(ctx, r, pc, m, "failed to connect (the replay could not be written)", false, attempt, &refusedSince) {
				break
			}
			continue
		}
		if first {
			go r.readClient()
			clientErr = r.clientErr
			first = false
		}
		msg, answered, isMove := f.carry(ctx, r, pc, data, errStream, release, move, &clientErr)
		release()
		pc.conn.RemoveStreams(data, errStream)
		if ctx.Err() != nil {
			break
		}
		if isMove { // a new exchange, to the new target
			attempt, deadline = 0, time.Now().Add(f.o.hold)
			continue
		}
		if !f.again(ctx, r, pc, m, msg, answered, attempt, &refusedSince) {
			break
		}
	}
	conn.Close()
	r.mu.Lock()
	r.resume() // a move that found no pod to go to
	r.mu.Unlock()
	if clientErr != nil {
		<-clientErr // readClient has ended
	}
}

// again decides, after an attempt that ended with the error stream's msg,
// whether the connection is sent again (after a pause), and says why.
func (f *Forwarder) again(ctx context.Context, r *relay, pc *podConn, m Mapping, msg string, answered bool, attempt int, refusedSince *time.Time) bool {
	last := attempt >= maxAttempts
	if refused(msg) {
		f.setEarly(ctx, pc.uid, false) // its checks passed, but it does not take connections
		// What the client wrote to a connection the runtime could not
		// make (before or after it said so) is never read on its side,
		// and holds up one of the few workers that serve all the
		// streams to the pod: the next connections get a fresh one.
		f.forgetConn(pc)
		// Nothing reached the app: wait for it to listen again.
		if refusedSince.IsZero() {
			*refusedSince = time.Now()
		}
		last = time.Since(*refusedSince) > refusedHold
	}
	why := f.replayable(ctx, r, pc, m.Remote, msg, answered)
	if strings.HasPrefix(why, restartedWhy) {
		// As for a refusal: the app comes back soon, in the same pod;
		// held as long, however many attempts that takes. The runtime's
		// workers for this connection may wait on the dead app's
		// connection for a second: the next attempt gets a fresh one.
		f.forgetConn(pc)
		if refusedSince.IsZero() {
			*refusedSince = time.Now()
		}
		last = time.Since(*refusedSince) > refusedHold
	}
	if why == "" || last {
		if msg != "" {
			f.emit("error", pc.pod, "%s -> %s port %d: %s", m.URL(), pc.pod, m.Remote, msg)
		}
		return false
	}
	if attempt < maxAttempts {
		f.emit("retry", pc.pod, "%s -> %s port %d: %s; sending the connection to the current pod", m.URL(), pc.pod, m.Remote, why)
	}
	pause := time.Duration(min(attempt, maxAttempts)) * 50 * time.Millisecond
	if refused(msg) || strings.HasPrefix(why, restartedWhy) {
		pause = refusedEvery // an app starting again: asked often, it answers soon
	}
	select {
	case <-ctx.Done():
	case <-time.After(pause):
	}
	return true
}

// replayable says why the connection can be sent again to another pod, or
// "" when it cannot. Never once the pod has answered or the client has gone;
// then either the pod could not connect to its port (the app never saw the
// connection), or the pod went away without a word and the client had sent
// nothing, or only the start of a safe HTTP request (GET, HEAD, OPTIONS),
// which HTTP clients themselves send again when a connection dies before
// the answer (RFC 9110, 9.2.2); the same to the same pod when its app was
// restarted in its container meanwhile (WithRestarts). A pod's app that is told to stop closes its
// connections at once, often before the API says that the pod is going: a
// pod that still looks like the target is given apiLag to be seen going.
func (f *Forwarder) replayable(ctx context.Context, r *relay, pc *podConn, port int, msg string, answered bool) string {
	r.mu.Lock()
	switch {
	case answered || r.clientGone || !r.replayable:
		r.mu.Unlock()
		return ""
	case refused(msg):
		r.mu.Unlock()
		return "the pod could not connect to its port"
	}
	// The runtime's word on a connection the app reset (it was killed):
	// sent again only when the app was restarted meanwhile (below).
	reset := msg != ""
	why, what := "", ""
	if len(r.sent) == 0 {
		why, what = "the pod went away before anything was sent", "anything was sent"
	}
	if method := safeMethod(r.sent); method != "" {
		what = "it answered a " + method + " request"
		why = "the pod went away before " + what
	}
	r.mu.Unlock()
	if why == "" {
		return ""
	}
	if f.restartedSince(pc, r) {
		return restartedWhy + " before " + what
	}
	if reset {
		return ""
	}
	timeout := time.NewTimer(apiLag)
	defer timeout.Stop()
	for {
		all, changed := f.pods.Pods()
		if t := f.targetOf(all, port); t == nil || t.UID != pc.uid {
			return why
		}
		select {
		case <-changed:
		case <-timeout.C:
			return "" // the pod is still the one to go to: its app closed the connection
		case <-ctx.Done():
			return ""
		}
	}
}

// restartedSince reports whether the app in the attempt's pod was
// restarted since the attempt began (WithRestarts).
func (f *Forwarder) restartedSince(pc *podConn, r *relay) bool {
	if f.o.restarted == nil {
		return false
	}
	r.mu.Lock()
	since := r.since
	r.mu.Unlock()
	return f.o.restarted(pc.pod, since)
}

// cutByRestart is closed when the app in the attempt's pod is restarted
// (WithRestarts) before it answered a request that may be sent again: the
// runtime can take a second to end the stream of a connection whose app is
// gone. Never closed without WithRestarts.
func (f *Forwarder) cutByRestart(r *relay, pc *podConn, got *atomic.Int64, done <-chan struct{}) <-chan struct{} {
	if f.o.restarted == nil {
		return nil
	}
	cut := make(chan struct{})
	go func() {
		tick := time.NewTicker(refusedEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if got.Load() == 0 && r.safeUnanswered() && f.restartedSince(pc, r) {
				close(cut)
				return
			}
		}
	}()
	return cut
}

// safeUnanswered reports whether what the client sent can be sent again
// as replayable says of an app that went away: nothing yet, or a GET,
// HEAD or OPTIONS request, unanswered.
func (r *relay) safeUnanswered() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.replayable || r.clientGone {
		return false
	}
	if len(r.sent) == 0 {
		return true
	}
	return safeMethod(r.sent) != ""
}

// safeMethod is the method of the safe HTTP request (GET, HEAD, OPTIONS)
// that sent begins, "" for any other.
func safeMethod(sent []byte) string {
	for _, method := range []string{"GET", "HEAD", "OPTIONS"} {
		if bytes.HasPrefix(sent, []byte(method+" ")) {
			return method
		}
	}
	return ""
}

// restartedWhy begins the reason for a replay to the same pod, whose app
// was restarted in its container (see WithRestarts).
const restartedWhy = "its app restarted"

// refused reports whether an error stream's message says that the runtime
// could not connect to the pod's port (the app was not listening).
func refused(msg string) bool { return strings.Contains(msg, "failed to connect") }

// apiLag is how long a pod whose app closed a connection unanswered may take
// to be seen going (see replayable).
const apiLag = 300 * time.Millisecond

// carry runs one attempt: the pod's answer to the client until the pod's
// side ends, the client resets, the pod's connection goes, or readClient
// moves the connection on (move is closed). It returns the error stream's
// message, whether the pod sent anything, and whether it was a move.
func (f *Forwarder) carry(ctx context.Context, r *relay, pc *podConn, data, errStream httpstream.Stream, release func(), move <-chan struct{}, clientErr *<-chan error) (string, bool, bool) {
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
	cut := f.cutByRestart(r, pc, &got, remoteDone)
	for waiting := true; waiting; {
		select {
		case <-remoteDone:
			waiting = false
		case <-cut: // sent again once the app listens (see replayable)
			waiting = false
		case err := <-*clientErr:
			*clientErr = nil
			waiting = err == nil // after a half-close, the answer still comes
		case <-pc.closed:
			waiting = false
		case <-ctx.Done():
			waiting = false
		case <-move:
			_ = data.Reset()
			_ = errStream.Reset()
			<-remoteDone // nothing of this pod's reaches the client after the move
			return "", true, true
		}
	}
	_ = data.Reset()
	// The error stream tells why the pod's side ended: whether anything
	// reached the app decides a replay. Once the pod has answered, nothing
	// is replayed: the client's connection is closed at once, so that a
	// kept-alive client sends its next request on a new one (and not into
	// this ended exchange, while the runtime takes its time to say why: up
	// to seconds after an app restarted, as live update restarts them).
	wait := 2 * time.Second
	if got.Load() > 0 || f.restartedSince(pc, r) {
		// Answered, or cut by a restart of the app (it is sent again
		// whatever the runtime says, which can take a second).
		wait = 20 * time.Millisecond
	}
	var msg string
	select {
	case msg = <-errc:
	case <-pc.closed:
	case <-ctx.Done():
	case <-time.After(wait):
	}
	_ = errStream.Reset()
	if got.Load() == 0 && msg != "" {
		<-remoteDone // so that nothing of this pod's reaches the client after a switch
	}
	return strings.TrimSpace(msg), got.Load() > 0, false
}
