// Package cli holds draft's cobra commands. Each command parses its flags into the
// exported fields of an action from pkg/action, calls Run and prints the result;
// there is no logic here beyond that, and no global state.
package cli
