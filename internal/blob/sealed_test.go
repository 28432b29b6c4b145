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
