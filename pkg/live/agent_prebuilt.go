//go:build draft_prebuilt_agent

package live

import _ "embed" // the agents make build compiles into prebuilt/ before it builds draft

// Strings, not []byte or an embed.FS: nothing is copied onto the heap
// unless live update uses one.
var (
	//go:embed prebuilt/draft-agent-linux-amd64
	prebuiltAmd64 string
	//go:embed prebuilt/draft-agent-linux-arm64
	prebuiltArm64 string
)

func init() {
	prebuiltAgents = map[string]string{"linux/amd64": prebuiltAmd64, "linux/arm64": prebuiltArm64}
}
