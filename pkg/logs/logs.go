package logs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/draftk8s/draft/pkg/kube"
)

// Event is something the Stream wants the user to know, for stderr: a log
// stream that ended, failed or resumed, a release without pods.
type Event struct {
	Time    time.Time
	Kind    string // retry, error, vacant
	Pod     string
	Message string
}

// Stream writes the logs of the containers of a selector's pods to a
// writer, one line at a time, each prefixed by [pod/container].
type Stream struct {
	client    kubernetes.Interface
	namespace string
	selector  string
	o         options
	print     *printer
	// open opens one container's log stream (the API server's, but for tests).
	open func(ctx context.Context, pod string, o *corev1.PodLogOptions) (io.ReadCloser, error)
}

// Option configures a Stream.
type Option func(*options)

type options struct {
	tail      int64 // lines of history of the pods there at the start; -1 for all
	since     time.Duration
	follow    bool
	previous  bool
	container string
	color     bool
	events    func(Event)
	maxWait   time.Duration // the longest pause between two attempts to reopen a stream
	linger    time.Duration // how long a deleted pod's streams may still finish
	vacancy   time.Duration // how long no pod lasts before the workloads are looked for
	stopGone  bool
}

// WithStopWhenGone makes a followed Run return kube.ErrGone when the
// release is deleted: no pod and no workload that could make one are left.
func WithStopWhenGone() Option { return func(o *options) { o.stopGone = true } }

// WithTail shows the last n lines of the pods already running (-1: all of
// them, the default). Pods that start later are shown from their first line.
func WithTail(n int64) Option { return func(o *options) { o.tail = n } }

// WithSince shows only lines newer than d.
func WithSince(d time.Duration) Option { return func(o *options) { o.since = d } }

// WithFollow keeps streaming and follows new pods (the default); false
// prints what there is and returns.
func WithFollow(follow bool) Option { return func(o *options) { o.follow = follow } }

// WithPrevious prints the logs of the previous instance of each container
// (one that crashed or restarted); it implies WithFollow(false).
func WithPrevious(previous bool) Option { return func(o *options) { o.previous = previous } }

// WithContainer limits the logs to the containers of that name.
func WithContainer(name string) Option { return func(o *options) { o.container = name } }

// WithColor colours each pod's prefix (for a terminal).
func WithColor(color bool) Option { return func(o *options) { o.color = color } }

// WithEvents receives what the Stream has to say (for stderr): streams that
// end, fail and resume.
func WithEvents(f func(Event)) Option { return func(o *options) { o.events = f } }

// New returns a Stream for the pods that selector matches in namespace,
// writing to out.
func New(client kubernetes.Interface, namespace, selector string, out io.Writer, opts ...Option) *Stream {
	l := &Stream{
		client: client, namespace: namespace, selector: selector,
		o: options{tail: -1, follow: true, maxWait: 5 * time.Second, linger: 2 * time.Second, vacancy: kube.VacancyDelay},
	}
	for _, opt := range opts {
		opt(&l.o)
	}
	if l.o.previous {
		l.o.follow = false
	}
	l.print = &printer{w: out, color: l.o.color, colors: map[string]string{}}
	l.open = func(ctx context.Context, pod string, o *corev1.PodLogOptions) (io.ReadCloser, error) {
		return client.CoreV1().Pods(namespace).GetLogs(pod, o).Stream(ctx)
	}
	return l
}

func (l *Stream) emit(kind, pod, format string, a ...any) {
	if l.o.events != nil {
		l.o.events(Event{Time: time.Now(), Kind: kind, Pod: pod, Message: fmt.Sprintf(format, a...)})
	}
}

// containers are the containers of p that Logs shows.
func (l *Stream) containers(p *corev1.Pod) []string {
	var out []string
	for _, c := range p.Spec.Containers {
		if l.o.container == "" || c.Name == l.o.container {
			out = append(out, c.Name)
		}
	}
	return out
}

