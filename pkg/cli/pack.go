package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/draftk8s/draft/pkg/pack"
)

func newPackCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pack",
		Short: "Work with packs, the per-language recipes draft create uses",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	var dir string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the built-in packs and your own",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			packs, err := pack.Load(dir)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSOURCE\tDESCRIPTION")
			for _, p := range packs {
				src := p.Source
				if p.Overrides {
					src += " (overrides built-in)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, src, p.Description)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&dir, "pack-dir", s.Env.PacksDir(), "a folder of your own packs")
	cmd.AddCommand(list)
	return cmd
}
