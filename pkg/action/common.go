package action

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/draftk8s/draft/pkg/config"
	"github.com/draftk8s/draft/pkg/ui"
)

// runHostTasks runs tasks on this machine with sh -c in dir, in name order,
// their output on the UI; the first failure stops them.
func runHostTasks(ctx context.Context, u *ui.UI, dir, kind string, tasks map[string]string, done func(name string, err error)) error {
	for _, t := range config.Ordered(tasks) {
		if u != nil {
			u.Printf("%s task %s: %s", kind, t.Name, t.Command)
		}
		cmd := exec.CommandContext(ctx, "sh", "-c", t.Command)
		cmd.Dir = dir
		var out bytes.Buffer
		if u != nil {
			cmd.Stdout, cmd.Stderr = u.Writer(), u.Writer()
		} else {
			cmd.Stdout, cmd.Stderr = &out, &out
		}
		err := cmd.Run()
		if done != nil {
			done(t.Name, err)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("the %s task %s (%s) failed: %v%s", kind, t.Name, t.Command, err, tail(out.String()))
		}
	}
	return nil
}

// tail is the last lines of a task's output, for its error.
func tail(s string) string {
	lines := ui.LastLines(strings.TrimSpace(s), 5)
	if len(lines) == 0 {
		return ""
	}
	return ": " + strings.Join(lines, " | ")
}
