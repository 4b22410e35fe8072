package action

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/draftk8s/draft/pkg/config"
	"github.com/draftk8s/draft/pkg/connect"
	"github.com/draftk8s/draft/pkg/kube"
	"github.com/draftk8s/draft/pkg/logs"
	"github.com/draftk8s/draft/pkg/ui"
)

// Connect forwards the ports of the app's pods to localhost and streams
// their logs until ctx ends, following the pods as they are replaced.
//
// An up loop starts it in the background with the cluster it resolved:
//
//	c := &action.Connect{Target: up.Target, UI: u, Logs: out, Tail: 10,
//		OnReady: func(m []action.PortMapping) { ... }}
//	go func() { errc <- c.Run(ctx) }()
type Connect struct {
	Target // an up loop passes its own, with the cluster it resolved

	// OverridePorts are LOCAL:REMOTE mappings (--override-port); they win
	// over draft.toml's override-ports for the same pod port.
	OverridePorts []string
	// Hold is how long a new connection waits for a Ready pod (0: 30 s).
	Hold time.Duration
	// StopWhenGone ends Run with an error when the release is deleted (no
	// pod and no workload left); else connect waits for the next deploy.
	StopWhenGone bool

	// Logs receives the app's log lines, prefixed by [pod/container]; nil
	// for none. Tail is the lines of history of each container first.
	Logs  io.Writer
	Tail  int64
	Color bool // colour the prefixes (Logs is a terminal)

	// UI receives draft's own messages (stderr): which pod the ports go to,
	// held and failed connections, log streams that drop.
	UI *ui.UI
	// OnReady is called once, when the local ports listen, before any log
	// line is written.
	OnReady func([]PortMapping)

	// restarted tells whether watch mode's live update restarted the app
	// in a pod of the release after since (nil: no live update).
	restarted func(release, pod string, since time.Time) bool
}

// PortMapping is one forwarded port: its local URL and its pod port.
type PortMapping = connect.Mapping

// appPods is a release resolved to the cluster and the selector of its pods.
type appPods struct {
	env      *config.Environment
	release  string
	cluster  *kube.Cluster
	selector string
}

// pods reads draft.toml and resolves the cluster as up does, the
// local-cluster guard included.
func (t *Target) pods(ctx context.Context) (*appPods, error) {
	a, err := t.load()
	if err != nil {
		return nil, err
	}
	cluster, err := t.resolve(ctx, a.env)
	if err != nil {
		return nil, err
	}
	return &appPods{env: a.env, release: a.release, cluster: cluster, selector: "app.kubernetes.io/instance=" + a.release}, nil
}

func (a *appPods) noPods() error {
	return fmt.Errorf("release %s has no pods in namespace %s: run draft up first (or pick the namespace with -n)", a.release, a.cluster.Namespace)
}

func (c *Connect) say(format string, args ...any) {
	c.UI.Printf(format, args...)
}

// Run connects until ctx ends, then returns nil. It fails when the release
// has no pods or a local port asked for is taken.
func (c *Connect) Run(ctx context.Context) error {
	a, err := c.pods(ctx)
	if err != nil {
		return err
	}
	overrides, err := connect.ParseMappings(a.env.OverridePorts)
	if err != nil {
		return fmt.Errorf("draft.toml: override-ports: %w", err)
	}
	flags, err := connect.ParseMappings(c.OverridePorts)
	if err != nil {
		return fmt.Errorf("--override-port: %w", err)
	}
	overrides = mergeMappings(overrides, flags)

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan []connect.Mapping, 1)
	opts := []connect.Option{
		connect.WithOverrides(overrides...), connect.WithDialer(c.Deps.DialPod),
		connect.WithReady(func(m []connect.Mapping) { ready <- m }),
		connect.WithEvents(func(e connect.Event) {
			if e.Kind != "retry" { // a connection sent again to the next pod: all is well
				c.say("%s", e.Message)
			}
		}),
	}
	if c.Hold > 0 {
		opts = append(opts, connect.WithHold(c.Hold))
	}
	if c.StopWhenGone {
		opts = append(opts, connect.WithStopWhenGone())
	}
	if c.restarted != nil {
		release := a.release
		opts = append(opts, connect.WithRestarts(func(pod string, since time.Time) bool { return c.restarted(release, pod, since) }))
	}
	fw := connect.New(a.cluster.Config, a.cluster.Client, a.cluster.Namespace, a.selector, opts...)
	fwErr := make(chan error, 1)
	go func() { fwErr <- fw.Run(ctx) }()
	select {
	case m := <-ready:
		if c.OnReady != nil {
			c.OnReady(m)
		}
	case err := <-fwErr:
		return c.fail(parent, a, err)
	}

	logsErr := make(chan error, 1)
	if c.Logs != nil {
		stream := logs.New(a.cluster.Client, a.cluster.Namespace, a.selector, c.Logs,
			logs.WithTail(c.Tail), logs.WithColor(c.Color),
			logs.WithEvents(func(e logs.Event) {
				if e.Kind != "vacant" { // the forwarder says it
					c.say("%s", e.Message)
				}
			}))
		go func() { logsErr <- stream.Run(ctx) }()
	} else {
		logsErr <- nil
	}
	err = <-fwErr
	cancel()
	if lerr := <-logsErr; lerr != nil && !errors.Is(lerr, context.Canceled) && !errors.Is(lerr, kube.ErrNoPods) {
		c.say("streaming the logs of %s: %v", a.release, lerr)
	}
	return c.fail(parent, a, err)
}

// fail turns what the forwarder returned into one sentence.
func (c *Connect) fail(ctx context.Context, a *appPods, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kube.ErrNoPods):
		return a.noPods()
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, kube.ErrGone):
		return fmt.Errorf("release %s is gone: no pod and no workload of it are left in namespace %s (deleted with draft delete or helm uninstall?); draft up deploys it again", a.release, a.cluster.Namespace)
	}
	return fmt.Errorf("connecting to release %s: %w", a.release, err)
}

// mergeMappings lays over on base: the same pod port takes over's local port.
func mergeMappings(base, over []connect.Mapping) []connect.Mapping {
	out := append([]connect.Mapping(nil), over...)
	for _, b := range base {
		dup := false
		for _, o := range over {
			dup = dup || o.Remote == b.Remote
		}
		if !dup {
			out = append(out, b)
		}
	}
	return out
}
