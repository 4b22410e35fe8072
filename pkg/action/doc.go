// Package action holds draft's operations, one struct each with a Run method:
// Create, Up, Connect, Logs, Delete and Watch. It is the only
// package that chains steps together (detect, pack, config, ...). It knows no
// cobra and writes to no global stream: writers are passed in.
package action
