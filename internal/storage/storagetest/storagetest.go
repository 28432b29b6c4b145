// Package storagetest is the conformance suite every [storage.Driver] runs.
//
// Each backend's own _test.go calls [Run] with a constructor; every case runs
// as a subtest on a backend made for it, so cases cannot leak into each other.
// The cases reach the driver through a [storage.Bucket], as the service
// does; the cases the Bucket would answer on its own before calling the
// driver (invalid keys, an ended context) also call the driver directly,
// so a driver that skips those checks fails. A backend counts as done only
// when the whole suite passes.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage"
)

// NewDriver makes a fresh, empty driver for one test case. It registers its
// own cleanup with t.Cleanup.
type NewDriver func(t *testing.T) storage.Driver

// Run runs the conformance suite against the drivers that newDriver makes.
func Run(t *testing.T, newDriver NewDriver) {
	cases := []struct {
		name string
		fn   func(t *testing.T, b *storage.Bucket)
	}{
		{"RoundTripEmpty", func(t *testing.T, b *storage.Bucket) { roundTrip(t, b, nil) }},
		{"RoundTripOneByte", func(t *testing.T, b *storage.Bucket) { roundTrip(t, b, []byte{0}) }},
		{"RoundTripAllByteValues", func(t *testing.T, b *storage.Bucket) { roundTrip(t, b, allByteValues()) }},
		{"RoundTrip1MiB", func(t *testing.T, b *storage.Bucket) { roundTrip(t, b, RandomBytes(t, 1<<20)) }},
		{"UnknownSizeEmpty", func(t *testing.T, b *storage.Bucket) { roundTripUnsized(t, b, nil) }},
		{"UnknownSize1MiB", func(t *testing.T, b *storage.Bucket) { roundTripUnsized(t, b, RandomBytes(t, 1<<20)) }},
		{"GetMissing", testGetMissing},
		{"DeleteMissing", testDeleteMissing},
		{"Delete", testDelete},
		{"SizeMismatch", testSizeMismatch},
		{"FailingReader", testFailingReader},
		{"CancelledMidWrite", testCancelledMidWrite},
		{"CancelledDuringCommit", testCancelledDuringCommit},
		{"Concurrent", testConcurrent},
		{"Ranges", testRanges},
		{"RangeMissing", testRangeMissing},
		{"ListKeys", testListKeys},
		{"ListKeysEmpty", testListKeysEmpty},
	}
	cases = append(cases, composeCases...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDriver(t)
			if _, ok := d.(storage.RangeReader); !ok {
				t.Errorf("%T does not implement storage.RangeReader", d)
			}
			if _, ok := d.(storage.Lister); !ok {
				t.Errorf("%T does not implement storage.Lister", d)
			}
			c.fn(t, storage.NewBucket("conformance", d))
		})
	}
	// The Bucket answers these before it calls the driver: each runs on the
	// driver alone and on a Bucket over it.
	direct := []struct {
		name string
		fn   func(t *testing.T, d storage.Driver)
	}{
		{"InvalidKeys", testInvalidKeys},
		{"CancelledContext", testCancelledContext},
	}
	for _, c := range direct {
		for _, via := range []string{"Driver", "Bucket"} {
			t.Run(c.name+"/"+via, func(t *testing.T) {
				d := newDriver(t)
				if via == "Bucket" {
					d = storage.NewBucket("conformance", d)
				}
				c.fn(t, d)
			})
		}
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

func roundTrip(t *testing.T, b *storage.Bucket, data []byte) {
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

// roundTripUnsized stores data with an unknown size, as a chunked upload
// does, and reads it back.
func roundTripUnsized(t *testing.T, b *storage.Bucket, data []byte) {
	key := testKey(t, "unsized")
	if err := b.Put(context.Background(), key, bytes.NewReader(data), -1); err != nil {
		t.Fatalf("Put of unknown size: %v", err)
	}
	if got := MustGet(t, b, key); !bytes.Equal(got, data) {
		t.Fatalf("Get returned %d bytes that differ from the %d put with unknown size", len(got), len(data))
	}
}

// Getter is what [MustGet] reads from: a [storage.Bucket] or a
// [storage.Driver].
type Getter interface {
	Get(ctx context.Context, key string) (io.ReadCloser, error)
}

// MustGet returns all the bytes stored under key, failing t if they cannot
// be read.
func MustGet(t testing.TB, b Getter, key string) []byte {
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
func assertAbsent(t *testing.T, b *storage.Bucket, key string) {
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

func testGetMissing(t *testing.T, b *storage.Bucket) {
	key := testKey(t, "missing")
	_, err := b.Get(context.Background(), key)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get of missing key = %v; want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), key) {
		t.Errorf("error %q does not name the key %q", err, key)
	}
}

func testDeleteMissing(t *testing.T, b *storage.Bucket) {
	key := testKey(t, "missing")
	err := b.Delete(context.Background(), key)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Delete of missing key = %v; want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), key) {
		t.Errorf("error %q does not name the key %q", err, key)
	}
}

