package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"

	"helm.sh/helm/v3/pkg/chartutil"
)

// ValueSources are the values given to a release on top of the chart's own
// values.yaml, which Helm merges in itself.
type ValueSources struct {
	// Dir is what relative Files are relative to (the app's directory).
	Dir string
	// Files are values files (helm -f), later ones winning.
	Files []string
	// Set are key=value assignments (helm --set), parsed exactly as helm does.
	Set []string
	// Override is merged last, key by key: draft's image.repository,
	// image.tag and image.digest.
	Override map[string]any
}

// MergeValues merges s into the values of a release, as helm upgrade -f
// FILE... --set KEY=VALUE... does, then s.Override over them.
func MergeValues(s ValueSources) (map[string]any, error) {
	opts := values.Options{Values: s.Set}
	for _, f := range s.Files {
		if !filepath.IsAbs(f) && s.Dir != "" {
			f = filepath.Join(s.Dir, f)
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("the values file %s cannot be read (%v): fix the values list in draft.toml", f, errors.Unwrap(err))
		}
		opts.ValueFiles = append(opts.ValueFiles, f)
	}
	vals, err := opts.MergeValues(getter.Providers{})
	if err != nil {
		return nil, fmt.Errorf("merging the release values: %w", err)
	}
	return Overlay(vals, s.Override), nil
}

// Overlay merges src into dst, maps key by key (src wins), and returns dst:
// what MergeValues does with Override, for values merged already.
func Overlay(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = Overlay(dm, sm)
				continue
			}
			dst[k] = Overlay(map[string]any{}, sm)
			continue
		}
		dst[k] = v
	}
	return dst
}

// ChartValues reads the chart's own values.yaml (none: empty).
func ChartValues(chartDir string) (map[string]any, error) {
	v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "values.yaml"))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the values of the chart %s: %w", chartDir, err)
	}
	return v.AsMap(), nil
}
