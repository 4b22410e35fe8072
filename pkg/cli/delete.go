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
			setDir(&d.Target, args)
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
	f.BoolVar(&d.IgnoreNotFound, "ignore-not-found", false, "succeed when there is no such release")
	addTargetFlags(f, &d.Target)
	return cmd
}
