package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/local"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// flipStored flips one byte, at offset, of the bytes the memory store holds
// for id.
func flipStored(t *testing.T, f *fixture, id string, offset int64) {
	t.Helper()
	ctx := context.Background()
	rec, err := f.meta.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := f.store.Get(ctx, rec.StorageKey)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	data[offset] ^= 0x20
	f.store.Delete(ctx, rec.StorageKey)
	if err := f.store.Store.Put(ctx, rec.StorageKey, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

// forgetCRC makes id a row written before the CRC-32C was kept.
func forgetCRC(t testing.TB, f *fixture, id string) {
	t.Helper()
	if _, err := f.db.Writer().Exec(`UPDATE blob_metadata SET crc32c = NULL WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
}

// readWith reads id whole through buffers of chunk bytes, as a server
// copies it to a client, and returns how many bytes were handed over and
// the error that ended the read (nil at io.EOF).
func readWith(t *testing.T, f *fixture, id string, chunk int) (int64, error) {
	t.Helper()
	_, rc, err := f.svc.Get(context.Background(), id)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.CopyBuffer(io.Discard, struct{ io.Reader }{rc}, make([]byte, chunk))
}

// TestHoldBack: a byte flipped anywhere in a blob (first, middle, last; a
// blob smaller than a read buffer and one of several) is caught by the
// CRC-32C, or by the SHA-256 for a row without one, and the reader never
// hands over the whole blob: the read that would reach its end returns no
// bytes, only ErrCorrupt, whatever the size of the reader's buffer.
func TestHoldBack(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		for _, size := range []int64{1, 5000, 700 << 10} {
			for _, crc := range []bool{true, false} {
				for _, at := range slices.Compact([]int64{0, size / 2, size - 1}) {
					id := fmt.Sprintf("b%d-crc%v-at%d", size, crc, at)
					data := bytes.Repeat([]byte("0123456789abcdef"), int(size/16)+1)[:size]
					if _, err := create(t, f, id, data); err != nil {
						t.Fatal(err)
					}
					if !crc {
						forgetCRC(t, f, id)
					}
					for _, chunk := range []int{1, 4096, 256 << 10} {
						if n, err := readWith(t, f, id, chunk); err != nil || n != size {
							t.Fatalf("%s through %d-byte reads before the flip = %d bytes, %v; want all %d", id, chunk, n, err, size)
						}
					}
					flipStored(t, f, id, at)
					for _, chunk := range []int{1, 4096, 256 << 10} {
						n, err := readWith(t, f, id, chunk)
						if !errors.Is(err, blob.ErrCorrupt) || n >= size {
							t.Fatalf("%s through %d-byte reads = %d bytes, %v; want fewer than %d and ErrCorrupt", id, chunk, n, err, size)
						}
					}
				}
			}
		}
	})
}

// TestCRC32CRecorded: a create records the CRC-32C of the bytes beside
// their SHA-256, and whole reads of rows with and without one succeed.
func TestCRC32CRecorded(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		data := []byte("checksummed bytes")
		b, err := create(t, f, "c", data)
		want := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
		if err != nil || !b.HasCRC32C || b.CRC32C != want {
			t.Fatalf("Create = %+v, %v; want CRC-32C %08x", b, err, want)
		}
		if got, err := f.svc.Stat(context.Background(), "c"); err != nil || got != b {
			t.Fatalf("Stat = %+v, %v; want %+v", got, err, b)
		}
		if _, err := create(t, f, "empty", nil); err != nil {
			t.Fatal(err)
		}
		forgetCRC(t, f, "empty")
		if got, data := read(t, f, "empty"); got.HasCRC32C || len(data) != 0 {
			t.Fatalf("Get of an old empty row = %+v, %d bytes", got, len(data))
		}
	})
}

// TestFsckRecordsCRC32C: fsck --deep --repair records the CRC-32C of sound
// rows without one, never of a corrupt row, and checks it afterwards.
func TestFsckRecordsCRC32C(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		for _, id := range []string{"old1", "old2", "rotten", "new"} {
			if _, err := create(t, f, id, []byte("bytes of "+id)); err != nil {
				t.Fatal(err)
			}
			if id != "new" {
				forgetCRC(t, f, id)
			}
		}
		flipStored(t, f, "rotten", 0)
		if r, err := f.svc.Check(ctx, blob.CheckOptions{Deep: true}); err != nil || r.CRC32CRecorded != 0 || r.Problems != 1 {
			t.Fatalf("Check without Repair = %+v, %v; want 1 problem, nothing recorded", r, err)
		}
		r, err := f.svc.Check(ctx, blob.CheckOptions{Deep: true, Repair: true})
		if err != nil || r.CRC32CRecorded != 2 || r.ByKind[blob.ProblemChecksum] != 1 {
			t.Fatalf("Check --deep --repair = %+v, %v; want 2 recorded, the rotten row reported", r, err)
		}
		for id, want := range map[string]bool{"old1": true, "old2": true, "rotten": false, "new": true} {
			b, err := f.svc.Stat(ctx, id)
			if err != nil || b.HasCRC32C != want {
				t.Errorf("%s after the repair: %+v, %v; want HasCRC32C %v", id, b, err, want)
			}
			if want && b.CRC32C != crc32.Checksum([]byte("bytes of "+id), crc32.MakeTable(crc32.Castagnoli)) {
				t.Errorf("%s: recorded CRC-32C %08x is not its bytes'", id, b.CRC32C)
			}
		}
		// The recorded CRC-32C is what deep checks and reads compare now.
		flipStored(t, f, "old1", 3)
		if r, err := f.svc.Check(ctx, blob.CheckOptions{Deep: true}); err != nil || r.ByKind[blob.ProblemChecksum] != 2 {
			t.Fatalf("Check after another flip = %+v, %v; want 2 checksum problems", r, err)
		}
		if _, err := readWith(t, f, "old1", 4096); !errors.Is(err, blob.ErrCorrupt) {
			t.Fatalf("reading old1 = %v; want ErrCorrupt", err)
		}
	})
}

// BenchmarkWholeRead1MiB measures a verified whole read of a 1 MiB blob
// from memory through the service, by the CRC-32C recorded at write time
// and, for a row without one (every read before it was kept), by SHA-256;
// and of an encrypted one, authenticated segment by segment instead.
func BenchmarkWholeRead1MiB(b *testing.B) {
	f := newFixture(b, filepath.Join(b.TempDir(), "meta.db"))
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	for _, by := range []string{"crc32c", "sha256", "encrypted"} {
		b.Run(by, func(b *testing.B) {
			svc := f.svc
			if by == "encrypted" {
				svc = withKeys(f, keyring(b, "k1"))
			}
			if _, err := svc.Create(context.Background(), by, bytes.NewReader(data), int64(len(data))); err != nil {
				b.Fatal(err)
			}
			if by == "sha256" {
				forgetCRC(b, f, by)
			}
			h, err := svc.Open(context.Background(), by)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 256<<10)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				rc, err := h.Reader(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{rc}, buf); err != nil || n != int64(len(data)) {
					b.Fatalf("read %d bytes, %v", n, err)
				}
				rc.Close()
			}
		})
	}
}

// localService is a service on the local backend in dir, its metadata in
// SQLite.
func localService(tb testing.TB, dir string) (*blob.Service, *sqlmeta.Store) {
	tb.Helper()
	return localServiceWith(tb, dir, options)
}

// localServiceWith is localService with the service options opts.
func localServiceWith(tb testing.TB, dir string, opts blob.Options) (*blob.Service, *sqlmeta.Store) {
	tb.Helper()
	st, err := local.New(local.Config{Root: dir})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	m := sqlmeta.New(testenv.OpenDB(tb, filepath.Join(tb.TempDir(), "meta.db")))
	return blob.New(m, storage.NewBucket("local", st), opts, slog.New(slog.DiscardHandler)), m
}

// TestRangeOfLocalFileChecksSize: a range of a blob stored as a local file
// is an io.WriterTo (so the HTTP layer sends it with sendfile), and one of
// a file whose size is not the blob's fails with ErrCorrupt before any
// byte is read, wherever the range lies.
func TestRangeOfLocalFileChecksSize(t *testing.T) {
	dir := t.TempDir()
	svc, m := localService(t, dir)
	ctx := context.Background()
	data := []byte("0123456789")
	if _, err := svc.Create(ctx, "ranged", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	h, err := svc.Open(ctx, "ranged")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := h.RangeReader(ctx, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	wt, ok := rc.(io.WriterTo)
	if !ok {
		t.Fatalf("the range of a local file is a %T, not an io.WriterTo", rc)
	}
	var got bytes.Buffer
	if _, err := wt.WriteTo(&got); err != nil || got.String() != "234" {
		t.Fatalf("WriteTo = %q, %v; want \"234\"", got.String(), err)
	}
	rc.Close()

	rec, err := m.Get(ctx, "ranged")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, filepath.FromSlash(rec.StorageKey)), 9); err != nil {
		t.Fatal(err)
	}
	if rc, err := h.RangeReader(ctx, 0, 2); !errors.Is(err, blob.ErrCorrupt) {
		if rc != nil {
			rc.Close()
		}
		t.Fatalf("RangeReader of bytes within a truncated file = %v; want ErrCorrupt", err)
	}
}

// budget is a storage.Memory of limit bytes that tells what is reserved.
type budget struct {
	mu           sync.Mutex
	limit, inUse int64
}

func (b *budget) TryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inUse+n > b.limit {
		return false
	}
	b.inUse += n
	return true
}

func (b *budget) Release(n int64) {
	b.mu.Lock()
	b.inUse -= n
	b.mu.Unlock()
}

func (b *budget) reserved() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inUse
}

// blockRecorder is a writer that keeps what it is given and, for each
// write, its size and what the budget had reserved then.
type blockRecorder struct {
	bytes.Buffer
	mem               *budget
	sizes, reservedAt []int64
}

func (w *blockRecorder) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, int64(len(p)))
	w.reservedAt = append(w.reservedAt, w.mem.reserved())
	return w.Buffer.Write(p)
}

// sendWhole writes the whole blob id out through its reader's WriteTo,
// recording each write and what mem had reserved at the time.
func sendWhole(t *testing.T, svc *blob.Service, mem *budget, id string) (*blockRecorder, error) {
	t.Helper()
	ctx := context.Background()
	h, err := svc.Open(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := h.Reader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	wt, ok := rc.(io.WriterTo)
	if !ok {
		t.Fatalf("the whole reader of a local file is a %T, not an io.WriterTo", rc)
	}
	w := &blockRecorder{mem: mem}
	_, err = wt.WriteTo(w)
	return w, err
}

// TestSmallWholeReadTakesNoLargeBlock: a blob that fits a 256 KiB block
// is sent through one, leaving the memory budget and the 1 MiB blocks to
// larger blobs.
func TestSmallWholeReadTakesNoLargeBlock(t *testing.T) {
	svc, _ := localService(t, t.TempDir())
	mem := &budget{limit: 4 << 20}
	svc.SetMemory(mem)
	data := bytes.Repeat([]byte("0123456789abcdef"), 20<<10/16) // above the size a local Get reads whole
	if _, err := svc.Create(context.Background(), "small", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	w, err := sendWhole(t, svc, mem, "small")
	if err != nil || !bytes.Equal(w.Bytes(), data) {
		t.Fatalf("WriteTo = %d bytes, %v; want the blob", w.Len(), err)
	}
	for i, r := range w.reservedAt {
		if r != 0 {
			t.Fatalf("write %d of a 20 KiB blob ran with %d bytes of the budget reserved; want none", i, r)
		}
	}
}

// TestWholeLocalReadBlocks: a whole read of a local file writes itself
// out in blocks of 1 MiB reserved from the memory budget while it runs, or
// of 256 KiB without touching the budget when 1 MiB does not fit, and
// writes the last block only once the blob matched its checksum.
func TestWholeLocalReadBlocks(t *testing.T) {
	dir := t.TempDir()
	svc, m := localService(t, dir)
	mem := &budget{limit: 4 << 20}
	svc.SetMemory(mem)
	ctx := context.Background()
	const size = 2<<20 + 512<<10
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	if _, err := svc.Create(ctx, "b", bytes.NewReader(data), size); err != nil {
		t.Fatal(err)
	}
	send := func() (*blockRecorder, error) { return sendWhole(t, svc, mem, "b") }
	for _, c := range []struct {
		name     string
		taken    int64 // of the budget, by others
		block    int64
		reserved int64
	}{
		{"room", 0, 1 << 20, 1 << 20},
		{"full", 3<<20 + 1, 256 << 10, 3<<20 + 1},
	} {
		mem.inUse = c.taken
		w, err := send()
		if err != nil || !bytes.Equal(w.Bytes(), data) {
			t.Fatalf("%s: WriteTo = %d bytes, %v; want the blob", c.name, w.Len(), err)
		}
		for i, n := range w.sizes {
			if want := min(c.block, size-int64(i)*c.block); n != want || w.reservedAt[i] != c.reserved {
				t.Fatalf("%s: write %d = %d bytes with %d reserved; want %d bytes with %d", c.name, i, n, w.reservedAt[i], want, c.reserved)
			}
		}
		if got := mem.reserved(); got != c.taken {
			t.Fatalf("%s: %d bytes reserved after the read; want %d", c.name, got, c.taken)
		}
	}
	mem.inUse = 0
	rec, err := m.Get(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, filepath.FromSlash(rec.StorageKey)), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt([]byte{'X'}, size-1)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	w, err := send()
	if !errors.Is(err, blob.ErrCorrupt) || int64(w.Len()) != 2<<20 {
		t.Fatalf("WriteTo of a blob flipped at its end = %d bytes, %v; want its first 2 MiB and ErrCorrupt", w.Len(), err)
	}
}

// heldWriter is a writer whose first write tells entered and then waits
// for proceed.
type heldWriter struct {
	entered chan<- int
	proceed <-chan struct{}
	first   bool
}

func (w *heldWriter) Write(p []byte) (int, error) {
	if !w.first {
		w.first = true
		w.entered <- len(p)
		<-w.proceed
	}
	return len(p), nil
}

// TestLargeBlocksAreBounded: at most 16 whole local reads hold a 1 MiB
// block at once, with the budget still free; the next one copies through
// 256 KiB, and once the others are done a read gets 1 MiB again.
func TestLargeBlocksAreBounded(t *testing.T) {
	svc, _ := localService(t, t.TempDir())
	mem := &budget{limit: 1 << 30}
	svc.SetMemory(mem)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 2<<16) // 2 MiB
	if _, err := svc.Create(ctx, "b", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	read := func(w io.Writer) error {
		h, err := svc.Open(ctx, "b")
		if err != nil {
			return err
		}
		rc, err := h.Reader(ctx)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = rc.(io.WriterTo).WriteTo(w)
		return err
	}
	entered, release := make(chan int), make(chan struct{})
	errs := make(chan error, 16)
	for range 16 {
		go func() { errs <- read(&heldWriter{entered: entered, proceed: release}) }()
	}
	for range 16 {
		if n := <-entered; n != 1<<20 {
			t.Fatalf("one of the first 16 reads writes %d bytes at a time; want 1 MiB", n)
		}
	}
	w := &blockRecorder{mem: mem}
	err := read(w)
	if err != nil || w.sizes[0] != 256<<10 || w.reservedAt[0] != 16<<20 {
		t.Fatalf("the 17th read = %v, first write %d bytes with %d reserved; want 256 KiB with 16 MiB", err, w.sizes[0], w.reservedAt[0])
	}
	close(release)
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	w = &blockRecorder{mem: mem}
	if err := read(w); err != nil || w.sizes[0] != 1<<20 || mem.reserved() != 0 {
		t.Fatalf("a read after the others = %v, first write %d bytes, %d reserved after; want 1 MiB and nothing", err, w.sizes[0], mem.reserved())
	}
}

// BenchmarkLocalWholeRead1MiB measures a verified whole read of a 1 MiB
// blob stored as a local file, written out as the raw download writes it.
func BenchmarkLocalWholeRead1MiB(b *testing.B) {
	svc, _ := localService(b, b.TempDir())
	benchWholeReads(b, svc, bytes.Repeat([]byte("0123456789abcdef"), 1<<16), func(rc io.ReadCloser) (int64, error) {
		return rc.(io.WriterTo).WriteTo(writerOnly{io.Discard})
	})
}

// benchWholeReads stores data in svc and measures reading it whole,
// written out by out, from its opened handle.
func benchWholeReads(b *testing.B, svc *blob.Service, data []byte, out func(io.ReadCloser) (int64, error)) {
	ctx := context.Background()
	if _, err := svc.Create(ctx, "b", bytes.NewReader(data), int64(len(data))); err != nil {
		b.Fatal(err)
	}
	h, err := svc.Open(ctx, "b")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		rc, err := h.Reader(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := out(rc); err != nil || n != int64(len(data)) {
			b.Fatalf("wrote %d bytes, %v", n, err)
		}
		rc.Close()
	}
}

// writerOnly hides io.Discard's ReadFrom.
type writerOnly struct{ io.Writer }
