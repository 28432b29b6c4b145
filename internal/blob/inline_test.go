package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// inlineLimit is Options.InlineMax in the inline tests.
const inlineLimit = 64

func inlineOptions(limit int64) blob.Options {
	o := options
	o.InlineMax = limit
	return o
}

// inlineEngines runs fn on SQLite and on PostgreSQL with a service that
// keeps blobs of up to inlineLimit bytes in their records.
func inlineEngines(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("SQLite", func(t *testing.T) {
		fn(t, newFixtureWith(t, filepath.Join(t.TempDir(), "meta.db"), inlineOptions(inlineLimit)))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		fn(t, newFixtureWith(t, testenv.PostgresURL(t), inlineOptions(inlineLimit)))
	})
}

// bytesOf returns n bytes of a pattern.
func bytesOf(n int) []byte { return bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n] }

// row returns the backend of id's row and the length of its data column
// (-1 for NULL), as the database holds them.
func (f *fixture) row(t *testing.T, id string) (backend string, dataLen int64) {
	t.Helper()
	var n *int64
	if err := f.db.Reader().QueryRow(`SELECT backend, length(data) FROM blob_metadata WHERE id = $1`, id).Scan(&backend, &n); err != nil {
		t.Fatalf("row of %q: %v", id, err)
	}
	if n == nil {
		return backend, -1
	}
	return backend, *n
}

// setInlineData writes data into the data column of id's row, as a
// corruption of the database would.
func (f *fixture) setInlineData(t *testing.T, id string, data []byte) {
	t.Helper()
	if _, err := f.db.Writer().Exec(`UPDATE blob_metadata SET data = $1 WHERE id = $2`, data, id); err != nil {
		t.Fatal(err)
	}
}

// unsized hides the length of a reader, as a chunked request body does.
type unsized struct{ io.Reader }

// TestInlineSizes: blobs of 0 and 1 byte and of exactly the limit are kept
// in their rows (the backend holds nothing, the row holds the bytes), of
// known size or not; one byte more goes to the backend with no row data.
// Every one reads back whole, and its record matches what was stored.
func TestInlineSizes(t *testing.T) {
	inlineEngines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		for _, size := range []int{0, 1, inlineLimit, inlineLimit + 1, 5000} {
			for _, known := range []bool{true, false} {
				id := fmt.Sprintf("b%d-known%v", size, known)
				data := bytesOf(size)
				u := blob.Upload{ID: id, Body: bytes.NewReader(data), Size: int64(size)}
				if !known {
					u.Body, u.Size = unsized{bytes.NewReader(data)}, -1
				}
				before := f.store.Len()
				created, err := f.svc.Store(ctx, u)
				if err != nil {
					t.Fatalf("Store(%s): %v", id, err)
				}
				sum := sha256.Sum256(data)
				if created.Size != int64(size) || created.SHA256 != fmt.Sprintf("%x", sum) || !created.HasCRC32C {
					t.Fatalf("Store(%s) = %+v", id, created)
				}
				backend, dataLen := f.row(t, id)
				inline := size <= inlineLimit
				switch {
				case inline && (backend != meta.InlineBackend || dataLen != int64(size) && !(size == 0 && dataLen <= 0) || f.store.Len() != before):
					t.Fatalf("%s: row on %q with %d data bytes, %d backend objects added; want inline, none added", id, backend, dataLen, f.store.Len()-before)
				case !inline && (backend != "memory" || dataLen != -1 || f.store.Len() != before+1):
					t.Fatalf("%s: row on %q with %d data bytes, %d backend objects added; want on the backend", id, backend, dataLen, f.store.Len()-before)
				}
				got, back := read(t, f, id)
				if !bytes.Equal(back, data) || got != created {
					t.Fatalf("read %s = %+v, %d bytes; want %+v and the bytes", id, got, len(back), created)
				}
				if st, err := f.svc.Stat(ctx, id); err != nil || st != created {
					t.Fatalf("Stat(%s) = %+v, %v", id, st, err)
				}
			}
		}
		// A taken id is refused for an inline create too, and the row kept.
		if _, err := create(t, f, "b1-knowntrue", []byte("y")); !errors.Is(err, blob.ErrExists) {
			t.Fatalf("duplicate inline create: %v; want ErrExists", err)
		}
		if _, data := read(t, f, "b1-knowntrue"); string(data) != "0" {
			t.Fatalf("the duplicate changed the blob: %q", data)
		}
	})
}

