//go:build draft_prebuilt_agent

package live

import (
	"embed"
	"io/fs"
	"strings"
)

// The agents make build compiles into prebuilt/ before it builds draft:
// draft-agent-OS-ARCH.
//
//go:embed prebuilt
var prebuilt embed.FS

func init() {
	entries, err := fs.ReadDir(prebuilt, "prebuilt")
	if err != nil {
		return // none: AgentBinary builds one
	}
	prebuiltAgents = map[string][]byte{}
	for _, e := range entries {
		osArch, ok := strings.CutPrefix(e.Name(), "draft-agent-")
		goos, arch, two := strings.Cut(osArch, "-")
		if !ok || !two {
			continue
		}
		if b, err := prebuilt.ReadFile("prebuilt/" + e.Name()); err == nil {
			prebuiltAgents[goos+"/"+arch] = b
		}
	}
}
