package live

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
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

// request and reply are the agent's protocol (agent/main.go has its side:
// Request, Reply; a test runs the two together).
type request struct {
	Op      string `json:"op"`
	Size    int64  `json:"size,omitempty"`
	Gen     int64  `json:"gen,omitempty"`
	Restart bool   `json:"restart,omitempty"`
	Start   bool   `json:"start,omitempty"`
}

type reply struct {
	Boot      string  `json:"boot"`
	Gen       int64   `json:"gen"`
	Running   bool    `json:"running"`
	Files     int     `json:"files,omitempty"`
	Deleted   int     `json:"deleted,omitempty"`
	ApplyMS   float64 `json:"apply_ms,omitempty"`
	RestartMS float64 `json:"restart_ms,omitempty"`
	ReadyMS   float64 `json:"ready_ms,omitempty"`
	PutBack   bool    `json:"put_back,omitempty"`
	Error     string  `json:"error,omitempty"`
}

// deleteList is the tar entry that lists the paths to remove.
const deleteList = ".draft-delete"

// Dialer opens a connection to the agent of a pod.
type Dialer interface {
	Dial(ctx context.Context, pod *corev1.Pod) (io.ReadWriteCloser, error)
	// Forget drops what is kept for the pod (its connection).
	Forget(uid types.UID)
}

// call sends one request with its body and reads the reply; ctx closes the
// connection.
func call(ctx context.Context, c io.ReadWriteCloser, req request, body []byte) (reply, error) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	req.Size = int64(len(body))
	line, _ := json.Marshal(req)
	if _, err := c.Write(append(append(line, '\n'), body...)); err != nil {
		return reply{}, err
	}
	b, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		if ctx.Err() != nil {
			return reply{}, ctx.Err()
		}
		return reply{}, err
	}
	var rep reply
	if err := json.Unmarshal(b, &rep); err != nil {
		return reply{}, fmt.Errorf("the agent answered %q: %v", strings.TrimSpace(string(b)), err)
	}
	return rep, nil
}

// archive is the tar of paths (relative to the agent's root, slash-
// separated) as their local files (source) are now: a path whose file is
// gone goes on the delete list.
func archive(source func(string) string, paths []string) (body []byte, files, deleted int, err error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var gone []string
	for _, p := range paths {
		abs := source(p)
		fi, err := os.Lstat(abs)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			gone = append(gone, p)
			continue
		case err != nil:
			return nil, 0, 0, err
		}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(abs)
			if err != nil {
				return nil, 0, 0, err
			}
			if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: int64(fi.Mode().Perm()), Size: int64(len(b))}); err != nil {
				return nil, 0, 0, err
			}
			if _, err := tw.Write(b); err != nil {
				return nil, 0, 0, err
			}
			files++
		case fi.IsDir():
			if err := tw.WriteHeader(&tar.Header{Name: p + "/", Typeflag: tar.TypeDir, Mode: int64(fi.Mode().Perm())}); err != nil {
				return nil, 0, 0, err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(abs)
			if err != nil {
				return nil, 0, 0, err
			}
			if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}); err != nil {
				return nil, 0, 0, err
			}
			files++
		}
	}
	if len(gone) > 0 {
		list := strings.Join(gone, "\n")
		if err := tw.WriteHeader(&tar.Header{Name: deleteList, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(list))}); err != nil {
			return nil, 0, 0, err
		}
		if _, err := tw.Write([]byte(list)); err != nil {
			return nil, 0, 0, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, 0, 0, err
	}
	return buf.Bytes(), files, len(gone), nil
}

// ForwardDialer reaches the agents through the API server's port-forward,
// one connection per pod, kept for its next syncs.
type ForwardDialer struct {
	cfg    *rest.Config
	client kubernetes.Interface
	id     atomic.Int64
	mu     sync.Mutex
	conns  map[types.UID]httpstream.Connection
}

// NewForwardDialer dials pods with the cluster's config and client.
func NewForwardDialer(cfg *rest.Config, client kubernetes.Interface) *ForwardDialer {
	return &ForwardDialer{cfg: cfg, client: client, conns: map[types.UID]httpstream.Connection{}}
}

func (d *ForwardDialer) conn(ctx context.Context, pod *corev1.Pod) (httpstream.Connection, error) {
	d.mu.Lock()
	c := d.conns[pod.UID]
	d.mu.Unlock()
	if c != nil {
		select {
		case <-c.CloseChan():
		default:
			return c, nil
		}
	}
	c, err := kube.DialPod(ctx, d.cfg, d.client, pod)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.conns[pod.UID] = c
	d.mu.Unlock()
	return c, nil
}

// Dial opens a stream pair to the pod's agent port.
func (d *ForwardDialer) Dial(ctx context.Context, pod *corev1.Pod) (io.ReadWriteCloser, error) {
	c, err := d.conn(ctx, pod)
	if err != nil {
		return nil, err
	}
	data, errStream, err := kube.ForwardStreams(c, AgentPort, d.id.Add(1))
	if err != nil {
		d.Forget(pod.UID)
		return nil, err
	}
	msg := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(errStream)
		msg <- strings.TrimSpace(string(b))
	}()
	return &forwarded{conn: c, data: data, errStream: errStream, msg: msg}, nil
}

// Forget closes the pod's connection.
func (d *ForwardDialer) Forget(uid types.UID) {
	d.mu.Lock()
	c := d.conns[uid]
	delete(d.conns, uid)
	d.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Close closes every connection.
func (d *ForwardDialer) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for uid, c := range d.conns {
		c.Close()
		delete(d.conns, uid)
	}
}

// forwarded is one connection to an agent through port-forward: a data
// stream, whose end before a reply is explained by the error stream.
type forwarded struct {
	conn      httpstream.Connection
	data      httpstream.Stream
	errStream httpstream.Stream
	msg       chan string
	once      sync.Once
}

func (f *forwarded) Read(p []byte) (int, error) {
	n, err := f.data.Read(p)
	if err == io.EOF && n == 0 {
		select {
		case m := <-f.msg:
			if m != "" {
				return 0, errors.New(m)
			}
		case <-time.After(200 * time.Millisecond):
		}
	}
	return n, err
}

func (f *forwarded) Write(p []byte) (int, error) { return f.data.Write(p) }

func (f *forwarded) Close() error {
	f.once.Do(func() {
		_ = f.data.Reset()
		_ = f.errStream.Reset()
		f.conn.RemoveStreams(f.data, f.errStream)
	})
	return nil
}
