package blob_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/crypt"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
)

const marker = "PLAINTEXT-MARKER-7f3a"

// keyring parses master keys named ids, each of 32 bytes of its id's first letter.
func keyring(t testing.TB, ids ...string) *crypt.Keyring {
	t.Helper()
	var spec []byte
	for _, id := range ids {
		spec = fmt.Appendf(spec, "%s:%s,", id, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte(id[:1]), 32)))
	}
	r, err := crypt.ParseKeyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// withKeys returns a service over f's metadata and bytes with the master
// keys ring (nil: none).
func withKeys(f *fixture, ring *crypt.Keyring) *blob.Service {
	opts := options
	if ring != nil {
		opts.Keys = ring
	}
	return blob.New(f.meta, storage.NewBucket("memory", f.store), opts, slog.New(slog.DiscardHandler))
}

// content returns n bytes that repeat the marker.
func content(n int) []byte {
	return bytes.Repeat([]byte(marker), n/len(marker)+1)[:n]
}

// stored returns the bytes stored for id.
func stored(t *testing.T, f *fixture, id string) []byte {
	t.Helper()
	rec, err := f.meta.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := f.store.Get(context.Background(), rec.StorageKey)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

// restore replaces the bytes stored for id.
func restore(t *testing.T, f *fixture, id string, b []byte) {
	t.Helper()
	rec, _ := f.meta.Get(context.Background(), id)
	ctx := context.Background()
	if err := f.store.Delete(ctx, rec.StorageKey); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Put(ctx, rec.StorageKey, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

func readRange(svc *blob.Service, id string, off, n int64) ([]byte, error) {
	h, err := svc.Open(context.Background(), id)
	if err != nil {
		return nil, err
	}
	rc, err := h.RangeReader(context.Background(), off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func readAll(svc *blob.Service, id string) ([]byte, error) {
	_, rc, err := svc.Get(context.Background(), id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// TestEncryptedAtRest: with master keys, every blob is stored encrypted
// (no plaintext at rest, the stored size crypt.CiphertextSize), reads back
// exactly, whole and by ranges that start, end and straddle segment
// boundaries; blobs stored before encryption still read.
func TestEncryptedAtRest(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "meta.db"))
	old := content(1000)
	if _, err := create(t, f, "old", old); err != nil {
		t.Fatal(err)
	}
	svc := withKeys(f, keyring(t, "k1"))
	const S = crypt.SegmentSize
	for _, n := range []int{0, 1, S - 1, S, S + 1, 3*S + 100} {
		id := fmt.Sprint("b", n)
		data := content(n)
		if _, err := svc.Create(context.Background(), id, bytes.NewReader(data), int64(n)); err != nil {
			t.Fatal(err)
		}
		at := stored(t, f, id)
		if bytes.Contains(at, []byte(marker[:8])) || int64(len(at)) != crypt.CiphertextSize(int64(n)) {
			t.Fatalf("%s: %d bytes at rest (want %d), plaintext visible: %v", id, len(at), crypt.CiphertextSize(int64(n)), bytes.Contains(at, []byte(marker[:8])))
		}
		if got, err := readAll(svc, id); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: whole read: %d bytes, %v", id, len(got), err)
		}
		N := int64(n)
		for _, r := range [][2]int64{{0, 0}, {0, 1}, {0, N}, {N - 1, 1}, {S - 1, 2}, {S, 1}, {S - 1, S + 2}, {2 * S, N - 2*S}, {N / 2, N - N/2}} {
			if r[0] < 0 || r[1] < 0 || r[0]+r[1] > N {
				continue
			}
			got, err := readRange(svc, id, r[0], r[1])
			if err != nil || !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
				t.Fatalf("%s: range %d+%d: %d bytes, %v", id, r[0], r[1], len(got), err)
			}
		}
	}
	if got, err := readAll(svc, "old"); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("a blob stored in clear before: %v", err)
	}
	if !bytes.Contains(stored(t, f, "old"), []byte(marker)) {
		t.Fatal("the blob stored in clear is not in clear")
	}
	// fsck checks encrypted blobs by their decrypted bytes.
	if r, err := svc.Check(context.Background(), blob.CheckOptions{Deep: true}); err != nil || r.Problems != 0 {
		t.Fatalf("fsck --deep = %+v, %v; want no problems", r, err)
	}
}

// TestEncryptedTamper: stored bytes altered at rest are detected, no byte
// of a bad segment is returned, and the segments before it still read by
// range; fsck reports them.
func TestEncryptedTamper(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "meta.db"))
	svc := withKeys(f, keyring(t, "k1"))
	const S = crypt.SegmentSize
	data := content(3*S + 10)
	for _, id := range []string{"a", "b"} {
		if _, err := svc.Create(context.Background(), id, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	good := stored(t, f, "a")
	other := stored(t, f, "b")
	seg := S + crypt.Overhead
	for _, c := range []struct {
		name string
		bad  func() []byte
		good int64 // segments before the bad one
	}{
		{"flipped bit", func() []byte { b := bytes.Clone(good); b[seg+5] ^= 4; return b }, 1},
		{"truncated", func() []byte { return good[:len(good)-3] }, 3},
		{"swapped", func() []byte {
			b := bytes.Clone(good)
			copy(b[seg:], good[2*seg:3*seg])
			copy(b[2*seg:], good[seg:2*seg])
			return b
		}, 1},
		{"spliced from another blob", func() []byte { b := bytes.Clone(good); copy(b[seg:], other[seg:2*seg]); return b }, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			restore(t, f, "a", c.bad())
			ok := c.good * S
			got, err := readAll(svc, "a")
			if !errors.Is(err, blob.ErrCorrupt) || !bytes.Equal(got, data[:ok]) {
				t.Fatalf("whole read: %d bytes, %v; want the %d good segments only, then ErrCorrupt", len(got), err, c.good)
			}
			if got, err := readRange(svc, "a", 0, ok); err != nil || !bytes.Equal(got, data[:ok]) {
				t.Fatalf("range read of the untouched segments: %v", err)
			}
			if got, err := readRange(svc, "a", ok+5, 5); !errors.Is(err, blob.ErrCorrupt) || len(got) != 0 {
				t.Fatalf("range read of the bad segment: %d bytes, %v", len(got), err)
			}
			if r, err := svc.Check(context.Background(), blob.CheckOptions{Deep: true}); err != nil || r.ByKind[blob.ProblemChecksum] != 1 {
				t.Fatalf("fsck --deep = %+v, %v; want one checksum problem", r, err)
			}
		})
	}
}

// TestEncryptionKeyMissing: a blob whose master key is not configured is
// refused with ErrKeyMissing, never returned undecrypted.
func TestEncryptionKeyMissing(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "meta.db"))
	if _, err := withKeys(f, keyring(t, "k1")).Create(context.Background(), "a", bytes.NewReader(content(100)), 100); err != nil {
		t.Fatal(err)
	}
	for name, svc := range map[string]*blob.Service{"no keys": withKeys(f, nil), "other keys": withKeys(f, keyring(t, "k2"))} {
		if got, err := readAll(svc, "a"); !errors.Is(err, blob.ErrKeyMissing) || got != nil {
			t.Errorf("%s: whole read = %d bytes, %v; want ErrKeyMissing", name, len(got), err)
		}
		if got, err := readRange(svc, "a", 0, 10); !errors.Is(err, blob.ErrKeyMissing) || got != nil {
			t.Errorf("%s: range read = %d bytes, %v; want ErrKeyMissing", name, len(got), err)
		}
	}
}

