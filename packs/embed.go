// Package packs holds draft's built-in packs, one folder per language: a
// Dockerfile template, a .dockerignore and pack.yaml (the pack's values).
package packs

import "embed"

// FS holds the built-in packs, each at the root under its own name.
//
//go:embed all:python all:node all:go all:java all:ruby all:php
var FS embed.FS
