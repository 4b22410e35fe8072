// Package version reports the version of the draft binary: the one stamped in at
// link time, else the module version Go recorded, else "dev".
package version
