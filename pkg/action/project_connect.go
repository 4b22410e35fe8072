package action

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/draftk8s/draft/pkg/deploy"
	"github.com/draftk8s/draft/pkg/pack"
)

// ProjectConnect connects to every app of a project (or those Only names):
// each app's port on a local port that is the same on every run (its own
// number, unless an app before it in name order has it: then the next
// free number, and the same clash resolved the same way every time), and
// the logs of all of them, each line prefixed by [pod/container] (a pod's
// name starts with its app's).
type ProjectConnect struct {
	// Connect is what every app's connect takes: the root's Target (Dir is
	// the project's root), Logs, Tail, Color, UI, Hold.
	Connect Connect
	Only    []string
	// OnReady is told once, when every app's ports listen: the apps in
	// name order, and each one's ports.
	OnReady func(apps []string, ports map[string][]PortMapping)
}

// Run connects until ctx ends; an app that cannot be connected to ends it
// with an error that names the app.
func (p *ProjectConnect) Run(ctx context.Context) error {
	a, cluster, err := p.Connect.openProject(ctx, true)
	if err != nil {
		return err
	}
	apps := slices.Sorted(func(yield func(string) bool) {
		for n := range a.cfg.Apps {
			if len(p.Only) == 0 || slices.Contains(p.Only, n) {
				if !yield(n) {
					return
				}
			}
		}
	})
	if len(apps) == 0 {
		return fmt.Errorf("%s: none of %s is an app of the project (services are reached by the apps, in the cluster)", a.cfg.Path, strings.Join(p.Only, ", "))
	}
	plan, err := projectPorts(a, apps)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	ready := map[string][]PortMapping{}
	return eachApp(apps, func(name string) error {
		c := p.Connect // a copy: its own Target
		c.Target = a.appTarget(c.Target, name, cluster)
		c.OverridePorts = plan[name]
		c.OnReady = func(m []PortMapping) {
			mu.Lock()
			ready[name] = m
			all := len(ready) == len(apps)
			mu.Unlock()
			if all && p.OnReady != nil {
				p.OnReady(apps, ready)
			}
		}
		err := c.Run(ctx)
		if err != nil {
			cancel() // one app that cannot be reached ends them all
		}
		return err
	})
}

// projectPorts gives each app's port (its chart's containerPort) a local
// port: the same number, else, when an app before it (by name) has it, the
// next number no app has.
func projectPorts(a *app, apps []string) (map[string][]string, error) {
	taken := map[int]string{}
	plan := map[string][]string{}
	for _, name := range apps {
		dir := filepath.Join(a.dir, filepath.FromSlash(a.cfg.Apps[name].Path))
		v, err := deploy.ChartValues(filepath.Join(dir, pack.ChartDir(name)))
		if err != nil {
			return nil, err
		}
		var port int
		switch n := v["containerPort"].(type) {
		case float64:
			port = int(n)
		case int64:
			port = int(n)
		case int:
			port = n
		}
		if port <= 0 {
			continue // connect forwards what the pods declare
		}
		local := port
		for taken[local] != "" {
			local++
		}
		taken[local] = name
		plan[name] = []string{fmt.Sprintf("%d:%d", local, port)}
	}
	return plan, nil
}

// ProjectLogs writes the logs of every app of a project (or those Only
// names), each line prefixed by [pod/container] (a pod's name starts with
// its app's); with Follow, until ctx ends.
type ProjectLogs struct {
	// Logs is what every app's logs take: the root's Target, Out, Follow,
	// Tail, Since, Previous, Container, Color, UI.
	Logs Logs
	Only []string
}

// Run writes the logs; an app without pods is said, and the others go on.
func (p *ProjectLogs) Run(ctx context.Context) error {
	a, cluster, err := p.Logs.openProject(ctx, true)
	if err != nil {
		return err
	}
	out := &lockedWriter{w: p.Logs.Out}
	var apps []string
	for name := range a.cfg.Apps {
		if len(p.Only) == 0 || slices.Contains(p.Only, name) {
			apps = append(apps, name)
		}
	}
	slices.Sort(apps)
	return eachApp(apps, func(name string) error {
		l := p.Logs // a copy: its own Target
		l.Target = a.appTarget(l.Target, name, cluster)
		l.Out = out
		if err := l.Run(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	})
}

// eachApp runs f for every app at once and joins their errors, each
// named by its app.
func eachApp(apps []string, f func(name string) error) error {
	errs := make([]error, len(apps))
	var wg sync.WaitGroup
	for i, name := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(name); err != nil {
				errs[i] = fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// lockedWriter lets several log streams write whole lines to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
