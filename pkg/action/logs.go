package action

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/draftk8s/draft/pkg/kube"
	"github.com/draftk8s/draft/pkg/logs"
	"github.com/draftk8s/draft/pkg/ui"
)

// Logs writes the logs of the app's pods, each line prefixed by
// [pod/container]; with Follow it streams them, new pods included, until
// ctx ends.
type Logs struct {
	Target

	Follow    bool
	Tail      int64 // lines of history per container; -1 for all
	Since     time.Duration
	Previous  bool   // the previous instance of each container (one that crashed)
	Container string // only this container

	Out   io.Writer // the log lines
	Color bool      // colour the prefixes (Out is a terminal)
	UI    *ui.UI    // draft's own messages (stderr)
}

// Run writes the logs; with Follow it returns nil when ctx ends.
func (l *Logs) Run(ctx context.Context) error {
	a, err := l.pods(ctx)
	if err != nil {
		return err
	}
	opts := []logs.Option{
		logs.WithFollow(l.Follow), logs.WithTail(l.Tail), logs.WithSince(l.Since),
		logs.WithPrevious(l.Previous), logs.WithContainer(l.Container), logs.WithColor(l.Color),
		logs.WithEvents(func(e logs.Event) {
			l.UI.Printf("%s", e.Message)
		}),
		logs.WithStopWhenGone(), // a followed release that is deleted ends draft logs
	}
	err = logs.New(a.cluster.Client, a.cluster.Namespace, a.selector, l.Out, opts...).Run(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kube.ErrNoPods):
		return a.noPods()
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, kube.ErrGone):
		return fmt.Errorf("release %s is gone: no pod and no workload of it are left in namespace %s (deleted with draft delete or helm uninstall?)", a.release, a.cluster.Namespace)
	}
	return fmt.Errorf("the logs of release %s: %w", a.release, err)
}
