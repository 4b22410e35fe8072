package cli

import (
	"github.com/spf13/cobra"

	"github.com/draftk8s/draft/pkg/action"
	"github.com/draftk8s/draft/pkg/ui"
)

func newLogsCommand(s streams) *cobra.Command {
	l := &action.Logs{}
	cmd := &cobra.Command{
		Use:   "logs [DIR | NAME...]",
		Short: "Stream the logs of the app's pods, each line prefixed by pod/container",
		Long: `Stream the logs of every container of the app's pods to stdout, each line prefixed
by [pod/container], following new pods as they start, until Ctrl-C. With --follow=false,
print what there is and exit. At a project's root, the logs of every app (NAME: those).`,
		Example: `  draft logs
  draft logs --follow=false --tail 100
  draft logs --previous --container web`,
		Args: usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := l.Target.Args(args)
			if err != nil {
				return usageError{err}
			}
			l.UI = ui.New(s.Err)
			l.Out, l.Color = s.Out, ui.New(s.Out).Terminal()
			if l.IsProject() {
				return (&action.ProjectLogs{Logs: *l, Only: names}).Run(cmd.Context())
			}
			return l.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&l.Follow, "follow", "f", true, "keep streaming, and follow new pods")
	f.Int64Var(&l.Tail, "tail", -1, "lines of each container's past log to show (-1 for all)")
	f.DurationVar(&l.Since, "since", 0, "only lines newer than this (5s, 2m, 3h)")
	f.BoolVarP(&l.Previous, "previous", "p", false, "the logs of the previous instance of each container (one that crashed); implies --follow=false")
	f.StringVarP(&l.Container, "container", "c", "", "only this container")
	addTargetFlags(f, &l.Target)
	return cmd
}
