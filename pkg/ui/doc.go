// Package ui writes progress and status for people on stderr: a live status
// line and progress bars on a terminal, plain lines otherwise (CI logs, pipes).
// All output goes through one lock, so goroutines never interleave a line.
package ui
