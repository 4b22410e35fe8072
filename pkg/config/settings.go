package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Settings are the environment variables of draft's own, read in one
// place (as Helm's EnvSettings): the command layer reads them once and
// hands the actions what they need. The conventions of other tools stay
// with the libraries that own them: $KUBECONFIG and
// $KUBERNETES_SERVICE_HOST (client-go), $DOCKER_CONFIG (the registry
// keychain), $TERM (pkg/ui), the Go toolchain's (go build).
type Settings struct {
	Home                string        // $DRAFT_HOME: the user's own packs are in its packs/ (default ~/.draft)
	Registry            string        // $DRAFT_REGISTRY: where up pushes when neither --registry nor draft.toml says
	RegistryMirrors     []string      // $DRAFT_REGISTRY_MIRROR: mirrors of Docker Hub, comma-separated
	RegistryIdleTimeout time.Duration // $DRAFT_REGISTRY_IDLE_TIMEOUT: how long a registry connection may move nothing (0: the default)
	DockerDaemonConfig  string        // $DOCKER_DAEMON_CONFIG: Docker's daemon.json, for its registry-mirrors (default /etc/docker/daemon.json)
	PprofAddr           string        // $DRAFT_PPROF_ADDR: serve Go's profiles there (for measurements)
}

// ReadSettings reads the settings with getenv (os.Getenv). A value that
// cannot be used is an error that names the variable.
func ReadSettings(getenv func(string) string) (Settings, error) {
	s := Settings{
		Home:               getenv("DRAFT_HOME"),
		Registry:           getenv("DRAFT_REGISTRY"),
		DockerDaemonConfig: getenv("DOCKER_DAEMON_CONFIG"),
		PprofAddr:          getenv("DRAFT_PPROF_ADDR"),
	}
	if s.Home == "" {
		s.Home = ".draft"
		if h, err := os.UserHomeDir(); err == nil {
			s.Home = filepath.Join(h, ".draft")
		}
	}
	for _, m := range strings.Split(getenv("DRAFT_REGISTRY_MIRROR"), ",") {
		if m = strings.TrimSpace(m); m != "" {
			s.RegistryMirrors = append(s.RegistryMirrors, m)
		}
	}
	if v := getenv("DRAFT_REGISTRY_IDLE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("$DRAFT_REGISTRY_IDLE_TIMEOUT %q is not a duration above zero: give one such as 30s or 2m", v)
		}
		s.RegistryIdleTimeout = d
	}
	return s, nil
}

// PacksDir is where the user's own packs live by default.
func (s Settings) PacksDir() string { return filepath.Join(s.Home, "packs") }
