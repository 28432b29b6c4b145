// Package storagetest is the conformance suite every [storage.Backend] runs.
//
// Each backend's own _test.go calls [Run] with a constructor; every case runs
// as a subtest on a backend made for it, so cases cannot leak into each other.
// A backend counts as done only when the whole suite passes.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage"
)

// NewBackend makes a fresh, empty backend for one test case. It registers
// its own cleanup with t.Cleanup.
type NewBackend func(t *testing.T) storage.Backend

// Run runs the conformance suite against the backends that newBackend makes.
func Run(t *testing.T, newBackend NewBackend) {
	cases := []struct {
		name string
		fn   func(t *testing.T, b storage.Backend)
	}{
		{"RoundTripEmpty", func(t *testing.T, b storage.Backend) { roundTrip(t, b, nil) }},
		{"RoundTripOneByte", func(t *testing.T, b storage.Backend) { roundTrip(t, b, []byte{0}) }},
		{"RoundTripAllByteValues", func(t *testing.T, b storage.Backend) { roundTrip(t, b, allByteValues()) }},
		{"RoundTrip1MiB", func(t *testing.T, b storage.Backend) { roundTrip(t, b, RandomBytes(t, 1<<20)) }},
		{"GetMissing", testGetMissing},
		{"DeleteMissing", testDeleteMissing},
		{"Delete", testDelete},
		{"InvalidKeys", testInvalidKeys},
		{"SizeMismatch", testSizeMismatch},
		{"FailingReader", testFailingReader},
		{"CancelledContext", testCancelledContext},
		{"CancelledMidWrite", testCancelledMidWrite},
		{"CancelledDuringCommit", testCancelledDuringCommit},
		{"Concurrent", testConcurrent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.fn(t, newBackend(t))
		})
	}
}

// RandomBytes returns n random bytes. It calls t.Fatal, so it must run on
// the test's goroutine.
func RandomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func allByteValues() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// testKey returns a valid key shaped like the service's keys. It calls
// t.Fatal, so it must run on the test's goroutine.
func testKey(t *testing.T, name string) string {
	t.Helper()
	return fmt.Sprintf("ab/cd/%x-%s", RandomBytes(t, 8), name)
}

func roundTrip(t *testing.T, b storage.Backend, data []byte) {
	ctx := context.Background()
	key := testKey(t, "roundtrip")
	if ok, err := b.Exists(ctx, key); err != nil || ok {
		t.Fatalf("Exists before Put = %v, %v; want false, nil", ok, err)
	}
	if err := b.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if ok, err := b.Exists(ctx, key); err != nil || !ok {
		t.Fatalf("Exists after Put = %v, %v; want true, nil", ok, err)
	}
	got := MustGet(t, b, key)
	if !bytes.Equal(got, data) {
		t.Fatalf("Get returned %d bytes that differ from the %d put", len(got), len(data))
	}
}

// MustGet returns all the bytes stored under key, failing t if they cannot
// be read.
func MustGet(t testing.TB, b storage.Backend, key string) []byte {
	t.Helper()
	rc, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return got
}

// assertAbsent checks that nothing is readable under key.
func assertAbsent(t *testing.T, b storage.Backend, key string) {
	t.Helper()
	ctx := context.Background()
	if ok, err := b.Exists(ctx, key); err != nil || ok {
		t.Errorf("Exists(%q) = %v, %v; want false, nil", key, ok, err)
	}
	rc, err := b.Get(ctx, key)
	if err == nil {
		rc.Close()
		t.Errorf("Get(%q) succeeded; want ErrNotFound", key)
	} else if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(%q) = %v; want ErrNotFound", key, err)
	}
}

func testGetMissing(t *testing.T, b storage.Backend) {
	key := testKey(t, "missing")
	_, err := b.Get(context.Background(), key)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get of missing key = %v; want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), key) {
		t.Errorf("error %q does not name the key %q", err, key)
	}
}

func testDeleteMissing(t *testing.T, b storage.Backend) {
	key := testKey(t, "missing")
	err := b.Delete(context.Background(), key)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Delete of missing key = %v; want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), key) {
		t.Errorf("error %q does not name the key %q", err, key)
	}
}

