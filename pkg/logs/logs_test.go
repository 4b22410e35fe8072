package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/draftk8s/draft/internal/testkit"
	"github.com/draftk8s/draft/pkg/kube"
)

func ts(sec int) string {
	return time.Date(2025, 1, 1, 0, 0, sec, 500, time.UTC).Format(time.RFC3339Nano)
}

// fakeLogs answers each open of a pod's logs with the next of its streams
// ("notfound" and "waiting" are the kubelet's errors for a pod it has not
// started yet); after the last, with NotFound (the pod is gone).
type fakeLogs struct {
	mu      sync.Mutex
	streams map[string][]string
	calls   map[string][]corev1.PodLogOptions
}

func (f *fakeLogs) open(_ context.Context, pod string, o *corev1.PodLogOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := pod + "/" + o.Container
	f.calls[key] = append(f.calls[key], *o)
	s := f.streams[key]
	if len(s) == 0 {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, pod)
	}
	f.streams[key] = s[1:]
	if s[0] == "notfound" { // a kubelet that has not taken the pod on yet
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, pod)
	}
	if s[0] == "waiting" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", o.Container, pod))
	}
	return io.NopCloser(strings.NewReader(s[0])), nil
}

func (f *fakeLogs) callsOf(key string) []corev1.PodLogOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]corev1.PodLogOptions(nil), f.calls[key]...)
}

func TestCopyPrefixesAndSkipsSeenLines(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		after time.Time
		color bool
		want  string
	}{
		{"prefixed", ts(1) + " one\n" + ts(2) + " two\n", time.Time{}, false, "[web-1/app] one\n[web-1/app] two\n"},
		{"seen lines skipped", ts(1) + " one\n" + ts(2) + " two\n" + ts(3) + " three\n", time.Date(2025, 1, 1, 0, 0, 2, 500, time.UTC), false, "[web-1/app] three\n"},
		{"no timestamp", "plain\n", time.Time{}, false, "[web-1/app] plain\n"},
		{"last line without newline", ts(1) + " a\n" + ts(2) + " b", time.Time{}, false, "[web-1/app] a\n[web-1/app] b\n"},
		{"empty line", ts(1) + " \n", time.Time{}, false, "[web-1/app] \n"},
		{"colour", ts(1) + " one\n", time.Time{}, true, "\x1b[36m[web-1/app]\x1b[0m one\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			l := New(fake.NewClientset(), testNS, "x=y", &out, WithColor(tt.color))
			var last time.Time
			if _, err := l.copy(strings.NewReader(tt.in), "web-1", "app", tt.after, &last); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("output = %q, want %q", out.String(), tt.want)
			}
		})
	}
}

func TestPrinterColoursPerPod(t *testing.T) {
	var out bytes.Buffer
	p := &printer{w: &out, color: true, colors: map[string]string{}}
	p.line("a", "c", "1")
	p.line("b", "c", "2")
	p.line("a", "d", "3")
	want := "\x1b[36m[a/c]\x1b[0m 1\n\x1b[33m[b/c]\x1b[0m 2\n\x1b[36m[a/d]\x1b[0m 3\n"
	if out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
}

// A dropped stream is opened again from its last line, and the lines the
// second stream repeats (SinceTime is in whole seconds) are not shown twice;
// a container not started yet is waited for; a pod that appears later is
// shown from its first line, not its tail.
func TestLogsFollow(t *testing.T) {
	old := pod("web-1", 1, true)
	cs := fake.NewClientset(old)
	fl := &fakeLogs{streams: map[string][]string{
		"web-1/web": {ts(1) + " one\n" + ts(2) + " two\n", ts(2) + " two\n" + ts(3) + " three\n"},
		"web-2/web": {"notfound", "waiting", ts(4) + " new pod\n"},
	}, calls: map[string][]corev1.PodLogOptions{}}
	var out testkit.LockedBuffer
	l := New(cs, testNS, "app.kubernetes.io/instance=web", &out, WithTail(10))
	l.o.maxWait = 20 * time.Millisecond
	l.open = fl.open
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	waitFor(t, &out, "[web-1/web] three\n")
	create(t, cs, pod("web-2", 2, false))
	waitFor(t, &out, "[web-2/web] new pod\n")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	want := "[web-1/web] one\n[web-1/web] two\n[web-1/web] three\n[web-2/web] new pod\n"
	if out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
	calls := fl.callsOf("web-1/web")
	if len(calls) < 2 || calls[0].TailLines == nil || *calls[0].TailLines != 10 || calls[0].SinceTime != nil {
		t.Fatalf("first open of web-1 = %+v, want the tail of 10 lines", calls)
	}
	if calls[1].TailLines != nil || calls[1].SinceTime == nil || calls[1].SinceTime.Second() != 2 || !calls[1].Follow || !calls[1].Timestamps {
		t.Errorf("second open of web-1 = %+v, want since its last line, following", calls[1])
	}
	if c := fl.callsOf("web-2/web"); len(c) < 2 || c[0].TailLines != nil {
		t.Errorf("opens of the new pod = %+v, want all its lines", c)
	}
}

