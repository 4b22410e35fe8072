package live

import (
	"archive/tar"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/draftk8s/draft/internal/testkit"
)

// The agent becomes the first process, before the image's own entrypoint
// and command; the same agent on the same image makes the same digest; an
// image with nothing to start is refused.
func TestImage(t *testing.T) {
	base, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	base = testkit.WithConfig(t, base, func(c *v1.Config) {
		c.Entrypoint, c.Cmd = []string{"python"}, []string{"app.py"}
		c.ExposedPorts = map[string]struct{}{"8000/tcp": {}, "9000/tcp": {}}
	})
	img, err := Image(base, []byte("agent"), ImageSpec{Root: "/app", UID: 10001, GID: 10001, Dirs: []string{"/srv/templates"}})
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	if want := []string{AgentPath, "--", "python", "app.py"}; !slices.Equal(cf.Config.Entrypoint, want) || cf.Config.Cmd != nil {
		t.Errorf("entrypoint %q cmd %q, want %q and none", cf.Config.Entrypoint, cf.Config.Cmd, want)
	}
	if !slices.Contains(cf.Config.Env, "DRAFT_AGENT_ROOT=/app") || !slices.Contains(cf.Config.Env, "DRAFT_AGENT_PORT=8000") || cf.Config.Labels[Label] != "1" {
		t.Errorf("env %q labels %v", cf.Config.Env, cf.Config.Labels)
	}
	layers, _ := img.Layers()
	if len(layers) != 2 {
		t.Fatalf("%d layers, want the base's and the agent's", len(layers))
	}
	rc, err := layers[1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	entries := map[string]*tar.Header{}
	for tr := tar.NewReader(rc); ; {
		h, err := tr.Next()
		if err != nil {
			break
		}
		entries[h.Name] = h
	}
	for _, d := range []string{"app/", "srv/templates/"} {
		if h := entries[d]; h == nil || h.Uid != 10001 || h.Gid != 10001 || h.Typeflag != tar.TypeDir {
			t.Errorf("%s in the agent's layer: %+v, want a folder owned by 10001:10001", d, h)
		}
	}
	if h := entries[".draft/agent"]; h == nil || h.Mode&0o111 == 0 {
		t.Errorf("the agent in its layer: %+v, want an executable", h)
	}
	again, _ := Image(base, []byte("agent"), ImageSpec{Root: "/app", UID: 10001, GID: 10001, Dirs: []string{"/srv/templates"}})
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("the same agent on the same base gave %s and %s", d1, d2)
	}
	empty := testkit.WithConfig(t, base, func(c *v1.Config) { c.Entrypoint, c.Cmd = nil, nil })
	if _, err := Image(empty, []byte("agent"), ImageSpec{Root: "/app"}); err == nil {
		t.Error("an image with no ENTRYPOINT or CMD was given the agent")
	}
}