func testDelete(t *testing.T, b storage.Backend) {
	ctx := context.Background()
	keep, gone := testKey(t, "keep"), testKey(t, "gone")
	for _, key := range []string{keep, gone} {
		if err := b.Put(ctx, key, strings.NewReader(key), int64(len(key))); err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
	}
	if err := b.Delete(ctx, gone); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	assertAbsent(t, b, gone)
	if got := MustGet(t, b, keep); string(got) != keep {
		t.Fatalf("Delete of a neighbour changed %q: got %q", keep, got)
	}
}

func testInvalidKeys(t *testing.T, b storage.Backend) {
	ctx := context.Background()
	bad := []string{"", "/etc/passwd", "../escape", "a/../../escape", "a/./b", "a//b", "a\x00b", "a b", "a\\b"}
	for _, key := range bad {
		if err := b.Put(ctx, key, strings.NewReader("x"), 1); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v; want ErrInvalidKey", key, err)
		}
		if rc, err := b.Get(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("Get(%q) = %v; want ErrInvalidKey", key, err)
		}
		if err := b.Delete(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v; want ErrInvalidKey", key, err)
		}
		if _, err := b.Exists(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Exists(%q) = %v; want ErrInvalidKey", key, err)
		}
	}
}

func testSizeMismatch(t *testing.T, b storage.Backend) {
	ctx := context.Background()
	short, long := testKey(t, "short"), testKey(t, "long")
	if err := b.Put(ctx, short, strings.NewReader("abc"), 4); err == nil {
		t.Errorf("Put of 3 bytes declared as 4 succeeded")
	}
	if err := b.Put(ctx, long, strings.NewReader("abcde"), 4); err == nil {
		t.Errorf("Put of 5 bytes declared as 4 succeeded")
	}
	assertAbsent(t, b, short)
	assertAbsent(t, b, long)
}

var errReader = errors.New("storagetest: reader failed on purpose")

// failingReader yields n bytes and then fails.
type failingReader struct {
	n int
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errReader
	}
	p = p[:min(len(p), r.n)]
	for i := range p {
		p[i] = byte(i)
	}
	r.n -= len(p)
	return len(p), nil
}

func testFailingReader(t *testing.T, b storage.Backend) {
	key := testKey(t, "failing")
	err := b.Put(context.Background(), key, &failingReader{n: 256 << 10}, 1<<20)
	if err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	if !errors.Is(err, errReader) {
		t.Errorf("Put = %v; want it to wrap the reader's error", err)
	}
	assertAbsent(t, b, key)
}

func testCancelledContext(t *testing.T, b storage.Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	key := testKey(t, "cancelled")
	if err := b.Put(ctx, key, strings.NewReader("data"), 4); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	assertAbsent(t, b, key)
}

// cancellingReader yields n bytes, then cancels its context and blocks
// until the writer notices.
type cancellingReader struct {
	n      int
	cancel context.CancelFunc
	ctx    context.Context
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		r.cancel()
		<-r.ctx.Done()
		return 0, r.ctx.Err()
	}
	p = p[:min(len(p), r.n)]
	clear(p)
	r.n -= len(p)
	return len(p), nil
}

func testCancelledMidWrite(t *testing.T, b storage.Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := testKey(t, "midwrite")
	r := &cancellingReader{n: 128 << 10, cancel: cancel, ctx: ctx}
	if err := b.Put(ctx, key, r, 1<<20); err == nil {
		t.Fatal("Put whose context was cancelled half-way succeeded")
	}
	assertAbsent(t, b, key)
}

