// Package testenv gives integration tests the external services they need.
//
// Services are found through TEST_* environment variables. Without them a
// test skips, unless SIMPLEDRIVE_REQUIRE_SERVICES=1 (which scripts/test sets):
// then a missing service fails the test loudly, so CI can never pass by
// skipping.
package testenv

import (
	"os"
	"testing"
)

// Lookup returns the values of the named environment variables. When any is
// unset it skips t, or fails it when SIMPLEDRIVE_REQUIRE_SERVICES=1.
func Lookup(t testing.TB, names ...string) []string {
	t.Helper()
	values := make([]string, len(names))
	var missing []string
	for i, name := range names {
		values[i] = os.Getenv(name)
		if values[i] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		if os.Getenv("SIMPLEDRIVE_REQUIRE_SERVICES") == "1" {
			t.Fatalf("SIMPLEDRIVE_REQUIRE_SERVICES=1 but %v unset: run scripts/test, which starts the services", missing)
		}
		t.Skipf("%v unset; run scripts/test to start the services this test needs", missing)
	}
	return values
}
