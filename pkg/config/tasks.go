package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/pelletier/go-toml/v2"
)

// TasksFileName is classic Draft's file of tasks, beside draft.toml.
const TasksFileName = ".draft-tasks.toml"

// Tasks are commands run around up and delete, in the order of their names.
//   - pre-up: on this machine before the build; a failure stops up.
//   - post-deploy: inside the app's container after each deploy.
//   - post-up: on this machine after up.
//   - cleanup: on this machine after delete.
type Tasks struct {
	PreUp      map[string]string `toml:"pre-up"`
	PostDeploy map[string]string `toml:"post-deploy"`
	PostUp     map[string]string `toml:"post-up"`
	Cleanup    map[string]string `toml:"cleanup"`
}

// Task is one named command.
type Task struct{ Name, Command string }

// Ordered returns the tasks of one kind sorted by name.
func Ordered(m map[string]string) []Task {
	out := make([]Task, 0, len(m))
	for n, c := range m {
		out = append(out, Task{Name: n, Command: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LoadTasks reads dir/.draft-tasks.toml and merges the [tasks] of draft.toml
// (fromConfig, may be nil) over it. No file is no tasks.
func LoadTasks(dir string, fromConfig *Tasks) (*Tasks, error) {
	t := &Tasks{}
	path := filepath.Join(dir, TasksFileName)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", path, err)
	default:
		dec := toml.NewDecoder(bytes.NewReader(b)).DisallowUnknownFields()
		if err := dec.Decode(t); err != nil {
			return nil, describe(path, err)
		}
	}
	if fromConfig != nil {
		merge := func(dst *map[string]string, src map[string]string) {
			for k, v := range src {
				if *dst == nil {
					*dst = map[string]string{}
				}
				(*dst)[k] = v
			}
		}
		merge(&t.PreUp, fromConfig.PreUp)
		merge(&t.PostDeploy, fromConfig.PostDeploy)
		merge(&t.PostUp, fromConfig.PostUp)
		merge(&t.Cleanup, fromConfig.Cleanup)
	}
	return t, nil
}
