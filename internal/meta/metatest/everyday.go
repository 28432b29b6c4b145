package metatest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
)

// everydayCases are the conformance cases of [meta.Everyday].
var everydayCases = []testCase{
	{"Replace", testReplace},
	{"ReplaceStale", testReplaceStale},
	{"Rename", testRename},
	{"RenameRefused", testRenameRefused},
	{"Usage", testUsage},
}

// replacement returns a record for r.ID that differs from r in everything
// but the id.
func replacement(r meta.Record) meta.Record {
	n := r
	n.Size, n.SHA256 = 12345, strings.Repeat("f", 64)
	n.CRC32C, n.HasCRC32C = 0xdeadbeef, true
	n.ContentType = "application/json"
	n.MD5 = strings.Repeat("e", 32) + "-3"
	n.S3Headers = ""
	n.Backend, n.StorageKey = "s3", "ab/cd/replacement"
	n.CreatedAt = r.CreatedAt.Add(time.Hour)
	return n
}

func testReplace(t *testing.T, s meta.Store) {
	ctx := context.Background()
	r := record("reports/q3.txt")
	mustInsert(t, s, r)
	mustInsert(t, s, record("neighbour"))
	n := replacement(r)
	notBefore := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	if ok, err := s.Replace(ctx, r, n, notBefore); err != nil || !ok {
		t.Fatalf("Replace = %v, %v; want true, nil", ok, err)
	}
	if got, err := s.Get(ctx, r.ID); err != nil || got != n {
		t.Fatalf("Get after Replace = %+v, %v; want %+v", got, err, n)
	}
	if got, _ := s.Get(ctx, "neighbour"); got != record("neighbour") {
		t.Fatalf("Replace changed a neighbour: %+v", got)
	}
	if due, _ := s.DueGarbage(ctx, r.Backend, notBefore.Add(-time.Second), 10); len(due) != 0 {
		t.Fatalf("the old key is due before notBefore: %v", due)
	}
	due, err := s.DueGarbage(ctx, r.Backend, notBefore, 10)
	want := []meta.Garbage{{Backend: r.Backend, StorageKey: r.StorageKey, NotBefore: notBefore.UTC()}}
	if err != nil || !slices.EqualFunc(due, want, garbageEqual) {
		t.Fatalf("DueGarbage after Replace = %v, %v; want the old key %v", due, err, want)
	}
	if due, _ := s.DueGarbage(ctx, n.Backend, notBefore.Add(time.Hour), 10); len(due) != 0 {
		t.Fatalf("Replace recorded the new key as garbage: %v", due)
	}
}

// testReplaceStale: a Replace whose old is not what the record references
// (replaced already, or recreated), or of an id without a record, reports
// false and changes nothing, garbage included.
func testReplaceStale(t *testing.T, s meta.Store) {
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	r := record("x")
	mustInsert(t, s, r)
	n := replacement(r)
	if ok, err := s.Replace(ctx, r, n, later); err != nil || !ok {
		t.Fatalf("first Replace = %v, %v; want true, nil", ok, err)
	}
	again := replacement(r)
	again.StorageKey = "ab/cd/again"
	if ok, err := s.Replace(ctx, r, again, later); err != nil || ok {
		t.Fatalf("Replace from bytes the record left = %v, %v; want false, nil", ok, err)
	}
	// Same key in another backend is other bytes.
	elsewhere := n
	elsewhere.Backend = "local"
	if ok, err := s.Replace(ctx, elsewhere, again, later); err != nil || ok {
		t.Fatalf("Replace from the same key in another backend = %v, %v; want false, nil", ok, err)
	}
	if got, _ := s.Get(ctx, "x"); got != n {
		t.Fatalf("a stale Replace changed the record: %+v; want %+v", got, n)
	}
	missing := record("missing")
	if ok, err := s.Replace(ctx, missing, replacement(missing), later); err != nil || ok {
		t.Fatalf("Replace of an id without a record = %v, %v; want false, nil", ok, err)
	}
	if _, err := s.Get(ctx, "missing"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Replace of an id without a record created one: %v", err)
	}
	for _, backend := range []string{"memory", "s3", "local"} {
		due, err := s.DueGarbage(ctx, backend, later.Add(time.Hour), 10)
		var keys []string
		for _, g := range due {
			keys = append(keys, g.StorageKey)
		}
		var want []string
		if backend == r.Backend {
			want = []string{r.StorageKey} // the first Replace's only
		}
		if err != nil || !slices.Equal(keys, want) {
			t.Fatalf("garbage of %s = %q, %v; want %q", backend, keys, err, want)
		}
	}
}

