//go:build race

package testenv

// Race is true in a test binary built with the race detector (go test
// -race).
const Race = true
