package testenv

import (
	"slices"
	"testing"
)

// TestSkipStackUnderRace: under the race detector a stack outside
// RaceStacks skips, one of them runs; without it every stack runs.
func TestSkipStackUnderRace(t *testing.T) {
	for _, stack := range append([]string{"ftp+SQLite", "database+PostgreSQL"}, RaceStacks...) {
		var skipped bool
		t.Run(stack, func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			SkipStackUnderRace(t, stack)
		})
		if want := Race && !slices.Contains(RaceStacks, stack); skipped != want {
			t.Errorf("race detector %v, stack %s: skipped %v; want %v", Race, stack, skipped, want)
		}
	}
}