func testDelete(t *testing.T, b *storage.Bucket) {
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

// invalidKeys break the key rules in every way a driver's medium might
// still accept: paths out of the space, empty and dot segments, bytes no
// key has, and lengths past the limits.
var invalidKeys = []string{
	"", "/etc/passwd", "../escape", "a/../../escape", "a/./b", "a//b", "a/", ".", "..",
	"a\x00b", "a b", "a\\b", "a\nb", "é", "a%2fb", strings.Repeat("a", 256), strings.Repeat("a/", 512) + "a",
}

// untouchable is a reader that records whether it was read: a call refused
// for its key or its context must not read the bytes.
type untouchable struct{ read bool }

func (u *untouchable) Read(p []byte) (int, error) {
	u.read = true
	return 0, io.EOF
}

// testInvalidKeys checks that every operation refuses every invalid key
// with ErrInvalidKey, without reading a Put's bytes, and that nothing was
// stored.
func testInvalidKeys(t *testing.T, d storage.Driver) {
	ctx := context.Background()
	for _, key := range invalidKeys {
		r := &untouchable{}
		if err := d.Put(ctx, key, r, 0); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Put(%.40q) = %v; want ErrInvalidKey", key, err)
		}
		if r.read {
			t.Errorf("Put(%.40q) read its bytes before refusing the key", key)
		}
		if rc, err := d.Get(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("Get(%.40q) = %v; want ErrInvalidKey", key, err)
		}
		if rr, ok := d.(storage.RangeReader); ok {
			if rc, err := rr.GetRange(ctx, key, 0, 1); !errors.Is(err, storage.ErrInvalidKey) {
				if err == nil {
					rc.Close()
				}
				t.Errorf("GetRange(%.40q) = %v; want ErrInvalidKey", key, err)
			}
		}
		if err := d.Delete(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Delete(%.40q) = %v; want ErrInvalidKey", key, err)
		}
		if _, err := d.Exists(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Exists(%.40q) = %v; want ErrInvalidKey", key, err)
		}
		if st, ok := d.(storage.Stater); ok {
			if _, err := st.Stat(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Stat(%.40q) = %v; want ErrInvalidKey", key, err)
			}
		}
		if c, ok := d.(storage.Composer); ok {
			if err := c.Compose(ctx, key, []string{testKey(t, "part")}, 0); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Compose(%.40q, ...) = %v; want ErrInvalidKey", key, err)
			}
			if err := c.Compose(ctx, testKey(t, "composed"), []string{key}, 0); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Compose(..., [%.40q]) = %v; want ErrInvalidKey", key, err)
			}
		}
	}
	if l, ok := d.(storage.Lister); ok {
		if keys, err := l.ListKeys(ctx, "", "", 100); err != nil || len(keys) != 0 {
			t.Errorf("after refusing every invalid key the backend lists %v (%v); want nothing", keys, err)
		}
	}
}

func testSizeMismatch(t *testing.T, b *storage.Bucket) {
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

func testFailingReader(t *testing.T, b *storage.Bucket) {
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

// testCancelledContext checks that every operation under an ended context
// fails with its error without doing its work: a Put stores nothing and
// reads nothing, a Delete removes nothing, and reads open nothing.
func testCancelledContext(t *testing.T, d storage.Driver) {
	live := context.Background()
	ctx, cancel := context.WithCancel(live)
	cancel()
	key, kept := testKey(t, "cancelled"), testKey(t, "kept")
	if err := d.Put(live, kept, strings.NewReader("kept"), 4); err != nil {
		t.Fatalf("Put(%q): %v", kept, err)
	}
	r := &untouchable{}
	if err := d.Put(ctx, key, r, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context = %v; want context.Canceled", err)
	}
	if r.read {
		t.Errorf("Put with a cancelled context read its bytes")
	}
	if ok, err := d.Exists(live, key); err != nil || ok {
		t.Errorf("after a Put with a cancelled context, Exists(%q) = %v, %v; want false, nil", key, ok, err)
	}
	if rc, err := d.Get(ctx, kept); !errors.Is(err, context.Canceled) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Get with a cancelled context = %v; want context.Canceled", err)
	}
	if rr, ok := d.(storage.RangeReader); ok {
		if rc, err := rr.GetRange(ctx, kept, 0, 1); !errors.Is(err, context.Canceled) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("GetRange with a cancelled context = %v; want context.Canceled", err)
		}
	}
	if _, err := d.Exists(ctx, kept); !errors.Is(err, context.Canceled) {
		t.Errorf("Exists with a cancelled context = %v; want context.Canceled", err)
	}
	if st, ok := d.(storage.Stater); ok {
		if _, err := st.Stat(ctx, kept); !errors.Is(err, context.Canceled) {
			t.Errorf("Stat with a cancelled context = %v; want context.Canceled", err)
		}
	}
	if err := d.Delete(ctx, kept); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with a cancelled context = %v; want context.Canceled", err)
	}
	if c, ok := d.(storage.Composer); ok {
		if err := c.Compose(ctx, key, []string{kept}, 4); !errors.Is(err, context.Canceled) {
			t.Errorf("Compose with a cancelled context = %v; want context.Canceled", err)
		}
		if ok, err := d.Exists(live, key); err != nil || ok {
			t.Errorf("after a Compose with a cancelled context, Exists(%q) = %v, %v; want false, nil", key, ok, err)
		}
	}
	if l, ok := d.(storage.Lister); ok {
		if _, err := l.ListKeys(ctx, "", "", 10); !errors.Is(err, context.Canceled) {
			t.Errorf("ListKeys with a cancelled context = %v; want context.Canceled", err)
		}
	}
	if got := MustGet(t, d, kept); string(got) != "kept" {
		t.Errorf("after a Delete with a cancelled context %q holds %q; want it kept", kept, got)
	}
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

