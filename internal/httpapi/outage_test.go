package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// viaProxy rewrites the host of rawURL to go through a new test proxy.
func viaProxy(t testing.TB, rawURL string) (string, *testenv.Proxy) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.NewProxy(t, u.Host)
	u.Host = p.Addr()
	return u.String(), p
}

// TestOutage cuts the network to a remote part of the stack while requests
// are in flight: every answer is a success or a 503 (never a 500, never a
// hang past the request timeout), nothing half-written becomes visible, and
// service resumes when the network is back.
func TestOutage(t *testing.T) {
	cases := []struct {
		name string
		wire func(tb testing.TB, c *config.Config) *testenv.Proxy
	}{
		{"PostgreSQL/database", func(t testing.TB, c *config.Config) *testenv.Proxy {
			postgresDB(t, c)
			c.StorageBackend = config.BackendDatabase
			var p *testenv.Proxy
			c.DatabaseURL, p = viaProxy(t, c.DatabaseURL)
			return p
		}},
		{"PostgreSQL/local", func(t testing.TB, c *config.Config) *testenv.Proxy {
			postgresDB(t, c)
			var p *testenv.Proxy
			c.DatabaseURL, p = viaProxy(t, c.DatabaseURL)
			return p
		}},
		{"FTP", func(t testing.TB, c *config.Config) *testenv.Proxy {
			sqliteDB(t, c)
			ftpBackend(t, c)
			c.FTP.Timeout = 2 * time.Second
			// The proxy carries the control connection; cutting it cuts
			// every transfer, whose data connection it controls.
			p := testenv.NewProxy(t, c.FTP.Addr)
			c.FTP.Addr = p.Addr()
			return p
		}},
		{"S3", func(t testing.TB, c *config.Config) *testenv.Proxy {
			postgresDB(t, c)
			s3Backend(t, c)
			var p *testenv.Proxy
			c.S3.Endpoint, p = viaProxy(t, c.S3.Endpoint)
			return p
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var proxy *testenv.Proxy
			const requestTimeout = 5 * time.Second
			h := startStack(t, stack{tc.name, func(tb testing.TB, c *config.Config) {
				proxy = tc.wire(tb, c)
				c.RequestTimeout = requestTimeout
			}})
			testOutage(t, h, proxy, requestTimeout)
		})
	}
}

// outcome is one request made during an outage.
type outcome struct {
	id      string
	data    []byte
	status  int
	elapsed time.Duration
}

func testOutage(t *testing.T, h *harness, proxy *testenv.Proxy, requestTimeout time.Duration) {
	before := []byte("stored before the outage")
	expectStatus(t, h.postBlob("before", before), http.StatusCreated)

	const workers = 6
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var log outcomes
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("outage-%d-%d", w, i)
				data := bytes.Repeat([]byte{byte(i)}, 32<<10+w)
				start := time.Now()
				status := rawStatus(h, http.MethodPost, "/v1/blobs", createBody(id, data))
				log.add(outcome{id, data, status, time.Since(start)})
				start = time.Now()
				status = rawStatus(h, http.MethodGet, "/v1/blobs/before", "")
				log.add(outcome{"before", before, status, time.Since(start)})
			}
		}()
	}
	// Cut once requests flow, restore once requests have failed for it,
	// stop once requests succeed again: each step waits on answers.
	log.await(t, "requests flowing", requestTimeout, func(o []outcome) bool { return len(o) >= 2*workers })
	proxy.Cut()
	cut := log.len()
	log.await(t, "503s during the cut", 2*requestTimeout, func(o []outcome) bool {
		return count(o[cut:], http.StatusServiceUnavailable) >= workers
	})
	proxy.Restore()
	restored := log.len()
	log.await(t, "successes after the cut", 4*requestTimeout, func(o []outcome) bool {
		return count(o[restored:], http.StatusCreated) >= workers
	})
	close(stop)
	wg.Wait()
	results := log.all()

	var unavailable, succeeded int
	var created []outcome
	for _, r := range results {
		if r.elapsed > requestTimeout+time.Second {
			t.Errorf("a request took %v, past the %v request timeout", r.elapsed, requestTimeout)
		}
		switch r.status {
		case http.StatusCreated, http.StatusOK:
			succeeded++
		case http.StatusServiceUnavailable:
			unavailable++
		default:
			t.Errorf("%s during the outage answered %d; want success or 503", r.id, r.status)
		}
		if r.id != "before" {
			created = append(created, r)
		}
	}
	if unavailable == 0 {
		t.Fatal("no request saw the outage: the test did not cut anything in flight")
	}
	t.Logf("%d requests succeeded, %d answered 503", succeeded, unavailable)

	// Service resumes: wait for the pools to reconnect.
	deadline := time.Now().Add(10 * time.Second)
	for rawStatus(h, http.MethodGet, "/v1/blobs/before", "") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("service did not resume after the network came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	expectStatus(t, h.postBlob("after", []byte("after the outage")), http.StatusCreated)

	// Every acknowledged blob is whole; every refused one is absent or,
	// when the refusal came after its commit, whole. Nothing is half-written.
	for _, r := range created {
		got := h.get(r.id)
		switch {
		case got.StatusCode == http.StatusOK:
			if b := decodeBlob(t, got); b.Data != base64.StdEncoding.EncodeToString(r.data) {
				t.Errorf("%s (answered %d) reads back other bytes", r.id, r.status)
			}
		case got.StatusCode == http.StatusNotFound && r.status != http.StatusCreated:
		default:
			t.Errorf("%s (answered %d) now reads %d %s", r.id, r.status, got.StatusCode, truncate(got.body))
		}
	}
}

// outcomes collects the outcomes of concurrent requests and lets a test
// wait for a condition on them.
type outcomes struct {
	mu     sync.Mutex
	list   []outcome
	change chan struct{} // closed and replaced on every add
}

func (l *outcomes) add(o outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, o)
	if l.change != nil {
		close(l.change)
		l.change = nil
	}
}

func (l *outcomes) len() int { return len(l.all()) }

func (l *outcomes) all() []outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.list[:len(l.list):len(l.list)]
}

// await waits until cond holds of the outcomes so far, failing t after
// timeout.
func (l *outcomes) await(t *testing.T, what string, timeout time.Duration, cond func([]outcome) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		if cond(l.list) {
			l.mu.Unlock()
			return
		}
		if l.change == nil {
			l.change = make(chan struct{})
		}
		change := l.change
		l.mu.Unlock()
		select {
		case <-change:
		case <-deadline:
			t.Fatalf("waited %v for %s", timeout, what)
		}
	}
}

// count returns how many outcomes have status.
func count(list []outcome, status int) int {
	n := 0
	for _, o := range list {
		if o.status == status {
			n++
		}
	}
	return n
}

// rawStatus sends a request and returns only its status, or 0 when the
// request itself failed.
func rawStatus(h *harness, method, path, body string) int {
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
