// Package packs holds draft's built-in packs, one folder per language: a
// Dockerfile template, a .dockerignore and pack.yaml (the pack's values).
package packs

import "embed"

// FS holds the built-in packs, each at the root under its own name.
//
//go:embed all:python all:node all:go all:java all:ruby all:php
var FS embed.FS

// Own is the pack of an app that keeps a Dockerfile of its own in a language
// without a pack: a .dockerignore and the chart's values; its Dockerfile is
// never written.
//
//go:embed all:own
var Own embed.FS