func testCancelledMidWrite(t *testing.T, b *storage.Bucket) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := testKey(t, "midwrite")
	r := &cancellingReader{n: 128 << 10, cancel: cancel, ctx: ctx}
	if err := b.Put(ctx, key, r, 1<<20); err == nil {
		t.Fatal("Put whose context was cancelled half-way succeeded")
	}
	assertAbsent(t, b, key)
}

func testConcurrent(t *testing.T, b *storage.Bucket) {
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

// cancelAtEOF yields data, then cancels its context on the Read that
// reports io.EOF: the driver has every byte and is about to commit.
type cancelAtEOF struct {
	r       io.Reader
	cancel  context.CancelFunc
	reached bool // the driver read to the end, so the cancel hit the commit
}

func (c *cancelAtEOF) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.reached = true
		c.cancel()
	}
	return n, err
}

// testCancelledDuringCommit cancels Puts at the moment the driver has read
// the last byte, while it writes or commits. Whatever Put returns must be
// true: nil means Get returns exactly the bytes, an error means nothing is
// readable under the key. Every round asserts that the cancellation landed
// in that window.
func testCancelledDuringCommit(t *testing.T, b *storage.Bucket) {
	const rounds = 8
	data := RandomBytes(t, 4<<10)
	var failed int
	for i := range rounds {
		key := testKey(t, fmt.Sprintf("commit-%d", i))
		ctx, cancel := context.WithCancel(context.Background())
		r := &cancelAtEOF{r: bytes.NewReader(data), cancel: cancel}
		err := b.Put(ctx, key, r, int64(len(data)))
		cancel()
		if !r.reached {
			t.Fatalf("Put(%q) = %v without reading to the end: the cancellation did not land in the commit", key, err)
		}
		if err != nil {
			failed++
			assertAbsentAfter(t, b, key, err)
			continue
		}
		if got := MustGet(t, b, key); !bytes.Equal(got, data) {
			t.Errorf("Put(%q) succeeded but Get returned %d bytes that differ from the %d put", key, len(got), len(data))
		}
	}
	t.Logf("%d Puts cancelled as they committed: %d failed, %d stored", rounds, failed, rounds-failed)
}

// assertAbsentAfter is [assertAbsent] for a key whose Put failed with
// putErr, which the failures report.
func assertAbsentAfter(t *testing.T, b *storage.Bucket, key string, putErr error) {
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

// rangeCases are the (offset, length) pairs [testRanges] reads from a blob of
// rangeBlobSize bytes; length -1 reads to the end.
var rangeCases = []struct{ offset, length int64 }{
	{0, -1}, {0, 1}, {0, rangeBlobSize}, {1, 10}, {4095, 2}, {rangeBlobSize - 1, 1},
	{rangeBlobSize - 1, -1}, {rangeBlobSize, -1}, {rangeBlobSize, 0}, {100, 0},
	{rangeBlobSize / 2, rangeBlobSize}, {rangeBlobSize - 10, 100},
}

const rangeBlobSize = 200<<10 + 7

func testRanges(t *testing.T, b *storage.Bucket) {
	ctx := context.Background()
	key := testKey(t, "ranges")
	data := RandomBytes(t, rangeBlobSize)
	if err := b.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put: %v", err)
	}
	for _, c := range rangeCases {
		rc, err := b.GetRange(ctx, key, c.offset, c.length)
		if err != nil {
			t.Errorf("GetRange(%d, %d): %v", c.offset, c.length, err)
			continue
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		end := int64(len(data))
		if c.length >= 0 {
			end = min(end, c.offset+c.length)
		}
		if want := data[c.offset:end]; err != nil || !bytes.Equal(got, want) {
			t.Errorf("GetRange(%d, %d) = %d bytes (err %v); want bytes %d-%d", c.offset, c.length, len(got), err, c.offset, end)
		}
	}
}

func testRangeMissing(t *testing.T, b *storage.Bucket) {
	key := testKey(t, "missing")
	rc, err := b.GetRange(context.Background(), key, 1, 1)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetRange of a missing key = %v; want ErrNotFound", err)
	}
}

