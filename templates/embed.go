// Package templates holds the one Helm chart template that every pack shares,
// and the chart of a backing service.
// Its files are rendered by pkg/pack with [[ ]] delimiters, so Helm's own
// {{ }} templates pass through untouched.
package templates

import "embed"

// Chart is the shared chart template, rooted at "chart".
//
//go:embed all:chart
var Chart embed.FS

// Service is the chart of a backing service (a database of a project),
// rooted at "service".
//
//go:embed all:service
var Service embed.FS