// TestRekeyUnderLoad: rekey moves every data key to the current master
// key while blobs are written and read; afterwards the old key can be
// dropped and every blob still reads. A second run has nothing to do.
func TestRekeyUnderLoad(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "meta.db"))
	before := withKeys(f, keyring(t, "k1"))
	want := map[string][]byte{}
	for i := range 60 {
		id, data := fmt.Sprint("old/", i), content(100+i*500)
		want[id] = data
		if _, err := before.Create(context.Background(), id, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	rotating := withKeys(f, keyring(t, "k2", "k1"))
	var wg sync.WaitGroup
	var mu sync.Mutex
	stop := make(chan struct{})
	var ops atomic.Int64
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id, data := fmt.Sprintf("new/%d/%d", w, i), content(1000+i)
				if _, err := rotating.Create(context.Background(), id, bytes.NewReader(data), int64(len(data))); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want[id] = data
				mu.Unlock()
				if got, err := readAll(rotating, fmt.Sprint("old/", i%60)); err != nil || len(got) != 100+(i%60)*500 {
					t.Errorf("read during rekey: %v", err)
					return
				}
				ops.Add(1)
			}
		}()
	}
	st, err := rotating.Rekey(context.Background(), nil)
	close(stop)
	wg.Wait()
	if err != nil || st.Rewrapped != 60 {
		t.Fatalf("Rekey = %+v, %v; want the 60 old blobs rewrapped", st, err)
	}
	t.Logf("rekey %+v with %d writes and reads alongside", st, ops.Load())
	if ids, err := f.meta.KeyIDs(context.Background()); err != nil || !slices.Equal(ids, []string{"k2"}) {
		t.Fatalf("KeyIDs after rekey = %q, %v; want [k2]", ids, err)
	}
	after := withKeys(f, keyring(t, "k2"))
	for id, data := range want {
		if got, err := readAll(after, id); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s after k1 was dropped: %v", id, err)
		}
	}
	if st, err := after.Rekey(context.Background(), nil); err != nil || st.Rewrapped != 0 || st.Current != int64(len(want)) {
		t.Fatalf("a second Rekey = %+v, %v; want nothing to do", st, err)
	}
}

