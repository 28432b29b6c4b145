//go:build !linux

package upload

// processID returns a random id: outside Linux no process can tell that
// another has ended, so leases last until they expire.
func processID() string { return "random:" + newID() }

// processGone is never sure outside Linux.
func processGone(string) bool { return false }
