// Package watch tells when an application's tree has changed, for draft's
// watch mode: it watches every directory of the tree with fsnotify (one watch
// a directory, new directories picked up as they appear), never watches what
// .dockerignore, .gitignore files and .draftignore leave out (nor .git), drops
// the files editors write while they save, and hands out one Batch of changed
// paths per quiet period (the debounce delay), so that each save, whatever the
// editor's way of saving, and each burst such as a git checkout is one batch.
// A slow consumer never loses a change: batches it has not taken yet are
// merged. It knows nothing of builds or deploys.
package watch
