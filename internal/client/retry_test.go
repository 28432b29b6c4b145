package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/simpledrive/simpledrive/internal/client"
)

// TestRetryStopsAtServerDeadline: a 504 "timeout" (the server's own work
// ran out of REQUEST_TIMEOUT) is tried once; a 503 "unavailable" is
// retried.
func TestRetryStopsAtServerDeadline(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
		tries  int64
	}{
		{http.StatusGatewayTimeout, "timeout", 1},
		{http.StatusServiceUnavailable, "unavailable", 3},
	} {
		var requests atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(tc.status)
			fmt.Fprintf(w, `{"status":%d,"code":%q}`, tc.status, tc.code)
		}))
		c, err := client.New(srv.URL, "token", srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		err = client.Retry(context.Background(), 2, func() error { _, err := c.Stat(context.Background(), "id"); return err })
		srv.Close()
		if client.StatusOf(err) != tc.status || requests.Load() != tc.tries {
			t.Errorf("%d %s: %d requests, error %v; want %d requests", tc.status, tc.code, requests.Load(), err, tc.tries)
		}
	}
}
