package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/draftk8s/draft/pkg/config"
)

// Exit codes. 1 is any failure that has no more specific code.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 2
	ExitCanceled = 130
)

// streams are the writers a command prints to (results on Out, everything
// else on Err), and draft's environment variables, read once.
type streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	Env config.Settings
}

// Execute runs draft with args and returns the process exit code. Errors are
// printed on stderr as one line.
func Execute(ctx context.Context, in io.Reader, out, errOut io.Writer, args []string) int {
	env, err := config.ReadSettings(os.Getenv)
	if err != nil {
		fmt.Fprintf(errOut, "Error: %s\n", err)
		return ExitFailure
	}
	if env.PprofAddr != "" {
		servePprof(env.PprofAddr, errOut)
	}
	s := streams{In: in, Out: out, Err: errOut, Env: env}
	root := NewRootCommand(s)
	root.SetArgs(args)
	err = root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	msg := err.Error()
	if errors.Is(err, context.Canceled) {
		// "interrupted while building: ...: context canceled" says it twice.
		if m := strings.TrimSuffix(msg, ": "+context.Canceled.Error()); strings.Contains(m, "interrupted") {
			msg = m
		}
	}
	fmt.Fprintf(errOut, "Error: %s\n", msg)
	var ue usageError
	switch {
	case errors.As(err, &ue), strings.HasPrefix(err.Error(), "unknown command"):
		return ExitUsage
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return ExitCanceled
	default:
		return ExitFailure
	}
}

// usageError marks a mistake in the command line itself.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// usageArgs marks a command's argument errors as usage errors (exit code 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w; see draft %s --help", err, cmd.Name())}
		}
		return nil
	}
}

// NewRootCommand builds the draft command tree.
func NewRootCommand(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "draft",
		Short: "draft takes an application to a Kubernetes cluster and keeps it there while you code",
		Long: `draft is a tool for the Kubernetes inner loop.

  draft create     detect the language and write a Dockerfile, a Helm chart and draft.toml
  draft up         build, push and deploy the app; wait until it is ready
  draft delete     uninstall the app's release
  draft pack list  list the packs draft can use`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetIn(s.In)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError{flagError(err)}
	})
	root.AddCommand(
		newCreateCommand(s),
		newUpCommand(s),
		newConnectCommand(s),
		newLogsCommand(s),
		newDeleteCommand(s),
		newPackCommand(s),
		newVersionCommand(s),
		newCompletionCommand(s),
	)
	return root
}

// badFlagValue is pflag's message for a value it cannot parse.
var badFlagValue = regexp.MustCompile(`^invalid argument "(.*)" for "(?:-\w, )?(--[\w-]+)" flag: (.*)$`)

// flagError says in one sentence what is wrong with a flag's value, without
// the parser's own words (strconv.ParseInt: parsing "abc": invalid syntax).
func flagError(err error) error {
	m := badFlagValue.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	value, flag, cause := m[1], m[2], m[3]
	switch {
	case strings.Contains(cause, "strconv.Parse"):
		return fmt.Errorf("%s %s: not a whole number", flag, value)
	case strings.Contains(cause, "time: "):
		return fmt.Errorf("%s %s: not a duration (such as 90s, 2m or 1h30m)", flag, value)
	}
	return fmt.Errorf("%s %s: %s", flag, value, cause)
}