// TestMigrateEncrypt: migrate --encrypt converts the blobs stored in
// clear by compare-and-swap, resumably (a run stopped half-way is
// continued by the next), and --decrypt converts them back; every blob
// reads the same throughout.
func TestMigrateEncrypt(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "meta.db"))
	want := map[string][]byte{}
	for i := range 20 {
		id, data := fmt.Sprint("b", i), content(10+i*9000)
		want[id] = data
		if _, err := create(t, f, id, data); err != nil {
			t.Fatal(err)
		}
	}
	ring := keyring(t, "k1")
	svc := withKeys(f, ring)
	bucket := storage.NewBucket("memory", f.store)
	migration := func(encrypt bool) *blob.Migration {
		return &blob.Migration{Meta: f.meta, Target: bucket, Keys: ring, Encrypt: encrypt, Decrypt: !encrypt, Concurrency: 2}
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := migration(true)
	m.Progress = func(st blob.MigrationStats) {
		if st.Moved >= 10 {
			cancel()
		}
	}
	first, err := m.Run(ctx)
	if err == nil || first.Moved < 10 || first.Moved >= 20 {
		t.Fatalf("the interrupted run moved %d, %v; want it stopped half-way", first.Moved, err)
	}
	second, err := migration(true).Run(context.Background())
	if err != nil || second.Moved+first.Moved != 20 || second.Already != first.Moved {
		t.Fatalf("the second run = %+v, %v; want the rest converted", second, err)
	}
	for id, data := range want {
		if bytes.Contains(stored(t, f, id), []byte(marker[:8])) {
			t.Fatalf("%s is still in clear", id)
		}
		if got, err := readAll(svc, id); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s after --encrypt: %v", id, err)
		}
	}
	if st, err := migration(false).Run(context.Background()); err != nil || st.Moved != 20 {
		t.Fatalf("--decrypt = %+v, %v", st, err)
	}
	for id, data := range want {
		if len(data) >= len(marker) && !bytes.Contains(stored(t, f, id), []byte(marker)) {
			t.Fatalf("%s is not in clear after --decrypt", id)
		}
		if got, err := readAll(withKeys(f, nil), id); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s after --decrypt: %v", id, err)
		}
	}
}

// TestEncryptedInline: a blob kept in its record (INLINE_MAX_BYTES) is
// kept there encrypted, and reads back whole and by range.
func TestEncryptedInline(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "meta.db"))
	opts := options
	opts.Keys, opts.InlineMax = keyring(t, "k1"), 4096
	svc := blob.New(f.meta, storage.NewBucket("memory", f.store), opts, slog.New(slog.DiscardHandler))
	data := content(3000)
	if _, err := svc.Create(context.Background(), "small", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	rec, err := f.meta.Get(context.Background(), "small")
	if err != nil || rec.Backend != "inline" || rec.KeyID != "k1" || strings.Contains(rec.Data, marker[:8]) || f.store.Len() != 0 {
		t.Fatalf("record %q/%q, %d stored objects, %v; want it inline and encrypted", rec.Backend, rec.KeyID, f.store.Len(), err)
	}
	if got, err := readAll(svc, "small"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("whole read: %v", err)
	}
	if got, err := readRange(svc, "small", 100, 50); err != nil || !bytes.Equal(got, data[100:150]) {
		t.Fatalf("range read: %v", err)
	}
}

