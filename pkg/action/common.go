package action

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/draftk8s/draft/pkg/config"
	"github.com/draftk8s/draft/pkg/ui"
)

// appDir makes dir absolute and checks it is a directory.
func appDir(dir string) (string, error) {
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory: give the application's directory, or run draft inside it", dir)
	}
	return abs, nil
}

func envName(name string) string {
	if name == "" {
		return config.DefaultEnvironment
	}
	return name
}

// loadApp resolves the application's directory (see appDir) and loads its
// draft.toml environment (see loadEnvironment).
func loadApp(dir, environment string) (string, *config.Config, *config.Environment, error) {
	abs, err := appDir(dir)
	if err != nil {
		return "", nil, nil, err
	}
	cfg, env, err := loadEnvironment(abs, environment)
	if err != nil {
		return "", nil, nil, err
	}
	return abs, cfg, env, nil
}

// loadEnvironment reads dir/draft.toml and picks the environment.
func loadEnvironment(dir, name string) (*config.Config, *config.Environment, error) {
	path := filepath.Join(dir, config.FileName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("there is no draft.toml in %s: run draft create first", dir)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	env, err := cfg.Environment(name)
	if err != nil {
		return nil, nil, err
	}
	return cfg, env, nil
}

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

func tail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return ": " + strings.Join(lines, " | ")
}