// TestInlineFailuresStoreNothing: a body of the wrong size, a body that
// fails or is cut short (io.ErrUnexpectedEOF is no end), a digest that
// does not match and an invalid late id store nothing, inline or not.
func TestInlineFailuresStoreNothing(t *testing.T) {
	inlineEngines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		cut := errors.New("body failed")
		for name, u := range map[string]blob.Upload{
			"short":        {ID: "a", Body: strings.NewReader("abc"), Size: 4},
			"long":         {ID: "a", Body: strings.NewReader("abcde"), Size: 4},
			"failing":      {ID: "a", Body: io.MultiReader(strings.NewReader("ab"), iotest.ErrReader(cut)), Size: -1},
			"cut short":    {ID: "a", Body: io.MultiReader(strings.NewReader("ab"), iotest.ErrReader(io.ErrUnexpectedEOF)), Size: -1},
			"digest":       {ID: "a", Body: strings.NewReader("abc"), Size: 3, SHA256: make([]byte, 32)},
			"late invalid": {Body: strings.NewReader("abc"), Size: -1, LateID: func() string { return "" }},
		} {
			if _, err := f.svc.Store(ctx, u); err == nil {
				t.Fatalf("%s: stored", name)
			}
		}
		if n := f.metadataRows(t); n != 0 || f.store.Len() != 0 {
			t.Fatalf("%d rows, %d backend objects after failed creates; want none", n, f.store.Len())
		}
		// A late id that is valid is taken once the bytes have ended.
		b, err := f.svc.Store(ctx, blob.Upload{Body: strings.NewReader("late"), Size: -1, LateID: func() string { return "late" }})
		if err != nil || b.ID != "late" {
			t.Fatalf("late id: %+v, %v", b, err)
		}
		if backend, _ := f.row(t, "late"); backend != meta.InlineBackend {
			t.Fatalf("late id stored on %q; want inline", backend)
		}
	})
}

