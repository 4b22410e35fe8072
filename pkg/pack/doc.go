// Package pack loads draft's packs (the built-in ones embedded from packs/ and a
// user's own folder of packs, which add to or override them by name), renders a
// pack's Dockerfile, .dockerignore and the shared Helm chart for an application,
// and writes the result without ever overwriting a file unless asked to. It is
// the only importer of packs/ and templates/.
package pack
