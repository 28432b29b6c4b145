//go:build !linux

package local

import "os"

// markTopDir does nothing outside Linux (see topdir_linux.go).
func markTopDir(root *os.File) {}