// TestInlineRanges: any range of an inline blob reads the bytes it
// covers, and a range of a row whose data is shorter than recorded fails
// with ErrCorrupt.
func TestInlineRanges(t *testing.T) {
	inlineEngines(t, func(t *testing.T, f *fixture) {
		data := bytesOf(inlineLimit)
		create(t, f, "r", data)
		for _, r := range [][2]int64{{0, 0}, {0, 1}, {0, inlineLimit}, {10, 20}, {inlineLimit - 1, 1}, {inlineLimit, 0}} {
			rc, err := openRange(t, f, "r", r[0], r[1])
			if err != nil {
				t.Fatalf("range %v: %v", r, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
				t.Fatalf("range %v = %q, %v", r, got, err)
			}
		}
		if _, err := openRange(t, f, "r", 60, 5); err == nil {
			t.Fatal("a range past the end opened")
		}
		f.setInlineData(t, "r", data[:30])
		rc, err := openRange(t, f, "r", 20, 20)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadAll(rc); !errors.Is(err, blob.ErrCorrupt) {
			t.Fatalf("range over missing row data: %v; want ErrCorrupt", err)
		}
	})
}

// TestInlineHoldBack: a byte flipped in a row's data is caught on a whole
// read, which never hands over the whole blob; so is data longer or
// shorter than recorded.
func TestInlineHoldBack(t *testing.T) {
	inlineEngines(t, func(t *testing.T, f *fixture) {
		data := bytesOf(inlineLimit)
		for _, crc := range []bool{true, false} {
			for name, stored := range map[string][]byte{
				"flipped first": append([]byte{data[0] ^ 0x20}, data[1:]...),
				"flipped last":  append(bytes.Clone(data[:inlineLimit-1]), data[inlineLimit-1]^0x20),
				"short":         data[:inlineLimit-1],
				"long":          append(bytes.Clone(data), 'x'),
			} {
				id := fmt.Sprintf("%s-crc%v", name, crc)
				create(t, f, id, data)
				if !crc {
					forgetCRC(t, f, id)
				}
				f.setInlineData(t, id, stored)
				for _, chunk := range []int{1, 4096} {
					if n, err := readWith(t, f, id, chunk); !errors.Is(err, blob.ErrCorrupt) || n >= inlineLimit {
						t.Fatalf("%s through %d-byte reads = %d bytes, %v; want fewer than %d and ErrCorrupt", id, chunk, n, err, inlineLimit)
					}
				}
			}
		}
	})
}

// TestInlineDeleteGC: deleting an inline blob records no garbage, and the
// collectors, of garbage and of orphans, neither touch inline blobs nor
// find anything of theirs to remove.
func TestInlineDeleteGC(t *testing.T) {
	inlineEngines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		create(t, f, "kept", []byte("kept"))
		create(t, f, "doomed", []byte("doomed"))
		create(t, f, "large", bytesOf(100))
		if err := f.svc.Delete(ctx, "doomed"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.Get(ctx, "doomed"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Get after Delete: %v; want ErrNotFound", err)
		}
		if u, err := f.svc.Usage(ctx, "", true); err != nil || u.GarbageKeys != 0 {
			t.Fatalf("Usage after deleting an inline blob = %+v, %v; want no garbage", u, err)
		}
		r, err := f.svc.Collect(ctx, time.Now().Add(2*time.Hour), blob.GCOptions{})
		if err != nil || r.Garbage != 0 || r.Orphans != 0 || r.Listed != 1 {
			t.Fatalf("Collect = %+v, %v; want the one backend object listed, nothing removed", r, err)
		}
		for id, want := range map[string]string{"kept": "kept", "large": string(bytesOf(100))} {
			if _, data := read(t, f, id); string(data) != want {
				t.Fatalf("%s after gc = %q", id, data)
			}
		}
		if err := f.svc.Delete(ctx, "large"); err != nil {
			t.Fatal(err)
		}
		if n, err := f.svc.CollectGarbage(ctx, time.Now().Add(2*time.Hour)); err != nil || n != 1 || f.store.Len() != 0 {
			t.Fatalf("CollectGarbage = %d, %v, %d objects left; want the large blob's one removed", n, err, f.store.Len())
		}
	})
}

// TestInlineFsck: fsck checks inline rows without a backend object: sound
// ones pass, shallow and deep; a row whose data has another length is a
// size problem; a flipped byte is a checksum problem found by --deep
// only. Repair removes none of them (they are not missing).
func TestInlineFsck(t *testing.T) {
	inlineEngines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		data := bytesOf(40)
		for _, id := range []string{"sound", "flipped", "short"} {
			create(t, f, id, data)
		}
		create(t, f, "zero", nil)
		create(t, f, "large", bytesOf(100))
		for _, deep := range []bool{false, true} {
			r, err := f.svc.Check(ctx, blob.CheckOptions{Deep: deep, Repair: true})
			if err != nil || r.Problems != 0 || r.Checked != 5 || r.Records != 5 {
				t.Fatalf("Check(deep %v) of sound blobs = %+v, %v; want 5 checked, no problem", deep, r, err)
			}
		}
		flipped := bytes.Clone(data)
		flipped[3] ^= 1
		f.setInlineData(t, "flipped", flipped)
		f.setInlineData(t, "short", data[:3])
		var shallow, deep []string
		r, err := f.svc.Check(ctx, blob.CheckOptions{Repair: true, Problem: func(p blob.Problem) { shallow = append(shallow, p.Kind+" "+p.Record.ID) }})
		if err != nil || fmt.Sprint(shallow) != "[size_mismatch short]" || r.Repaired != 0 {
			t.Fatalf("shallow Check = %q, %+v, %v; want the short row only, nothing repaired", shallow, r, err)
		}
		r, err = f.svc.Check(ctx, blob.CheckOptions{Deep: true, Repair: true, Problem: func(p blob.Problem) { deep = append(deep, p.Kind+" "+p.Record.ID) }})
		if err != nil || len(deep) != 2 || r.ByKind[blob.ProblemChecksum] != 1 || r.ByKind[blob.ProblemSize] != 1 || r.Repaired != 0 {
			t.Fatalf("deep Check = %q, %+v, %v; want the flipped and the short rows, nothing repaired", deep, r, err)
		}
		if n := f.metadataRows(t); n != 5 {
			t.Fatalf("%d rows after repair; want all 5", n)
		}
	})
}

