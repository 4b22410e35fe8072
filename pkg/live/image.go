package live

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The agent in an image.
const (
	AgentPath = "/.draft/agent"       // where it is
	AgentPort = 7471                  // it listens on 127.0.0.1 here
	Label     = "dev.draft.live"      // set on an image with the agent
	BaseLabel = "dev.draft.live.base" // the digest of the image it was added to
	envRoot   = "DRAFT_AGENT_ROOT"    // see agent/main.go
	envPort   = "DRAFT_AGENT_PORT"
	envExec   = "DRAFT_AGENT_EXEC"
)

// Spec is where the agent puts synced files in an image.
type ImageSpec struct {
	Root string // the folder the synced paths are relative to (the image's copy of the build context)
	// UID and GID own Root in the image with the agent, so that the app's
	// user can create files in it (COPY --chown owns what it copies, not
	// the folder WORKDIR made).
	UID, GID int
	Port     int // the app's port, waited for after a restart (0: the image's lowest exposed port, if any)
	// Exec, when set, is where a binary compiled here goes (under
	// /.draft/, which UID and GID own): the agent starts it instead of the
	// image's command once it is there.
	Exec string
	// Files are more files for the agent's folder (name -> content, under
	// /.draft/), and Env more variables of the image, for what the app
	// needs to take synced files (PHP's opcache told to look every time).
	Files map[string][]byte
	Env   []string
	// Dirs are more folders that UID and GID own (absolute), for synced
	// files beside Root's (a Go image's templates/).
	Dirs []string
}

// Image is base with the agent added as its first process: a layer with
// the agent (and Root, owned as the spec says), and the entrypoint it gets
// (the agent, then base's entrypoint and command).
func Image(base v1.Image, agent []byte, spec ImageSpec) (v1.Image, error) {
	root, port := spec.Root, spec.Port
	cf, err := base.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg := *cf.Config.DeepCopy()
	argv := append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
	if len(argv) == 0 {
		return nil, fmt.Errorf("the image has no ENTRYPOINT or CMD for draft's agent to start")
	}
	if port == 0 {
		port = firstPort(cfg.ExposedPorts)
	}
	layer, err := agentLayer(agent, spec)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "draft: its agent, for live update in watch mode", Created: v1.Time{Time: epoch}}})
	if err != nil {
		return nil, err
	}
	cfg.Entrypoint = append([]string{AgentPath, "--"}, argv...)
	cfg.Cmd = nil
	cfg.Env = append(cfg.Env, envRoot+"="+root, envPort+"="+strconv.Itoa(port))
	if spec.Exec != "" {
		cfg.Env = append(cfg.Env, envExec+"="+spec.Exec)
	}
	cfg.Env = append(cfg.Env, spec.Env...)
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.Labels[Label] = "1"
	if d, err := base.Digest(); err == nil {
		cfg.Labels[BaseLabel] = d.String()
	}
	return mutate.Config(img, cfg)
}

// epoch is the layer's time: the same agent makes the same layer.
var epoch = time.Unix(0, 0).UTC()

func agentLayer(agent []byte, spec ImageSpec) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	headers := []*tar.Header{
		{Name: ".draft/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: spec.UID, Gid: spec.GID, ModTime: epoch, Format: tar.FormatPAX},
		{Name: ".draft/agent", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(agent)), ModTime: epoch, Format: tar.FormatPAX},
	}
	if spec.UID != 0 || spec.GID != 0 {
		var owned []*tar.Header
		for _, d := range append([]string{spec.Root}, spec.Dirs...) {
			if d = strings.Trim(path.Clean("/"+d), "/"); d != "" && d != ".draft" {
				owned = append(owned, &tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: spec.UID, Gid: spec.GID, ModTime: epoch, Format: tar.FormatPAX})
			}
		}
		headers = append(owned, headers...)
	}
	for _, h := range headers {
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
	}
	if _, err := tw.Write(agent); err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Files)) {
		b := spec.Files[name]
		if err := tw.WriteHeader(&tar.Header{Name: ".draft/" + strings.TrimPrefix(path.Clean("/"+name), "/"), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// firstPort is the lowest TCP port of EXPOSE, 0 for none.
func firstPort(exposed map[string]struct{}) int {
	var ports []int
	for p := range exposed {
		num, proto, _ := strings.Cut(p, "/")
		if proto != "" && proto != "tcp" {
			continue
		}
		if n, err := strconv.Atoi(num); err == nil {
			ports = append(ports, n)
		}
	}
	if len(ports) == 0 {
		return 0
	}
	return slices.Min(ports)
}