// readSpy is a memory store whose readers record the bytes each Read of
// them returned.
type readSpy struct {
	*memory.Store
	mu    sync.Mutex
	reads []int
}

func (s *readSpy) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := s.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return &spiedReader{rc, s}, nil
}

// took returns the reads recorded since the last call.
func (s *readSpy) took() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reads
	s.reads = nil
	return r
}

type spiedReader struct {
	io.ReadCloser
	s *readSpy
}

func (r *spiedReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.s.mu.Lock()
	r.s.reads = append(r.s.reads, n)
	r.s.mu.Unlock()
	return n, err
}

// TestEncryptedWholeReadBlocks: a whole read of an encrypted blob writes
// itself out in blocks of 1 MiB of content, each from one read of the
// backend that brings the stored bytes of its 16 segments (and one more
// read, of nothing, that shows the stored bytes end after the final
// segment), with the block and its tags reserved from the memory budget
// while it runs; or in blocks of 256 KiB (4 segments) without touching
// the budget when 1 MiB does not fit. A segment that fails in the first
// block writes nothing; one in a later block writes the segments before
// it, then fails.
func TestEncryptedWholeReadBlocks(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "meta.db"))
	spy := &readSpy{Store: f.store.Store}
	opts := options
	opts.Keys = keyring(t, "k1")
	svc := blob.New(f.meta, storage.NewBucket("memory", spy), opts, slog.New(slog.DiscardHandler))
	mem := &budget{limit: 4 << 20}
	svc.SetMemory(mem)
	const size = 2<<20 + 512<<10
	data := content(size)
	if _, err := svc.Create(context.Background(), "b", bytes.NewReader(data), size); err != nil {
		t.Fatal(err)
	}
	sealedBlock := func(n int64) int { return int(crypt.CiphertextSize(n)) }
	for _, c := range []struct {
		name     string
		taken    int64 // of the budget, by others
		block    int64
		reserved int64
	}{
		{"room", 0, 1 << 20, crypt.CiphertextSize(1 << 20)},
		{"full", 3<<20 + 1, 256 << 10, 3<<20 + 1},
	} {
		mem.inUse = c.taken
		spy.took()
		w, err := sendWhole(t, svc, mem, "b")
		if err != nil || !bytes.Equal(w.Bytes(), data) {
			t.Fatalf("%s: WriteTo = %d bytes, %v; want the blob", c.name, w.Len(), err)
		}
		var want []int
		for i, n := range w.sizes {
			block := min(c.block, size-int64(i)*c.block)
			if n != block || w.reservedAt[i] != c.reserved {
				t.Fatalf("%s: write %d = %d bytes with %d reserved; want %d bytes with %d", c.name, i, n, w.reservedAt[i], block, c.reserved)
			}
			want = append(want, sealedBlock(block))
		}
		if got := spy.took(); !slices.Equal(got, append(want, 0)) {
			t.Fatalf("%s: reads of the backend brought %v bytes; want %v: one read a block, then the end", c.name, got, append(want, 0))
		}
		if got := mem.reserved(); got != c.taken {
			t.Fatalf("%s: %d bytes reserved after the read; want %d", c.name, got, c.taken)
		}
	}
	mem.inUse = 0
	good := stored(t, f, "b")
	const seg = crypt.SegmentSize + crypt.Overhead
	for _, c := range []struct {
		segment int
		sent    int
	}{{1, 0}, {15, 0}, {16, 1 << 20}, {39, 2<<20 + 7*crypt.SegmentSize}} {
		bad := bytes.Clone(good)
		bad[c.segment*seg+3] ^= 1
		restore(t, f, "b", bad)
		w, err := sendWhole(t, svc, mem, "b")
		if !errors.Is(err, blob.ErrCorrupt) || !bytes.Equal(w.Bytes(), data[:c.sent]) {
			t.Fatalf("segment %d flipped: WriteTo = %d bytes, %v; want the first %d bytes and ErrCorrupt", c.segment, w.Len(), err, c.sent)
		}
	}
}
