package cli

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/draftk8s/draft/pkg/action"
	"github.com/draftk8s/draft/pkg/ui"
	"github.com/spf13/pflag"
)

func newUpCommand(s streams) *cobra.Command {
	u := &action.Up{}
	sess := &action.Session{Up: u}
	var output string
	var watching, autoConnect bool
	cmd := &cobra.Command{
		Use:   "up [DIR | NAME...]",
		Short: "Build the app's image, push it and deploy its chart; wait until it is ready",
		Long: `Build the image of the app in DIR (default: the current directory), push it to the
registry, and install or upgrade its Helm release with the image pinned by digest. up
waits until the new pods are Ready; when they do not become Ready it says why and rolls
back to the previous revision, which keeps serving.

With nothing changed, up does nothing and says so. Where it can, up builds without
Docker: a Go app is compiled here, and when only the source of an app changed, only the
image's top layer is replaced (--builder auto, the default).

At a project's root (a draft.toml that lists [apps] and [services], which draft
create writes for a repository of several apps), up builds the apps (two at once)
and deploys each as its own release after what it needs, the services first; NAME
ups only those apps and what they need. An app that fails is rolled back alone.`,
		Example: `  draft up
  draft up -e staging --registry registry.example.com/team
  draft up --builder docker --output json`,
		Args: usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := u.Target.Args(args)
			if err != nil {
				return usageError{err}
			}
			sess.Names = names
			if u.Timeout < 0 {
				return usageError{fmt.Errorf("--timeout %s: give a positive duration, such as 2m or 90s", u.Timeout)}
			}
			switch u.Builder {
			case "", action.BuilderAuto, action.BuilderDocker, action.BuilderDaemonless:
			default:
				return usageError{fmt.Errorf("--builder %q: choose auto, docker or daemonless", u.Builder)}
			}
			u.UI = ui.New(s.Err)
			u.Settings = s.Env
			switch output {
			case "":
				sess.Done = func(res *action.UpResult) { fmt.Fprintln(s.Out, res.Image) }
			case "json":
				var mu sync.Mutex
				enc := json.NewEncoder(s.Out)
				u.Events = func(e action.Event) {
					mu.Lock()
					defer mu.Unlock()
					_ = enc.Encode(e)
				}
			default:
				return usageError{fmt.Errorf("unknown output format %q: use --output json or leave it out", output)}
			}
			if cmd.Flags().Changed("watch") {
				sess.Watch = &watching
			}
			if cmd.Flags().Changed("auto-connect") {
				sess.AutoConnect = &autoConnect
			}
			sess.Connect = upConnect(s, u)
			sess.ProjectReady = func(apps []string, ports map[string][]action.PortMapping) {
				for _, app := range apps {
					for _, m := range ports[app] {
						if u.Events != nil {
							u.Events(action.Event{Event: action.EventForward, Time: time.Now(), Release: app, URL: m.URL(), Port: m.Remote})
						} else {
							fmt.Fprintf(s.Out, "%s: %s\n", app, m)
						}
					}
				}
			}
			err = sess.Run(cmd.Context())
			printDiagnosis(u.UI, err)
			return err
		},
	}
	addUpFlags(cmd.Flags(), sess, &watching, &autoConnect, &output)
	return cmd
}

// addUpFlags sets up's flags into the session and its up.
func addUpFlags(f *pflag.FlagSet, sess *action.Session, watching, autoConnect *bool, output *string) {
	u := sess.Up
	f.StringVar(&u.Registry, "registry", "", "where to push the image (default: draft.toml's registry, else $DRAFT_REGISTRY)")
	f.StringVar(&u.Builder, "builder", "", "auto, docker or daemonless (default: draft.toml's builder, else auto)")
	f.BoolVar(&u.CreateNamespace, "create-namespace", false, "create the namespace if it does not exist")
	f.DurationVar(&u.Timeout, "timeout", 0, "how long to wait for the rollout (default 2m)")
	f.BoolVarP(watching, "watch", "w", false, "keep going: redeploy on every change (default: draft.toml's watch)")
	f.BoolVar(autoConnect, "auto-connect", false, "after up, connect: forward the ports and stream the logs (default: draft.toml's auto-connect)")
	f.DurationVar(&sess.Delay, "watch-delay", 0, "quiet time after a change before a redeploy (default: draft.toml's watch-delay, else 200ms)")
	f.BoolVar(&sess.NoLiveUpdate, "no-live-update", false, "in watch mode, rebuild every change (default: sync source changes into the running pods, unless draft.toml says live-update = false)")
	f.BoolVar(&sess.KeepLive, "keep-live", false, "when watch mode ends, leave its image (with draft's agent) deployed instead of deploying the exact image of the tree")
	f.StringVarP(output, "output", "o", "", "json: one JSON event per line on stdout (build, push, deploy, ready, error)")
	addTargetFlags(f, &u.Target)
}

// printDiagnosis shows the failed pod's last log lines and events above the
// one-line error.
func printDiagnosis(u *ui.UI, err error) {
	for _, line := range action.DiagnosisLines(err) {
		u.Printf("%s", line)
	}
}
