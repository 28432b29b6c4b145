package upload_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
	"github.com/simpledrive/simpledrive/internal/upload"
)

type fixture struct {
	mem   *memory.Store
	db    *db.DB
	blobs *blob.Service
	up    *upload.Service
	now   time.Time
	mu    sync.Mutex
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// newFixture returns a fixture over a memory backend whose blob service
// has the options edit makes, if any.
func newFixture(t *testing.T, edit ...func(*blob.Options)) *fixture {
	f := &fixture{mem: memory.New()}
	return f.on(t, storage.NewBucket("memory", f.mem), edit...)
}

// on makes f's services, over bucket, with the blob service options edit
// makes.
func (f *fixture) on(t testing.TB, bucket *storage.Bucket, edit ...func(*blob.Options)) *fixture {
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	m := sqlmeta.New(d)
	f.db, f.now = d, time.Now()
	log := slog.New(slog.DiscardHandler)
	opts := blob.Options{Timeout: time.Minute, DeleteGrace: time.Hour}
	for _, e := range edit {
		e(&opts)
	}
	f.blobs = blob.New(m, bucket, opts, log)
	f.up = upload.NewService(m, m, bucket, f.blobs, upload.Config{Expiry: time.Hour, MaxSize: 1 << 30}, log)
	f.up.SetClock(f.clock)
	return f
}

// partKeys lists the keys of upload parts in the backend.
func (f *fixture) partKeys() []string {
	var out []string
	for _, k := range f.mem.Keys() {
		if strings.HasPrefix(k, "tus/") {
			out = append(out, k)
		}
	}
	return out
}

func write(t testing.TB, f *fixture, id string, offset int64, data string) upload.Info {
	t.Helper()
	info, err := f.up.Write(context.Background(), id, upload.Write{Offset: offset, Body: strings.NewReader(data), Size: int64(len(data)), Length: -1})
	if err != nil {
		t.Fatalf("Write at %d: %v", offset, err)
	}
	return info
}

func TestUploadAssemblesParts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	info, err := f.up.Create(ctx, upload.New{BlobID: "a/b.txt", ContentType: "text/plain", Length: 11})
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, info.ID, 0, "hello")
	if len(f.partKeys()) != 1 {
		t.Fatalf("parts after one write: %v", f.partKeys())
	}
	done := write(t, f, info.ID, 5, " world")
	if !done.Finished || done.Blob == nil || done.Blob.Size != 11 || done.Blob.ContentType != "text/plain" {
		t.Fatalf("last write = %+v; want the finished blob", done)
	}
	_, rc, err := f.blobs.Get(ctx, "a/b.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != "hello world" {
		t.Fatalf("blob = %q, %v", got, err)
	}
	// The parts are garbage now: the collector removes them.
	if _, err := f.blobs.CollectGarbage(ctx, f.clock()); err != nil {
		t.Fatal(err)
	}
	if keys := f.partKeys(); len(keys) != 0 {
		t.Fatalf("parts left after collection: %v", keys)
	}
	if got, err := f.up.Get(ctx, info.ID); err != nil || !got.Finished || got.Offset != 11 {
		t.Fatalf("finished upload = %+v, %v", got, err)
	}
}

func TestUploadExpiredCollected(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	info, err := f.up.Create(ctx, upload.New{BlobID: "x", Length: 100})
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, info.ID, 0, "some bytes")
	f.advance(2 * time.Hour)
	if _, err := f.up.Get(ctx, info.ID); !errors.Is(err, upload.ErrExpired) {
		t.Fatalf("Get of an expired upload = %v; want ErrExpired", err)
	}
	if _, err := f.up.Write(ctx, info.ID, upload.Write{Offset: 10, Body: strings.NewReader("x"), Size: 1, Length: -1}); !errors.Is(err, upload.ErrExpired) {
		t.Fatalf("Write to an expired upload = %v; want ErrExpired", err)
	}
	n, err := f.blobs.CollectGarbage(ctx, f.clock())
	if err != nil || n != 1 {
		t.Fatalf("CollectGarbage = %d, %v; want the expired upload's part removed", n, err)
	}
	if keys := f.partKeys(); len(keys) != 0 {
		t.Fatalf("parts left: %v", keys)
	}
	if _, err := f.up.Get(ctx, info.ID); !errors.Is(err, upload.ErrNotFound) {
		t.Fatalf("Get after collection = %v; want ErrNotFound", err)
	}
}