func waitFor(t *testing.T, out *testkit.LockedBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("output %q never had %q", out.String(), s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLogsPrint(t *testing.T) {
	a, b := pod("web-a", 1, true), pod("web-b", 2, true)
	b.Spec.Containers = append(b.Spec.Containers, corev1.Container{Name: "sidecar"})
	tests := []struct {
		name    string
		pods    []*corev1.Pod
		opts    []Option
		want    string
		wantErr string
	}{
		{name: "oldest pod first", pods: []*corev1.Pod{b, a}, opts: []Option{WithFollow(false)},
			want: "[web-a/web] a\n[web-b/web] b\n[web-b/sidecar] s\n"},
		{name: "one container", pods: []*corev1.Pod{b, a}, opts: []Option{WithFollow(false), WithContainer("sidecar")},
			want: "[web-b/sidecar] s\n"},
		{name: "no such container", pods: []*corev1.Pod{a}, opts: []Option{WithFollow(false), WithContainer("db")},
			wantErr: `the pods have no container "db": choose one of web`},
		{name: "no pods", opts: []Option{WithFollow(false)}, wantErr: kube.ErrNoPods.Error()},
		{name: "previous does not follow", pods: []*corev1.Pod{a}, opts: []Option{WithPrevious(true)},
			want: "[web-a/web] a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset()
			for _, p := range tt.pods {
				create(t, cs, p)
			}
			fl := &fakeLogs{streams: map[string][]string{
				"web-a/web": {ts(1) + " a\n"}, "web-b/web": {ts(2) + " b\n"}, "web-b/sidecar": {ts(3) + " s\n"},
			}, calls: map[string][]corev1.PodLogOptions{}}
			var out bytes.Buffer
			l := New(cs, testNS, "app.kubernetes.io/instance=web", &out, tt.opts...)
			l.open = fl.open
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := l.Run(ctx)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Run = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("output = %q, want %q", out.String(), tt.want)
			}
			for _, calls := range fl.calls {
				for _, c := range calls {
					if c.Follow {
						t.Errorf("opened with Follow: %+v", c)
					}
				}
			}
		})
	}
}

func TestLogsFollowNoPods(t *testing.T) {
	l := New(fake.NewClientset(), testNS, "app.kubernetes.io/instance=web", io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Run(ctx); !errors.Is(err, kube.ErrNoPods) {
		t.Fatalf("Run = %v, want kube.ErrNoPods", err)
	}
}

// A log request that could not be made is told by the API server's address
// and the network's reason, not by the request's whole URL.
func TestAPIMessageOfAnUnreachableServer(t *testing.T) {
	err := &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api/v1/namespaces/ns/pods/p/log?follow=true",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	got := apiMessage(fmt.Errorf("streaming: %w", err))
	if want := "the API server at 127.0.0.1:6443 cannot be reached (connection refused)"; got != want {
		t.Errorf("apiMessage = %q, want %q", got, want)
	}
}

// draft logs -f of a release that is deleted returns kube.ErrGone.
func TestLogsStopWhenTheReleaseIsGone(t *testing.T) {
	cs := fake.NewClientset(pod("a", 1, true, testkit.Port("http", 8080)))
	var out testkit.LockedBuffer
	l := New(cs, testNS, "app.kubernetes.io/instance=web", &out, WithStopWhenGone(), func(o *options) { o.vacancy = 50 * time.Millisecond })
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background()) }()
	time.Sleep(200 * time.Millisecond)
	if err := cs.CoreV1().Pods(testNS).Delete(context.Background(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, kube.ErrGone) {
			t.Fatalf("Run = %v, want kube.ErrGone", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stream.Run did not notice that the release is gone")
	}
}

const testNS = "apps"

func pod(name string, age int, ready bool, ports ...corev1.ContainerPort) *corev1.Pod {
	return testkit.Pod(testNS, name, age, ready, ports...)
}

func create(t *testing.T, cs *fake.Clientset, p *corev1.Pod) { testkit.CreatePod(t, cs, p) }
