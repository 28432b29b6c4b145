package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestBench runs every operation of simpledrive bench briefly against a
// real server: every request is counted once, as a success or an error.
func TestBench(t *testing.T) {
	s := startServer(t, nil)
	for _, c := range []struct{ op, api string }{{"put", "raw"}, {"put", "json"}, {"get", "raw"}, {"get", "json"}, {"mixed", "raw"}} {
		code, out, errs := s.run(context.Background(), t, nil, "bench", "--op", c.op, "--api", c.api,
			"--size", "4KiB", "--concurrency", "4", "--duration", "300ms", "--objects", "8", "--json")
		var r struct {
			Requests, Successes, Errors int64
			RPS                         float64 `json:"requests_per_s"`
			P50                         float64 `json:"latency_p50_ms"`
			Max                         float64 `json:"latency_max_ms"`
			Cores                       float64 `json:"bench_cpu_cores"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
			t.Fatalf("bench %s %s = %d, %q, %q", c.op, c.api, code, out, errs)
		}
		if r.Requests == 0 || r.Requests != r.Successes+r.Errors || r.Errors != 0 || r.RPS <= 0 || r.P50 <= 0 || r.Max < r.P50 || r.Cores <= 0 {
			t.Errorf("bench %s %s = %+v; want requests = successes + errors, no errors, and figures", c.op, c.api, r)
		}
	}
	// The bench deletes what it stored.
	if code, out, _ := s.run(context.Background(), t, nil, "ls", "-r"); code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("blobs left after the bench: %q", out)
	}
	// Errors are counted by status: a wrong token makes every request a 401.
	code, out, _ := s.run(context.Background(), t, nil, "bench", "--op", "put", "--duration", "100ms", "--concurrency", "2", "--token", "wrong", "--json")
	var r struct {
		Requests, Errors int64
		By               map[string]int `json:"errors_by_status"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Requests == 0 || r.Errors != r.Requests || r.By["401"] != int(r.Requests) {
		t.Fatalf("bench with a wrong token = %d, %q; want every request counted as a 401", code, out)
	}
}