// TestInlineEveryday: replace switches a blob between its row and the
// backend both ways (the old bytes on the backend become garbage, the old
// row data none); move renames an inline blob with its bytes; copy of an
// inline blob is another inline blob; usage counts them.
func TestInlineEveryday(t *testing.T) {
	inlineEngines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		create(t, f, "x", bytesOf(100))
		if _, err := replace(f, "x", []byte("small now"), always); err != nil {
			t.Fatal(err)
		}
		if backend, _ := f.row(t, "x"); backend != meta.InlineBackend {
			t.Fatalf("replaced by a small blob: on %q; want inline", backend)
		}
		if u, _ := f.svc.Usage(ctx, "", true); u.GarbageKeys != 1 {
			t.Fatalf("the old backend bytes are not garbage: %+v", u)
		}
		if _, err := replace(f, "x", []byte("smaller"), always); err != nil {
			t.Fatal(err)
		}
		if _, err := replace(f, "x", bytesOf(200), always); err != nil {
			t.Fatal(err)
		}
		if backend, n := f.row(t, "x"); backend != "memory" || n != -1 {
			t.Fatalf("replaced by a large blob: on %q with %d data bytes; want the backend", backend, n)
		}
		if u, _ := f.svc.Usage(ctx, "", true); u.GarbageKeys != 1 {
			t.Fatalf("replacing inline blobs recorded garbage: %+v", u)
		}
		if _, err := f.svc.Move(ctx, "x", "y"); err != nil {
			t.Fatal(err)
		}
		create(t, f, "small", []byte("tiny"))
		if _, err := f.svc.Move(ctx, "small", "moved"); err != nil {
			t.Fatal(err)
		}
		if _, data := read(t, f, "moved"); string(data) != "tiny" {
			t.Fatalf("moved inline blob = %q", data)
		}
		if _, err := f.svc.Copy(ctx, "moved", "copied"); err != nil {
			t.Fatal(err)
		}
		if backend, n := f.row(t, "copied"); backend != meta.InlineBackend || n != 4 {
			t.Fatalf("copy of an inline blob on %q with %d bytes; want inline", backend, n)
		}
		if _, data := read(t, f, "copied"); string(data) != "tiny" {
			t.Fatalf("copied inline blob = %q", data)
		}
		if u, err := f.svc.Usage(ctx, "", false); err != nil || u.Blobs != 3 || u.Bytes != 208 {
			t.Fatalf("Usage = %+v, %v; want 3 blobs, 208 bytes", u, err)
		}
	})
}

