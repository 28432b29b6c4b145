package cli

import "testing"

// TestServerProcs: the server runs with twice the runtime's default
// GOMAXPROCS, unless the GOMAXPROCS variable sets it.
func TestServerProcs(t *testing.T) {
	for _, c := range []struct {
		env   string
		procs int
		want  int
	}{{"", 2, 4}, {"", 1, 2}, {"", 16, 32}, {"3", 2, 0}} {
		getenv := func(k string) string {
			if k == "GOMAXPROCS" {
				return c.env
			}
			return ""
		}
		if got := serverProcs(getenv, c.procs); got != c.want {
			t.Errorf("serverProcs(GOMAXPROCS=%q, %d) = %d; want %d", c.env, c.procs, got, c.want)
		}
	}
}
