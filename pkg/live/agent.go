package live

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// agentSource is draft-agent's program, built for the image's platform on
// first use (it is small, and the standard library only).
//
//go:embed agent/main.go
var agentSource []byte

// agentMod makes the source a module of its own to build.
const agentMod = "module draftagent\n\ngo 1.22\n"

// prebuiltAgents are the agents built with draft itself, by platform
// ("linux/amd64"), when draft was built with the draft_prebuilt_agent tag
// (make build does): then no Go toolchain is needed to use live update.
var prebuiltAgents map[string]string

// agentMu holds one build of the agent at a time in this process.
var agentMu sync.Mutex

// AgentBinary is draft-agent built for the platform (linux/amd64 ...),
// static and stripped: the one draft carries, if it was built with it for
// that platform; else it is built once per source and platform into
// cacheDir, with the Go toolchain.
func AgentBinary(ctx context.Context, platform v1.Platform, cacheDir string) ([]byte, error) {
	if platform.OS == "" {
		platform.OS = "linux"
	}
	if platform.Architecture == "" {
		platform.Architecture = "amd64"
	}
	sum := sha256.Sum256(agentSource)
	out := filepath.Join(cacheDir, "agent", fmt.Sprintf("%s-%s-%s", hex.EncodeToString(sum[:8]), platform.OS, platform.Architecture), "draft-agent")
	if b, ok := prebuiltAgents[platform.OS+"/"+platform.Architecture]; ok && b != "" {
		return []byte(b), nil
	}
	agentMu.Lock() // two apps' live updates at once: the second reads what the first built
	defer agentMu.Unlock()
	if b, err := os.ReadFile(out); err == nil {
		return b, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, errors.New("live update builds draft's agent for the pods once, with the Go toolchain, and there is no go on PATH: install Go, or set live-update = false in draft.toml")
	}
	src, err := os.MkdirTemp("", "draft-agent-src-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(src)
	if err := os.WriteFile(filepath.Join(src, "main.go"), agentSource, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(agentMod), 0o644); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, err
	}
	tmpDir, err := os.MkdirTemp(filepath.Dir(out), "build-") // another draft may build it at the same time
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "draft-agent")
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+platform.OS, "GOARCH="+platform.Architecture, "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building draft's agent for %s/%s: %v: %s", platform.OS, platform.Architecture, err, strings.TrimSpace(string(b)))
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}