// TestInlineMigrate: migrating with inlining off moves inline blobs out to
// the target, readable there and leaving no garbage; migrating with it on
// moves the small blobs of any backend, the target's included, into their
// rows, leaving their old bytes as garbage, and the large ones to the
// target. Every blob reads back the same after each run.
func TestInlineMigrate(t *testing.T) {
	inlineEngines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		other := storage.NewBucket("other", memory.New())
		want := map[string][]byte{"zero": nil, "one": []byte("1"), "limit": bytesOf(inlineLimit), "large": bytesOf(100)}
		for id, data := range want {
			create(t, f, id, data)
		}
		svc := blob.New(f.meta, f.bucket, blob.Options{Timeout: time.Minute, ReadBackends: []*storage.Bucket{other}}, slog.New(slog.DiscardHandler))
		check := func(stage string, wantBackend func(id string) string) {
			t.Helper()
			for id, data := range want {
				if _, got := readFrom(t, svc, id); !bytes.Equal(got, data) {
					t.Fatalf("%s: %s reads %q", stage, id, got)
				}
				if backend, _ := f.row(t, id); backend != wantBackend(id) {
					t.Fatalf("%s: %s on %q; want %q", stage, id, backend, wantBackend(id))
				}
			}
		}
		m := blob.Migration{Meta: f.meta, Sources: map[string]*storage.Bucket{"memory": f.bucket}, Target: other, Timeout: time.Minute}
		st, err := m.Run(ctx)
		if err != nil || st.Moved != 4 || st.Bytes != 1+inlineLimit+100 {
			t.Fatalf("migrate out = %+v, %v; want 4 moved", st, err)
		}
		check("out", func(string) string { return "other" })
		if u, _ := f.svc.Usage(ctx, "", false); u.Blobs != 4 {
			t.Fatalf("usage after migrate out: %+v", u)
		}
		if due, _ := f.meta.DueGarbage(ctx, "memory", time.Now().Add(time.Hour), 10); len(due) != 1 {
			t.Fatalf("garbage on memory after migrate out = %v; want the large blob's key only", due)
		}

		m.InlineMax = inlineLimit
		st, err = m.Run(ctx)
		if err != nil || st.Moved != 3 || st.Already != 1 {
			t.Fatalf("migrate in = %+v, %v; want 3 moved in, 1 already on the target", st, err)
		}
		check("in", func(id string) string {
			if id == "large" {
				return "other"
			}
			return meta.InlineBackend
		})
		if due, _ := f.meta.DueGarbage(ctx, "other", time.Now().Add(time.Hour), 10); len(due) != 3 {
			t.Fatalf("garbage on other after migrate in = %v; want the 3 old keys", due)
		}
		if st, err = m.Run(ctx); err != nil || st.Moved != 0 || st.Already != 4 {
			t.Fatalf("migrate again = %+v, %v; want nothing to move", st, err)
		}
		// A corrupt inline row is not moved: the run stops at it.
		f.setInlineData(t, "one", []byte("2"))
		m.InlineMax = 0
		if _, err := m.Run(ctx); !errors.Is(err, blob.ErrCorrupt) {
			t.Fatalf("migrating a corrupt inline row: %v; want ErrCorrupt", err)
		}
		if backend, _ := f.row(t, "one"); backend != meta.InlineBackend {
			t.Fatalf("the corrupt row moved to %q", backend)
		}
	})
}

// TestInlineKeysAscend: the records of inline blobs created one after the
// other get storage keys that sort in that order (so a batch of creates
// adds its index entries at the index's end), all distinct, also for one
// id created again after its delete.
func TestInlineKeysAscend(t *testing.T) {
	inlineEngines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		var keys []string
		add := func(id string) {
			t.Helper()
			if _, err := create(t, f, id, []byte("small")); err != nil {
				t.Fatal(err)
			}
			rec, err := f.meta.Get(ctx, id)
			if err != nil || rec.Backend != meta.InlineBackend {
				t.Fatalf("record of %s: %+v, %v; want an inline one", id, rec, err)
			}
			keys = append(keys, rec.StorageKey)
		}
		for i := range 20 {
			add(fmt.Sprint("k", 99-i)) // ids in descending order
		}
		if err := f.svc.Delete(ctx, "k95"); err != nil {
			t.Fatal(err)
		}
		add("k95")
		for i := 1; i < len(keys); i++ {
			if keys[i] <= keys[i-1] {
				t.Fatalf("create %d got key %q, not after create %d's %q", i, keys[i], i-1, keys[i-1])
			}
		}
	})
}