// Run writes the logs. Without follow it returns when it has written them
// all; with follow it runs until ctx ends and returns nil. It fails at once
// when the selector matches no pod (kube.ErrNoPods), or no pod has the container
// asked for.
func (l *Stream) Run(ctx context.Context) error {
	if !l.o.follow {
		return l.print1(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		pods = map[types.UID]*podLogs{}
	)
	start := func(p *corev1.Pod, initial bool) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := pods[p.UID]; ok || ctx.Err() != nil {
			return
		}
		pl := &podLogs{gone: make(chan struct{})}
		var pctx context.Context
		pctx, pl.cancel = context.WithCancel(ctx)
		pods[p.UID] = pl
		tail := int64(-1)
		if initial {
			tail = l.o.tail
		}
		for _, c := range l.containers(p) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.follow(pctx, pl.gone, p.Name, c, tail, initial)
			}()
		}
	}
	w := kube.NewPodWatch(l.client, l.namespace, l.selector)
	w.On(kube.PodHandler{
		Add:    start,
		Update: func(p *corev1.Pod) { start(p, false) },
		Remove: func(p *corev1.Pod) {
			mu.Lock()
			pl := pods[p.UID]
			mu.Unlock()
			if pl != nil {
				pl.end(l.o.linger)
			}
		},
	})
	informerDone, err := w.Start(ctx)
	defer func() {
		cancel()
		<-informerDone
		wg.Wait()
	}()
	if err != nil {
		return err
	}
	all, _ := w.Pods()
	if len(all) == 0 {
		return kube.ErrNoPods
	}
	if err := l.checkContainer(all); err != nil {
		return err
	}
	gone := kube.WatchVacancy(ctx, l.client, l.namespace, l.selector, w, l.o.vacancy, func(msg string) { l.emit("vacant", "", "%s", msg) })
	select {
	case <-ctx.Done():
	case <-gone:
		if l.o.stopGone {
			return kube.ErrGone
		}
		<-ctx.Done()
	}
	return nil
}

// podLogs are the streams of one pod.
type podLogs struct {
	cancel context.CancelFunc
	gone   chan struct{} // closed when the pod is deleted
	once   sync.Once
}

// end stops the pod's streams: at once when they are between two
// attempts, after linger when they are still reading the pod's last lines.
func (pl *podLogs) end(linger time.Duration) {
	pl.once.Do(func() {
		close(pl.gone)
		time.AfterFunc(linger, pl.cancel)
	})
}

func (l *Stream) checkContainer(pods []*corev1.Pod) error {
	if l.o.container == "" {
		return nil
	}
	names := map[string]bool{}
	for _, p := range pods {
		for _, c := range p.Spec.Containers {
			if c.Name == l.o.container {
				return nil
			}
			names[c.Name] = true
		}
	}
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	return fmt.Errorf("the pods have no container %q: choose one of %s", l.o.container, strings.Join(list, ", "))
}

// print1 prints the logs there are, pod after pod, oldest pod first.
func (l *Stream) print1(ctx context.Context) error {
	list, err := l.client.CoreV1().Pods(l.namespace).List(ctx, metav1.ListOptions{LabelSelector: l.selector})
	if err != nil {
		return fmt.Errorf("listing the pods %s: %w", l.selector, err)
	}
	var pods []*corev1.Pod
	for i := range list.Items {
		pods = append(pods, &list.Items[i])
	}
	if len(pods) == 0 {
		return kube.ErrNoPods
	}
	if err := l.checkContainer(pods); err != nil {
		return err
	}
	sort.Slice(pods, func(i, j int) bool { return kube.Newer(pods[j], pods[i]) })
	var first error
	printed := 0
	for _, p := range pods {
		for _, c := range l.containers(p) {
			o := l.options(c, l.o.tail, true)
			o.Follow, o.Previous = false, l.o.previous
			rc, err := l.open(ctx, p.Name, o)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				err = fmt.Errorf("%s/%s: %s", p.Name, c, apiMessage(err))
				l.emit("error", p.Name, "%v", err)
				if first == nil {
					first = err
				}
				continue
			}
			_, err = l.copy(rc, p.Name, c, time.Time{})
			rc.Close()
			if err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			printed++
		}
	}
	if printed == 0 && first != nil {
		return first
	}
	return nil
}

func (l *Stream) options(container string, tail int64, initial bool) *corev1.PodLogOptions {
	o := &corev1.PodLogOptions{Container: container, Follow: true, Timestamps: true}
	if tail >= 0 {
		o.TailLines = &tail
	}
	if initial && l.o.since > 0 {
		s := int64((l.o.since + time.Second - 1) / time.Second)
		o.SinceSeconds = &s
	}
	return o
}

