// Package detect ranks the languages of an application's tree and reads the
// manifests that settle which stack (Go, Node.js, Python, Java, Ruby, PHP) it is
// and what that stack needs: runtime version, framework, entry point, port.
// It walks the tree once with go-enry, honours .gitignore, never enters vendored,
// documentation or hidden directories, and reads file contents only when a file's
// extension is ambiguous. It knows nothing of packs.
package detect