// TestInlineHeadAtMost: an upload of unknown size with a bound on its
// bytes (a JSON body's length) reads, and reserves, a head of the bound
// plus one byte when that is below the limit; a body that breaks its
// bound still stores whole, on the backend.
func TestInlineHeadAtMost(t *testing.T) {
	f := newFixtureWith(t, filepath.Join(t.TempDir(), "meta.db"), inlineOptions(inlineLimit))
	mem := &recordingMemory{limit: 1 << 20}
	f.svc.SetMemory(mem)
	ctx := context.Background()
	if _, err := f.svc.Store(ctx, blob.Upload{ID: "bounded", Body: unsized{strings.NewReader("small")}, Size: -1, AtMost: 20}); err != nil {
		t.Fatal(err)
	}
	if backend, _ := f.row(t, "bounded"); backend != meta.InlineBackend || mem.largest != 21 {
		t.Fatalf("bounded upload on %q with a head of %d bytes; want inline, 21", backend, mem.largest)
	}
	if _, err := f.svc.Store(ctx, blob.Upload{ID: "liar", Body: unsized{strings.NewReader("small")}, Size: -1, AtMost: 3}); err != nil {
		t.Fatal(err)
	}
	if backend, _ := f.row(t, "liar"); backend != "memory" {
		t.Fatalf("an upload longer than its bound went to %q", backend)
	}
	if _, data := read(t, f, "liar"); string(data) != "small" {
		t.Fatalf("an upload longer than its bound reads %q", data)
	}
}

// recordingMemory is a budget that records what is reserved.
type recordingMemory struct {
	mu              sync.Mutex
	limit, used     int64
	peak, largest   int64
	acquired, fails int
}

func (m *recordingMemory) TryAcquire(n int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used+n > m.limit {
		m.fails++
		return false
	}
	m.used += n
	m.acquired++
	m.peak, m.largest = max(m.peak, m.used), max(m.largest, n)
	return true
}

func (m *recordingMemory) Release(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.used -= n
}

// TestInlineBudget: the head an upload reads to tell whether it fits in
// its row is reserved from the memory budget, at most the limit plus one
// byte whatever the upload's announced size, and returned; without room
// in the budget the upload streams to the backend.
func TestInlineBudget(t *testing.T) {
	f := newFixtureWith(t, filepath.Join(t.TempDir(), "meta.db"), inlineOptions(inlineLimit))
	mem := &recordingMemory{limit: 1 << 20}
	f.svc.SetMemory(mem)
	ctx := context.Background()
	for i, u := range []blob.Upload{
		{Body: strings.NewReader("small"), Size: 5},
		{Body: unsized{strings.NewReader("small")}, Size: -1},
		{Body: unsized{bytes.NewReader(bytesOf(10 << 10))}, Size: -1}, // read up to limit+1, then streamed
		{Body: bytes.NewReader(bytesOf(10 << 10)), Size: 10 << 10},    // announced too large: no head
	} {
		u.ID = fmt.Sprint("b", i)
		if _, err := f.svc.Store(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if mem.acquired != 3 || mem.largest != inlineLimit+1 || mem.used != 0 {
		t.Fatalf("reservations: %d, largest %d, %d still held; want 3, at most %d, none held", mem.acquired, mem.largest, mem.used, inlineLimit+1)
	}
	if backend, _ := f.row(t, "b2"); backend != "memory" {
		t.Fatalf("the long unsized upload went to %q", backend)
	}
	if _, data := read(t, f, "b2"); !bytes.Equal(data, bytesOf(10<<10)) {
		t.Fatal("the long unsized upload lost its head")
	}
	mem.limit = inlineLimit // no room for a head of limit+1
	if _, err := f.svc.Store(ctx, blob.Upload{ID: "full", Body: unsized{strings.NewReader("small")}, Size: -1}); err != nil {
		t.Fatal(err)
	}
	if backend, _ := f.row(t, "full"); backend != "memory" || mem.fails != 1 {
		t.Fatalf("with the budget full: on %q, %d refusals; want the backend after one refusal", backend, mem.fails)
	}
}