// follow streams one container until ctx ends or its pod is gone, opening
// the stream again when it ends (the container restarted, the connection
// dropped) from the last line it saw, with a growing pause between attempts.
func (l *Stream) follow(ctx context.Context, gone <-chan struct{}, pod, container string, tail int64, initial bool) {
	var last time.Time
	wait := 250 * time.Millisecond
	failing := false
	for {
		o := l.options(container, tail, initial)
		if !last.IsZero() {
			o.TailLines, o.SinceSeconds = nil, nil
			t := metav1.NewTime(last)
			o.SinceTime = &t // whole seconds: copy skips what was already shown
		}
		began := time.Now()
		rc, err := l.open(ctx, pod, o)
		// Not found is what the kubelet says of a pod it has not taken on
		// yet, as well as of one that is gone: the pod watch tells which
		// (gone is closed).
		starting := err != nil && (waiting(err) || apierrors.IsNotFound(err))
		if err == nil {
			if failing {
				l.emit("retry", pod, "the logs of %s/%s are back", pod, container)
				failing = false
			}
			var n int
			n, err = l.copy(rc, pod, container, last, &last)
			rc.Close()
			if n > 0 || time.Since(began) > 10*time.Second {
				wait = 250 * time.Millisecond
			}
		} else if !starting && !failing && ctx.Err() == nil {
			l.emit("error", pod, "the logs of %s/%s: %s (trying again)", pod, container, apiMessage(err))
			failing = true
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-gone:
			return
		default:
		}
		select {
		case <-ctx.Done():
			return
		case <-gone:
			return
		case <-time.After(wait):
		}
		if !starting { // a starting container is asked again soon: its first lines matter
			wait = min(2*wait, l.o.maxWait)
		}
	}
}

// waiting reports whether err says the container has not started yet (or
// that the kubelet has not told its state yet: "is not available").
func waiting(err error) bool {
	s := err.Error()
	return strings.Contains(s, "waiting to start") || strings.Contains(s, "ContainerCreating") || strings.Contains(s, "PodInitializing") || strings.Contains(s, "is not available")
}

// apiMessage is the API server's message of err, without Go's wrapping.
func apiMessage(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return se.Status().Message
	}
	// A request that could not be made: the API server's address and the
	// network's reason, not the whole URL of the log request.
	var ue *url.Error
	if errors.As(err, &ue) {
		host := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			host = u.Host
		}
		var oe *net.OpError
		if errors.As(ue.Err, &oe) {
			return fmt.Sprintf("the API server at %s cannot be reached (%v)", host, oe.Err)
		}
		return fmt.Sprintf("the API server at %s: %v", host, ue.Err)
	}
	return err.Error()
}

// copy prints the lines of a log stream with timestamps; a line not newer
// than after was shown before and is skipped. last, when given, is moved to
// the newest line shown. It returns how many lines it printed.
func (l *Stream) copy(r io.Reader, pod, container string, after time.Time, last ...*time.Time) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	n := 0
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			text := strings.TrimRight(line, "\r\n")
			ts, rest, ok := cutTimestamp(text)
			switch {
			case ok && !after.IsZero() && !ts.After(after):
				// shown before the stream was opened again
			case ok:
				for _, p := range last {
					*p = ts
				}
				l.print.line(pod, container, rest)
				n++
			default:
				l.print.line(pod, container, text)
				n++
			}
		}
		if err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
	}
}

// cutTimestamp splits "2006-01-02T15:04:05.999999999Z text" (the kubelet's
// Timestamps option) into its time and text.
func cutTimestamp(line string) (time.Time, string, bool) {
	head, rest, ok := strings.Cut(line, " ")
	if !ok {
		head, rest = line, ""
	}
	ts, err := time.Parse(time.RFC3339Nano, head)
	if err != nil {
		return time.Time{}, line, false
	}
	return ts, rest, true
}

// printer writes whole prefixed lines, one at a time.
type printer struct {
	mu     sync.Mutex
	w      io.Writer
	color  bool
	colors map[string]string
}

// palette are the colours of the pods' prefixes, in order of appearance.
var palette = []string{"\x1b[36m", "\x1b[33m", "\x1b[35m", "\x1b[32m", "\x1b[34m", "\x1b[31m"}

func (p *printer) line(pod, container, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prefix := "[" + pod + "/" + container + "]"
	if p.color {
		c, ok := p.colors[pod]
		if !ok {
			c = palette[len(p.colors)%len(palette)]
			p.colors[pod] = c
		}
		prefix = c + prefix + "\x1b[0m"
	}
	fmt.Fprintf(p.w, "%s %s\n", prefix, text)
}
