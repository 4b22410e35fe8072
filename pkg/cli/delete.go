package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/draftk8s/draft/pkg/action"
	"github.com/draftk8s/draft/pkg/ui"
)

func newDeleteCommand(s streams) *cobra.Command {
	d := &action.Delete{}
	cmd := &cobra.Command{
		Use:   "delete [DIR]",
		Short: "Uninstall the app's release and wait until its pods are gone",
		Args:  usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				d.Dir = args[0]
			}
			d.UI = ui.New(s.Err)
			res, err := d.Run(cmd.Context())
			if err != nil {
				return err
			}
			if res.NotFound {
				d.UI.Printf("there is no release %s in namespace %s: nothing to delete", res.Release, res.Namespace)
				return nil
			}
			d.UI.Printf("deleted release %s from namespace %s", res.Release, res.Namespace)
			fmt.Fprintln(s.Out, res.Release)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&d.Environment, "environment", "e", "", "the draft.toml environment (default: development)")
	f.StringVar(&d.Release, "release", "", "the release to delete (default: draft.toml's name)")
	f.BoolVar(&d.IgnoreNotFound, "ignore-not-found", false, "succeed when there is no such release")
	addKubeFlags(f, &d.Kube, &d.AllowContexts)
	return cmd
}
