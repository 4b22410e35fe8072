package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newCompletionCommand(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a completion script for your shell.

  bash:       source <(draft completion bash)
  zsh:        draft completion zsh > "${fpath[1]}/_draft"
  fish:       draft completion fish > ~/.config/fish/completions/draft.fish
  powershell: draft completion powershell | Out-String | Invoke-Expression`,
		Args:      usageArgs(cobra.ExactArgs(1)),
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(s.Out, true)
			case "zsh":
				return root.GenZshCompletion(s.Out)
			case "fish":
				return root.GenFishCompletion(s.Out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(s.Out)
			}
			return usageError{fmt.Errorf("unknown shell %q: choose bash, zsh, fish or powershell", args[0])}
		},
	}
}