func testRename(t *testing.T, s meta.Store) {
	ctx := context.Background()
	r := record("drafts/q3.txt")
	r.CRC32C, r.HasCRC32C = 0xcafef00d, true
	mustInsert(t, s, r)
	mustInsert(t, s, record("neighbour"))
	to := "reports/2026/日本語 q3.txt"
	got, err := s.Rename(ctx, r.ID, to)
	want := r
	want.ID = to
	if err != nil || got != want {
		t.Fatalf("Rename = %+v, %v; want %+v", got, err, want)
	}
	if got, err := s.Get(ctx, to); err != nil || got != want {
		t.Fatalf("Get of the new id = %+v, %v; want %+v (everything but the id kept)", got, err, want)
	}
	if _, err := s.Get(ctx, r.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Get of the old id after Rename = %v; want ErrNotFound", err)
	}
	if got, _ := s.Get(ctx, "neighbour"); got != record("neighbour") {
		t.Fatalf("Rename changed a neighbour: %+v", got)
	}
	// The bytes do not move: nothing becomes garbage.
	if due, err := s.DueGarbage(ctx, r.Backend, time.Now().Add(24*time.Hour), 10); err != nil || len(due) != 0 {
		t.Fatalf("Rename recorded garbage: %v, %v", due, err)
	}
	// The old id is free again at once.
	mustInsert(t, s, record(r.ID))
}

func testRenameRefused(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b := record("a"), record("b")
	mustInsert(t, s, a)
	mustInsert(t, s, b)
	if _, err := s.Rename(ctx, "a", "b"); !errors.Is(err, meta.ErrExists) {
		t.Fatalf("Rename onto a taken id = %v; want ErrExists", err)
	}
	if _, err := s.Rename(ctx, "missing", "c"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Rename of a missing id = %v; want ErrNotFound", err)
	}
	if _, err := s.Rename(ctx, "missing", "a"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Rename of a missing id onto a taken one = %v; want ErrNotFound", err)
	}
	// Refused renames change nothing.
	for _, want := range []meta.Record{a, b} {
		if got, err := s.Get(ctx, want.ID); err != nil || got != want {
			t.Fatalf("Get(%q) after refused renames = %+v, %v; want %+v", want.ID, got, err, want)
		}
	}
	for _, id := range []string{"c", "missing"} {
		if _, err := s.Get(ctx, id); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("a refused Rename created %q: %v", id, err)
		}
	}
}

func testUsage(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if u, err := s.Usage(ctx, ""); err != nil || u != (meta.Usage{}) {
		t.Fatalf("Usage of an empty store = %+v, %v; want zeros", u, err)
	}
	// U+D7FF's successor is U+E000 (the surrogates are no characters), and
	// U+10FFFF has none: the two ends of a prefix's range.
	ids := []string{"a", "a/1", "a/2", "a_", "ab", "b", "é/1", "éa", "日本/1", "日本語",
		"\ud7ff/1", "\ue000", "\U0010ffff", "\U0010ffff/z"}
	for _, id := range ids {
		mustInsert(t, s, record(id))
	}
	uploads := map[string]int64{"a/up": 7, "é/up": 11, "\U0010ffff/up": 13, "b/up": 0}
	for blobID, offset := range uploads {
		u := upload("u-" + blobID)
		u.BlobID = blobID
		mustCreate(t, s, u, "w")
		if offset > 0 {
			if ok, err := s.AppendPart(ctx, u.ID, "w", 0, -1, part(0, offset), u.ExpiresAt); !ok || err != nil {
				t.Fatalf("AppendPart(%q) = %v, %v", u.ID, ok, err)
			}
		}
	}
	// A finished upload is no unfinished one.
	done := upload("done")
	done.BlobID = "a/done"
	mustCreate(t, s, done, "w")
	if ok, err := s.FinishUpload(ctx, done.ID, "w", done.Length, nil, t0); !ok || err != nil {
		t.Fatalf("FinishUpload = %v, %v", ok, err)
	}
	for _, g := range []meta.Garbage{{Backend: "memory", StorageKey: "g/1", NotBefore: t0}, {Backend: "s3", StorageKey: "g/2", NotBefore: t0}} {
		if err := s.AddGarbage(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	for _, prefix := range []string{"", "a", "a/", "a_", "b", "é", "日本", "日本語", "\ud7ff", "\ue000", "\U0010ffff", "\U0010ffff/", "z"} {
		want := meta.Usage{GarbageKeys: 2}
		for _, id := range ids {
			if strings.HasPrefix(id, prefix) {
				want.Blobs++
				want.Bytes += record(id).Size
			}
		}
		for blobID, offset := range uploads {
			if strings.HasPrefix(blobID, prefix) {
				want.Uploads++
				want.UploadBytes += offset
			}
		}
		if got, err := s.Usage(ctx, prefix); err != nil || got != want {
			t.Errorf("Usage(%q) = %+v, %v; want %+v", prefix, got, err, want)
		}
	}
}
