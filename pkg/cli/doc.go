// Package cli holds draft's cobra commands. Each command parses its flags into the
// exported fields of an action from pkg/action, calls Run and prints the result.
// A few decisions still live here that belong in action: up reads draft.toml
// again to decide on watch mode and auto-connect, and runs the connect that
// --auto-connect starts (issue 12 moves them down). No global state.
package cli
