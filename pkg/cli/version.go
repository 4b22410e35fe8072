package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/draftk8s/draft/pkg/version"
)

func newVersionCommand(s streams) *cobra.Command {
	var short bool
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of draft",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version.Get()
			switch {
			case output == "json":
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			case output != "":
				return usageError{fmt.Errorf("unknown output format %q: use --output json or leave it out", output)}
			case short:
				fmt.Fprintln(s.Out, v.Version)
			default:
				fmt.Fprintf(s.Out, "draft %s (commit %s, %s, %s)\n", v.Version, orNone(v.GitCommit), v.GoVersion, v.Platform)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&short, "short", false, "print the version number only")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