func testListKeys(t *testing.T, b *storage.Bucket) {
	ctx := context.Background()
	before := time.Now().Add(-time.Minute)
	// Keys shaped like the service's, under two shards, and one
	// neighbour whose name shares a prefix string but not a directory.
	run := fmt.Sprintf("%x", RandomBytes(t, 4))
	var want []string
	for _, shard := range []string{"aa/00", "aa/01", "ab/00"} {
		for i := range 5 {
			want = append(want, fmt.Sprintf("%s/%s-%d", shard, run, i))
		}
	}
	// Files beside a directory whose name they extend: '-', '.' and '_'
	// sort around '/', so a walk sorted by entry name gets them wrong; and
	// '_' is a LIKE wildcard.
	want = append(want, "aa/00-"+run, "aa/00."+run, "aa/00_"+run, "aa/0_"+run)
	for i, key := range want {
		data := bytes.Repeat([]byte{'x'}, i)
		if err := b.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
	}
	sizes := make(map[string]int64)
	for i, key := range want {
		sizes[key] = int64(i)
	}
	slices.Sort(want)
	// The whole listing in pages of 4, then a prefix that takes one shard
	// and a prefix that ends mid-name.
	var got []string
	for after := ""; ; {
		page, err := b.ListKeys(ctx, "", after, 4)
		if err != nil {
			t.Fatalf("ListKeys after %q: %v", after, err)
		}
		for _, k := range page {
			if _, ours := sizes[k.Key]; !ours {
				continue // a temporary object of the driver's, or another run's key
			}
			got = append(got, k.Key)
			if k.ModTime.Before(before) || k.ModTime.After(time.Now().Add(time.Minute)) {
				t.Errorf("ListKeys: %q has ModTime %v, not near now", k.Key, k.ModTime)
			}
		}
		if len(page) > 4 {
			t.Fatalf("ListKeys with limit 4 returned %d keys", len(page))
		}
		if !slices.IsSortedFunc(page, func(a, b storage.KeyInfo) int { return strings.Compare(a.Key, b.Key) }) {
			t.Fatalf("ListKeys page is not sorted: %v", page)
		}
		if len(page) > 0 && page[0].Key <= after {
			t.Fatalf("ListKeys after %q returned %q", after, page[0].Key)
		}
		if len(page) < 4 {
			break
		}
		after = page[len(page)-1].Key
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged ListKeys = %q; want %q", got, want)
	}
	prefixes := []string{"aa/01/", "aa/", "ab/00/" + run + "-", "ab/00/" + run + "-3", "aa/00_", "aa/0_", "aa/00", "zz/"}
	for _, prefix := range prefixes {
		c := struct {
			prefix string
			want   []string
		}{prefix, nil}
		for _, k := range want { // sorted
			if strings.HasPrefix(k, prefix) {
				c.want = append(c.want, k)
			}
		}
		page, err := b.ListKeys(ctx, c.prefix, "", 100)
		if err != nil {
			t.Fatalf("ListKeys(%q): %v", c.prefix, err)
		}
		var keys []string
		for _, k := range page {
			if !strings.HasPrefix(k.Key, c.prefix) {
				t.Errorf("ListKeys(%q) returned %q", c.prefix, k.Key)
			}
			if size, ours := sizes[k.Key]; ours {
				keys = append(keys, k.Key)
				if k.Size != size {
					t.Errorf("ListKeys: %q has size %d, want %d", k.Key, k.Size, size)
				}
			}
		}
		if !slices.Equal(keys, c.want) {
			t.Errorf("ListKeys(%q) = %q; want %q", c.prefix, keys, c.want)
		}
	}
}

func testListKeysEmpty(t *testing.T, b *storage.Bucket) {
	keys, err := b.ListKeys(context.Background(), "", "", 10)
	if err != nil {
		t.Fatalf("ListKeys of an empty backend: %v", err)
	}
	if len(keys) != 0 {
		t.Errorf("ListKeys of an empty backend returned %v", keys)
	}
}
