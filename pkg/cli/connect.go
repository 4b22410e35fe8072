package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/draftk8s/draft/pkg/action"
	"github.com/draftk8s/draft/pkg/ui"
)

func newConnectCommand(s streams) *cobra.Command {
	c := &action.Connect{StopWhenGone: true} // a deleted release ends draft connect
	var noLogs bool
	cmd := &cobra.Command{
		Use:   "connect [DIR | NAME...]",
		Short: "Forward the app's ports to localhost and stream its logs, following its pods",
		Long: `Forward every container port of the app's pods to localhost (the same port when it
is free, else a free one) and stream the logs of their containers, until Ctrl-C.

The local ports stay open while the pods are replaced (draft up, a crash, kubectl
delete pod): each new connection goes to the newest Ready pod, and waits for one when
there is none. connect runs a new pod's readiness probe itself, so a new pod takes
connections as soon as its app answers, before Kubernetes marks it Ready. The local URLs, then the app's log lines, go to stdout; draft's own
messages go to stderr.

At a project's root, connect forwards every app's port (NAME: those apps'), each on a
local port that is the same on every run: the app's own number, or, when an app
before it by name has that one, the next free number. The logs of every app follow.`,
		Example: `  draft connect
  draft connect --override-port 9000:8080 --no-logs
  draft connect -e staging --tail 50`,
		Args: usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := c.Target.Args(args)
			if err != nil {
				return usageError{err}
			}
			c.UI = ui.New(s.Err)
			c.OnReady = func(ms []action.PortMapping) {
				printURLs(s, ms)
				c.UI.Printf("connected: Ctrl-C to stop")
			}
			if !noLogs {
				c.Logs, c.Color = s.Out, ui.New(s.Out).Terminal()
			}
			if c.IsProject() {
				pc := &action.ProjectConnect{Connect: *c, Only: names, OnReady: func(apps []string, ports map[string][]action.PortMapping) {
					for _, app := range apps {
						for _, m := range ports[app] {
							fmt.Fprintf(s.Out, "%s: %s\n", app, m)
						}
					}
					c.UI.Printf("connected to %d apps: Ctrl-C to stop", len(apps))
				}}
				return pc.Run(cmd.Context())
			}
			return c.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&c.OverridePorts, "override-port", nil, "LOCAL:REMOTE: forward pod port REMOTE to local port LOCAL (repeatable; adds to draft.toml's override-ports)")
	f.Int64Var(&c.Tail, "tail", 10, "lines of each container's past log to show first (-1 for all)")
	f.BoolVar(&noLogs, "no-logs", false, "forward the ports only; do not stream the logs")
	addTargetFlags(f, &c.Target)
	return cmd
}

// printURLs writes connect's local URLs on stdout, one a line.
func printURLs(s streams, ms []action.PortMapping) {
	for _, m := range ms {
		fmt.Fprintln(s.Out, m)
	}
}

// upConnect is how --auto-connect connects after up: its URLs on stdout,
// or as forward events with --output json (then stdout carries nothing
// else: the app's logs are not streamed).
func upConnect(s streams, u *action.Up) *action.Connect {
	c := &action.Connect{Tail: 10}
	c.OnReady = func(ms []action.PortMapping) { printURLs(s, ms) }
	if u.Events != nil {
		c.OnReady = func(ms []action.PortMapping) {
			for _, m := range ms {
				u.Events(action.Event{Event: action.EventForward, Time: time.Now(), URL: m.URL(), Port: m.Remote})
			}
		}
	} else {
		c.Logs, c.Color = s.Out, ui.New(s.Out).Terminal()
	}
	return c
}
