// Package config reads and writes draft.toml, the classic Draft format: one
// table per environment under [environments]. Loading is strict: a malformed
// file or an unknown field is an error that names the file, line and field.
package config
