package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/draftk8s/draft/pkg/action"
	"github.com/draftk8s/draft/pkg/ui"
)

func newDeleteCommand(s streams) *cobra.Command {
	d := &action.Delete{}
	var purge bool
	cmd := &cobra.Command{
		Use:   "delete [DIR | NAME...]",
		Short: "Uninstall the app's release and wait until its pods are gone",
		Long: `Uninstall the release of the app in DIR (default: the current directory) and wait
until its pods are gone.

At a project's root, delete uninstalls every app's release, then the services', in
the reverse of the deploy order (NAME: only those). The services' data (their
volumes) and passwords (Secrets) are kept for the next draft up; --purge removes them.`,
		Args: usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := d.Target.Args(args)
			if err != nil {
				return usageError{err}
			}
			d.UI = ui.New(s.Err)
			if d.IsProject() {
				return deleteProject(cmd, s, d, names, purge)
			}
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
	f.BoolVar(&purge, "purge", false, "at a project's root: also remove the services' data and passwords")
	addTargetFlags(f, &d.Target)
	return cmd
}

// deleteProject deletes a project's releases and says what data it kept.
func deleteProject(cmd *cobra.Command, s streams, d *action.Delete, names []string, purge bool) error {
	res, err := (&action.ProjectDelete{Target: d.Target, Only: names, Purge: purge, UI: d.UI}).Run(cmd.Context())
	if res != nil {
		for _, r := range res.Deleted {
			d.UI.Printf("deleted release %s from namespace %s", r, res.Namespace)
			fmt.Fprintln(s.Out, r)
		}
		if len(res.Missing) > 0 {
			d.UI.Printf("not there (nothing to delete): %s", strings.Join(res.Missing, ", "))
		}
		if len(res.Kept) > 0 {
			d.UI.Printf("kept the services' data and passwords for the next draft up: %s (draft delete --purge removes them)", strings.Join(res.Kept, ", "))
		}
		if len(res.Purged) > 0 {
			d.UI.Printf("removed: %s", strings.Join(res.Purged, ", "))
		}
	}
	return err
}