func testConcurrent(t *testing.T, b storage.Backend) {
	const workers = 16
	ctx := context.Background()
	// Keys are made here: testKey may call t.Fatal, which must not run
	// on the workers' goroutines.
	keys := make([]string, workers)
	for i := range keys {
		keys[i] = testKey(t, fmt.Sprintf("concurrent-%d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i, key := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := bytes.Repeat([]byte{byte(i)}, 64<<10+i)
			for range 3 {
				if err := b.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
					errs <- fmt.Errorf("put: %w", err)
					return
				}
				rc, err := b.Get(ctx, key)
				if err != nil {
					errs <- fmt.Errorf("get: %w", err)
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, data) {
					errs <- fmt.Errorf("worker %d read %d bytes (err %v), want its own %d", i, len(got), err, len(data))
					return
				}
				if err := b.Delete(ctx, key); err != nil {
					errs <- fmt.Errorf("delete: %w", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Bounds of CancelledDuringCommit: it runs at least commitMinRounds Puts
// and then stops once commitRounds are done or commitBudget has passed.
// Fast backends thus run many rounds, which the narrow window of their
// commit needs, and slow network backends stay within a few seconds. Every
// commitCalibrate-th Put is not cancelled: it measures how long a Put takes.
const (
	commitMinRounds = 20
	commitRounds    = 300
	commitBudget    = 1500 * time.Millisecond
	commitCalibrate = 5
	commitBlobSize  = 4 << 10
)

// testCancelledDuringCommit cancels Puts at random moments spread over a
// whole Put's duration, so that some cancellations land after the reader
// is consumed, while the backend writes or commits. Whatever Put returns
// must be true: nil means Get returns exactly the bytes, an error means
// nothing is readable under the key.
//
// The delays are drawn from [0, 1.2 × the median uncancelled Put so far].
// Uncancelled Puts run between cancelled ones, so they take as long as
// Puts do here: a backend may have to reconnect after a cancelled Put.
func testCancelledDuringCommit(t *testing.T, b storage.Backend) {
	data := RandomBytes(t, commitBlobSize)
	var took []time.Duration // of the uncancelled Puts
	var rounds, failed int
	start := time.Now()
	for ; !t.Failed() && rounds < commitRounds && (rounds < commitMinRounds || time.Since(start) < commitBudget); rounds++ {
		key := testKey(t, fmt.Sprintf("commit-%d", rounds))
		calibrate := rounds%commitCalibrate == 0
		delay := time.Duration(-1) // never cancelled
		if !calibrate {
			delay = mrand.N(median(took)*6/5 + 1)
		}
		d, err := putCancelledAfter(b, key, data, delay)
		switch {
		case err != nil && calibrate:
			t.Fatalf("Put(%q) without cancellation: %v", key, err)
		case calibrate:
			took = append(took, d)
		case err != nil:
			failed++
			assertAbsentAfter(t, b, key, err)
		}
		if err == nil {
			if got := MustGet(t, b, key); !bytes.Equal(got, data) {
				t.Errorf("Put(%q) succeeded but Get returned %d bytes that differ from the %d put", key, len(got), len(data))
			}
		}
	}
	t.Logf("%d Puts in %v, every %dth uncancelled (median %v), the others cancelled at random: %d failed",
		rounds, time.Since(start).Round(time.Millisecond), commitCalibrate, median(took), failed)
}

// median returns the median of ds, which it sorts, or 0 when ds is empty.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// putCancelledAfter puts data under key with a context that another
// goroutine cancels after delay, or never when delay is negative. It
// returns how long Put took.
func putCancelledAfter(b storage.Backend, key string, data []byte, delay time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if delay >= 0 {
		timer := time.AfterFunc(delay, cancel)
		defer timer.Stop()
	}
	start := time.Now()
	err := b.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
	return time.Since(start), err
}

// assertAbsentAfter is [assertAbsent] for a key whose Put failed with
// putErr, which the failures report.
func assertAbsentAfter(t *testing.T, b storage.Backend, key string, putErr error) {
	t.Helper()
	ctx := context.Background()
	if ok, err := b.Exists(ctx, key); err != nil || ok {
		t.Errorf("Put failed (%v), yet Exists(%q) = %v, %v; want false, nil", putErr, key, ok, err)
	}
	rc, err := b.Get(ctx, key)
	switch {
	case err == nil:
		rc.Close()
		t.Errorf("Put failed (%v), yet Get(%q) succeeded; want ErrNotFound", putErr, key)
	case !errors.Is(err, storage.ErrNotFound):
		t.Errorf("Put failed (%v), yet Get(%q) = %v; want ErrNotFound", putErr, key, err)
	}
}
