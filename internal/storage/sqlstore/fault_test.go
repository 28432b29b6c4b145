package sqlstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/sqlstore"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// blobFor returns the bytes the fault test stores under key, so that any row
// can be checked against its key.
func blobFor(key string, size int) []byte {
	sum := sha256.Sum256([]byte(key))
	return bytes.Repeat(sum[:], size/len(sum))
}

// outcome records one request of the fault test.
type outcome struct {
	op         string
	key        string
	worker     int
	start, end time.Time
	err        error
}

// TestPostgresConnectionLoss cuts a TCP proxy between the store and
// PostgreSQL while Puts and chunked Gets are in flight. Requests must fail
// with ErrUnavailable within their deadline, no chunk may hold wrong bytes,
// no published blob may be partial, and the store must serve again once the
// proxy is restored.
//
// The phases follow events, not the clock: the cut comes once every worker
// has succeeded, the restore once every worker has failed a request it
// started during the cut (after which it waits for the restore rather than
// hammering the closed proxy), and the end once every worker has succeeded
// again.
func TestPostgresConnectionLoss(t *testing.T) {
	const (
		workers   = 8
		blobSize  = 256 << 10
		deadline  = 2 * time.Second
		chunkSize = 64 << 10 // Puts take 4 chunks: cuts land mid-write
	)
	direct := testenv.PostgresURL(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	s := sqlstore.New(testenv.OpenDB(t, u.String()))
	s.SetChunkSize(chunkSize)
	check := testenv.OpenDB(t, direct)

	var (
		mu       sync.Mutex
		outcomes []outcome
		changed  = make(chan struct{}) // closed and replaced by every record
		cutAt    time.Time             // zero until the cut
		restored = make(chan struct{}) // closed at the restore
	)
	record := func(o outcome) {
		mu.Lock()
		outcomes = append(outcomes, o)
		close(changed)
		changed = make(chan struct{})
		mu.Unlock()
	}
	// workersSince counts the workers with a request that started after
	// t0 and succeeded (ok) or failed (!ok).
	workersSince := func(t0 time.Time, ok bool) int {
		seen := make(map[int]bool)
		for _, o := range outcomes {
			if (o.err == nil) == ok && o.start.After(t0) {
				seen[o.worker] = true
			}
		}
		return len(seen)
	}
	// waitFor waits until cond, called with mu held, holds after a record.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		limit := time.NewTimer(15 * time.Second)
		defer limit.Stop()
		for {
			mu.Lock()
			ok, ch := cond(), changed
			mu.Unlock()
			if ok {
				return
			}
			select {
			case <-ch:
			case <-limit.C:
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
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
				key := fmt.Sprintf("ab/cd/fault-%d-%d", w, i)
				data := blobFor(key, blobSize)
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				o := outcome{op: "put", key: key, worker: w, start: time.Now()}
				o.err = s.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
				o.end = time.Now()
				record(o)
				if o.err == nil {
					o = outcome{op: "get", key: key, worker: w, start: time.Now()}
					o.err = readCompare(ctx, s, key, data)
					o.end = time.Now()
					record(o)
				}
				cancel()
				mu.Lock()
				failedDuringCut := o.err != nil && !cutAt.IsZero() && o.start.After(cutAt)
				mu.Unlock()
				if failedDuringCut {
					// This worker has shown the cut: no hot loop
					// against the closed proxy.
					select {
					case <-restored:
					case <-stop:
						return
					}
				}
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()

	begin := time.Now()
	waitFor("every worker to succeed before the cut", func() bool { return workersSince(begin, true) == workers })
	mu.Lock()
	cutAt = time.Now()
	mu.Unlock()
	proxy.Cut()
	waitFor("every worker to fail during the cut", func() bool { return workersSince(cutAt, false) == workers })
	restoreAt := time.Now()
	proxy.Restore()
	close(restored)
	waitFor("every worker to succeed after the proxy came back", func() bool { return workersSince(restoreAt, true) == workers })
	close(stop)
	wg.Wait()
	stop = make(chan struct{}) // for the deferred close

	var inFlight, duringCut, failed int
	for _, o := range outcomes {
		if took := o.end.Sub(o.start); took > deadline+500*time.Millisecond {
			t.Errorf("%s %s took %v, past its %v deadline", o.op, o.key, took, deadline)
		}
		if o.start.Before(cutAt) && o.end.After(cutAt) {
			inFlight++
		}
		if o.start.After(cutAt) && o.end.Before(restoreAt) {
			duringCut++
			if o.err == nil {
				t.Errorf("%s %s succeeded while the proxy was cut", o.op, o.key)
			}
		}
		if o.err != nil {
			failed++
			if !errors.Is(o.err, storage.ErrUnavailable) {
				t.Errorf("%s %s: %v; want ErrUnavailable", o.op, o.key, o.err)
			}
		}
	}
	t.Logf("%d requests: %d in flight at the cut, %d during the cut, %d failed", len(outcomes), inFlight, duringCut, failed)
	if inFlight == 0 || duringCut == 0 {
		t.Errorf("the cut hit %d requests in flight and saw %d requests; want some of each", inFlight, duringCut)
	}

	// Nothing half-written: every chunk holds exactly its part of its
	// key's bytes, every published blob reads back whole, and every
	// acknowledged Put is published.
	rows, err := check.Reader().QueryContext(context.Background(), "SELECT key, seq, data FROM blob_data")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var chunks int
	for rows.Next() {
		var key string
		var seq int
		var data []byte
		if err := rows.Scan(&key, &seq, &data); err != nil {
			t.Fatal(err)
		}
		chunks++
		blob := blobFor(key, blobSize)
		if from := seq * chunkSize; from >= len(blob) || !bytes.Equal(data, blob[from:min(from+chunkSize, len(blob))]) {
			t.Errorf("chunk %d of %s holds %d bytes that are not its part of the blob", seq, key, len(data))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	published, err := check.Reader().QueryContext(context.Background(), "SELECT key FROM blob_data_index")
	if err != nil {
		t.Fatal(err)
	}
	defer published.Close()
	stored := make(map[string]bool)
	for published.Next() {
		var key string
		if err := published.Scan(&key); err != nil {
			t.Fatal(err)
		}
		stored[key] = true
	}
	if err := published.Err(); err != nil {
		t.Fatal(err)
	}
	reader := sqlstore.New(check)
	for key := range stored {
		if err := readCompare(context.Background(), reader, key, blobFor(key, blobSize)); err != nil {
			t.Errorf("published blob: %v", err)
		}
	}
	var inDoubt int
	for _, o := range outcomes {
		switch {
		case o.op == "put" && o.err == nil && !stored[o.key]:
			t.Errorf("acknowledged Put of %s is not published", o.key)
		case o.op == "put" && o.err != nil && stored[o.key]:
			inDoubt++ // commit in flight at the cut: complete, unreferenced
		}
	}
	t.Logf("%d blobs published in %d chunks; %d of them by Puts that reported failure", len(stored), chunks, inDoubt)
}

// readCompare reads key through s and checks its bytes.
func readCompare(ctx context.Context, s *sqlstore.Store, key string, want []byte) error {
	rc, err := s.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("get %s: %d bytes differ from the %d put", key, len(got), len(want))
	}
	return nil
}
