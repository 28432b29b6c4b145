package testenv

import (
	"slices"
	"strings"
	"testing"
)

// RaceStacks names the wirings (a storage backend over a metadata database)
// that suites run on every wiring still run on under the race detector:
// local+SQLite, the default deployment, and s3+PostgreSQL, a remote store
// under a shared database. The detector finds races in the server's code,
// which is the same on every wiring and runs concurrently on both of these;
// each backend's own code is raced by its package's tests. Without the
// detector (the second pass of scripts/test) every suite runs on every
// wiring.
var RaceStacks = []string{"local+SQLite", "s3+PostgreSQL"}

// SkipStackUnderRace skips t, a suite's subtest on the wiring named stack,
// when the binary runs under the race detector and stack is not one of
// RaceStacks. A test whose point is a race does not call it.
func SkipStackUnderRace(t testing.TB, stack string) {
	t.Helper()
	if Race && !slices.Contains(RaceStacks, stack) {
		t.Skipf("under the race detector this suite runs on %s only; without it (the second pass of scripts/test) on %s too",
			strings.Join(RaceStacks, " and "), stack)
	}
}