// gateReader yields its bytes only after started is closed by its first
// Read being reached and release is closed.
type gateReader struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
	r       io.Reader
}

func (g *gateReader) Read(p []byte) (int, error) {
	g.once.Do(func() { close(g.started); <-g.release })
	return g.r.Read(p)
}

func TestUploadConcurrentWritesLocked(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	info, err := f.up.Create(ctx, upload.New{BlobID: "c", Length: 8})
	if err != nil {
		t.Fatal(err)
	}
	g := &gateReader{started: make(chan struct{}), release: make(chan struct{}), r: strings.NewReader("AAAA")}
	errc := make(chan error, 1)
	go func() {
		_, err := f.up.Write(ctx, info.ID, upload.Write{Offset: 0, Body: g, Size: 4, Length: -1})
		errc <- err
	}()
	<-g.started // the first write holds the lock and reads its body
	_, err = f.up.Write(ctx, info.ID, upload.Write{Offset: 0, Body: strings.NewReader("BBBB"), Size: 4, Length: -1})
	if !errors.Is(err, upload.ErrLocked) {
		t.Fatalf("second write while the first streams = %v; want ErrLocked", err)
	}
	if err := f.up.Terminate(ctx, info.ID); !errors.Is(err, upload.ErrLocked) {
		t.Fatalf("Terminate while a write streams = %v; want ErrLocked", err)
	}
	close(g.release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, err := f.up.Write(ctx, info.ID, upload.Write{Offset: 0, Body: strings.NewReader("CCCC"), Size: 4, Length: -1}); !errors.Is(err, upload.ErrOffsetMismatch) {
		t.Fatalf("write at a stale offset = %v; want ErrOffsetMismatch", err)
	}
	write(t, f, info.ID, 4, "DDDD")
	_, rc, err := f.blobs.Get(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, _ := io.ReadAll(rc); string(got) != "AAAADDDD" {
		t.Fatalf("blob = %q; want AAAADDDD", got)
	}
}

// failingReader yields data, then fails as a cut connection does.
type failingReader struct{ data []byte }

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestUploadKeepsBytesOfACutWrite(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	info, err := f.up.Create(ctx, upload.New{BlobID: "cut", Length: 10})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.up.Write(ctx, info.ID, upload.Write{Offset: 0, Body: &failingReader{[]byte("0123")}, Size: 10, Length: -1})
	if err != nil {
		t.Fatalf("cut write = %v; want the received bytes kept", err)
	}
	if got, _ := f.up.Get(ctx, info.ID); got.Offset != 4 {
		t.Fatalf("offset after a write cut after 4 bytes = %d; want 4", got.Offset)
	}
	// With a checksum nothing of a cut write is kept.
	_, err = f.up.Write(ctx, info.ID, upload.Write{Offset: 4, Body: &failingReader{[]byte("45")}, Size: 6, Length: -1, SHA256: make([]byte, 32)})
	if err == nil {
		t.Fatal("cut write with a checksum succeeded")
	}
	if got, _ := f.up.Get(ctx, info.ID); got.Offset != 4 {
		t.Fatalf("offset after a cut write with a checksum = %d; want 4", got.Offset)
	}
	write(t, f, info.ID, 4, "456789")
	if len(f.partKeys()) != 2 {
		t.Fatalf("parts = %v; the checksummed cut write must leave none", f.partKeys())
	}
}

func TestUploadLostRaceLeavesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, err := f.up.Create(ctx, upload.New{BlobID: "same", Length: 3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.up.Create(ctx, upload.New{BlobID: "same", Length: 3})
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, a.ID, 0, "aaa")
	_, err = f.up.Write(ctx, b.ID, upload.Write{Offset: 0, Body: strings.NewReader("bbb"), Size: 3, Length: -1})
	if !errors.Is(err, blob.ErrExists) {
		t.Fatalf("completing a second upload of a taken id = %v; want ErrExists", err)
	}
	if _, err := f.up.Get(ctx, b.ID); !errors.Is(err, upload.ErrNotFound) {
		t.Fatalf("the losing upload = %v; want it removed", err)
	}
	if _, err := f.blobs.CollectGarbage(ctx, f.clock()); err != nil {
		t.Fatal(err)
	}
	keys := f.mem.Keys()
	slices.Sort(keys)
	if len(keys) != 1 || strings.HasPrefix(keys[0], "tus/") {
		t.Fatalf("backend keys = %v; want the winner's blob alone", keys)
	}
	_, rc, _ := f.blobs.Get(ctx, "same")
	defer rc.Close()
	if got, _ := io.ReadAll(rc); !bytes.Equal(got, []byte("aaa")) {
		t.Fatalf("blob = %q; want the winner's", got)
	}
}

// countingStore counts the lease calls of the upload store under it.
type countingStore struct {
	meta.UploadStore
	mu              sync.Mutex
	leases, release int
}

func (c *countingStore) LeaseUpload(ctx context.Context, id, owner string, now, until time.Time) (bool, error) {
	c.mu.Lock()
	c.leases++
	c.mu.Unlock()
	return c.UploadStore.LeaseUpload(ctx, id, owner, now, until)
}

func (c *countingStore) ReleaseUpload(ctx context.Context, id, owner string) error {
	c.mu.Lock()
	c.release++
	c.mu.Unlock()
	return c.UploadStore.ReleaseUpload(ctx, id, owner)
}

// TestUploadFinishingWriteCommitsLess: the write that finishes an upload
// takes its lease once (the fence before assembly reads it, as it still
// runs for most of its term) and gives it up with the finish, not in a
// commit of its own; a write that does not finish releases it.
func TestUploadFinishingWriteCommitsLess(t *testing.T) {
	f := newFixture(t)
	m := sqlmeta.New(f.db)
	cs := &countingStore{UploadStore: m}
	up := upload.NewService(cs, m, storage.NewBucket("memory", f.mem), f.blobs, upload.Config{Expiry: time.Hour, MaxSize: 1 << 30}, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	info, err := up.Create(ctx, upload.New{BlobID: "one", Length: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Write(ctx, info.ID, upload.Write{Body: strings.NewReader("01234"), Size: 5, Length: -1}); err != nil {
		t.Fatal(err)
	}
	if cs.leases != 1 || cs.release != 1 {
		t.Fatalf("a write that does not finish: %d leases, %d releases; want 1 and 1", cs.leases, cs.release)
	}
	done, err := up.Write(ctx, info.ID, upload.Write{Offset: 5, Body: strings.NewReader("56789"), Size: 5, Length: -1})
	if err != nil || !done.Finished {
		t.Fatalf("last write = %+v, %v", done, err)
	}
	if cs.leases != 2 || cs.release != 1 {
		t.Fatalf("after the finishing write: %d leases, %d releases; want 2 and 1 (one lease, released by the finish)", cs.leases, cs.release)
	}
	if u, err := m.GetUpload(ctx, info.ID); err != nil || !u.Finished || u.LeaseOwner != "" {
		t.Fatalf("finished upload = %+v, %v; want finished with its lease given up", u, err)
	}
	// The finished upload answers its offset at once to the next writer.
	if got, err := up.Write(ctx, info.ID, upload.Write{Offset: 10, Body: strings.NewReader(""), Size: 0, Length: -1}); err != nil || got.Offset != 10 {
		t.Fatalf("empty write to the finished upload = %+v, %v", got, err)
	}
}

// TestUploadLeavesNoDirectories: on the local backend, an upload's parts
// are files directly under tus/, so once they are collected nothing of
// the upload stays (a directory per upload would, empty, forever).
func TestUploadLeavesNoDirectories(t *testing.T) {
	f, root := localFixture(t)
	ctx := context.Background()
	info, err := f.up.Create(ctx, upload.New{BlobID: "flat", Length: 8})
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, info.ID, 0, "abcd")
	if done := write(t, f, info.ID, 4, "efgh"); !done.Finished {
		t.Fatalf("last write = %+v; want the upload finished", done)
	}
	if _, err := f.blobs.CollectGarbage(ctx, f.clock().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	left, err := os.ReadDir(filepath.Join(root, "tus"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if len(names) != 0 {
		t.Fatalf("tus/ after the upload's parts were collected holds %v; want nothing", names)
	}
}
