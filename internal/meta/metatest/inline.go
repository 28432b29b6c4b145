package metatest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
)

// inlineCases are the conformance cases of records that hold their bytes
// ([meta.InlineBackend]), across the roles that meet them.
var inlineCases = []testCase{
	{"RoundTrip", testInlineRoundTrip},
	{"DeleteLeavesNoGarbage", testInlineDelete},
	{"MoveOut", testInlineMoveOut},
	{"ReplaceInAndOut", testInlineReplace},
	{"Rename", testInlineRename},
	{"Usage", testInlineUsage},
}

// inlineRecord returns a record for id that holds data.
func inlineRecord(id, data string) meta.Record {
	r := record(id)
	r.Size, r.Backend, r.Data = int64(len(data)), meta.InlineBackend, data
	return r
}

// inlineData are the bytes the inline cases store: none, one, every byte
// value (NUL and invalid UTF-8 included), and a few KiB.
var inlineData = map[string]string{
	"empty": "",
	"one":   "x",
	"bytes": func() string {
		var b strings.Builder
		for i := range 256 {
			b.WriteByte(byte(i))
		}
		return b.String()
	}(),
	"4KiB": strings.Repeat("0123456789abcdef", 256),
}

// testInlineRoundTrip: Get returns a record's Data byte for byte; List
// leaves it out.
func testInlineRoundTrip(t *testing.T, s meta.Store) {
	ctx := context.Background()
	for id, data := range inlineData {
		mustInsert(t, s, inlineRecord(id, data))
	}
	mustInsert(t, s, record("on-a-backend"))
	for id, data := range inlineData {
		got, err := s.Get(ctx, id)
		if want := inlineRecord(id, data); err != nil || got != want {
			t.Fatalf("Get(%q) = %d bytes, %v; want the record with its %d bytes", id, len(got.Data), err, len(data))
		}
	}
	if got, err := s.Get(ctx, "on-a-backend"); err != nil || got.Data != "" {
		t.Fatalf("Get of a record on a backend = %q, %v; want no data", got.Data, err)
	}
	page, err := s.List(ctx, meta.ListQuery{Limit: 10})
	if err != nil || len(page) != len(inlineData)+1 {
		t.Fatalf("List = %d records, %v; want %d", len(page), err, len(inlineData)+1)
	}
	for _, r := range page {
		if r.Data != "" {
			t.Fatalf("List returned the data of %q", r.ID)
		}
		if r.ID != "on-a-backend" && r.Backend != meta.InlineBackend {
			t.Fatalf("List returned %q on backend %q; want %q", r.ID, r.Backend, meta.InlineBackend)
		}
	}
}

// noGarbage fails t unless the store records no garbage at all.
func noGarbage(t *testing.T, s meta.Store, after string) {
	t.Helper()
	u, err := s.Usage(context.Background(), "")
	if err != nil || u.GarbageKeys != 0 {
		t.Fatalf("after %s: %d garbage keys, %v; want none", after, u.GarbageKeys, err)
	}
	due, err := s.DueGarbage(context.Background(), meta.InlineBackend, time.Now().AddDate(1, 0, 0), 10)
	if err != nil || len(due) != 0 {
		t.Fatalf("after %s: DueGarbage(inline) = %v, %v; want nothing", after, due, err)
	}
}

func testInlineDelete(t *testing.T, s meta.Store) {
	ctx := context.Background()
	r := inlineRecord("small", "hello")
	mustInsert(t, s, r)
	got, err := s.Delete(ctx, r.ID, time.Now().Add(time.Hour))
	want := r
	want.Data = "" // Delete returns a record without its data
	if err != nil || got != want {
		t.Fatalf("Delete = %+v, %v; want %+v", got, err, want)
	}
	noGarbage(t, s, "deleting an inline record")
	mustInsert(t, s, r) // the id is free again
}

// testInlineMoveOut: moving an inline record to a backend drops its data
// and records no garbage for it.
func testInlineMoveOut(t *testing.T, s meta.Store) {
	ctx := context.Background()
	r := inlineRecord("small", "hello")
	mustInsert(t, s, r)
	ok, err := s.Move(ctx, r.ID, r, "s3", "ab/cd/out", time.Now())
	if err != nil || !ok {
		t.Fatalf("Move = %v, %v; want true", ok, err)
	}
	want := r
	want.Backend, want.StorageKey, want.Data = "s3", "ab/cd/out", ""
	if got, err := s.Get(ctx, r.ID); err != nil || got != want {
		t.Fatalf("Get after Move = %+v, %v; want %+v", got, err, want)
	}
	noGarbage(t, s, "moving an inline record out")
}

// testInlineReplace: a record on a backend replaced by an inline one
// leaves its old key as garbage; the inline one replaced by a record on a
// backend drops its data and leaves none.
func testInlineReplace(t *testing.T, s meta.Store) {
	ctx := context.Background()
	r := record("x")
	mustInsert(t, s, r)
	in := inlineRecord("x", "inline now")
	in.StorageKey = "ab/cd/in"
	notBefore := time.Now().Truncate(time.Microsecond)
	if ok, err := s.Replace(ctx, r, in, notBefore); err != nil || !ok {
		t.Fatalf("Replace in = %v, %v", ok, err)
	}
	if got, err := s.Get(ctx, "x"); err != nil || got != in {
		t.Fatalf("Get after Replace in = %+v, %v; want %+v", got, err, in)
	}
	if due, err := s.DueGarbage(ctx, r.Backend, notBefore, 10); err != nil || len(due) != 1 || due[0].StorageKey != r.StorageKey {
		t.Fatalf("DueGarbage after Replace in = %v, %v; want the old key", due, err)
	}
	if err := s.ForgetGarbage(ctx, r.Backend, r.StorageKey); err != nil {
		t.Fatal(err)
	}
	out := replacement(in)
	out.Data = ""
	if ok, err := s.Replace(ctx, in, out, notBefore); err != nil || !ok {
		t.Fatalf("Replace out = %v, %v", ok, err)
	}
	if got, err := s.Get(ctx, "x"); err != nil || got != out {
		t.Fatalf("Get after Replace out = %+v, %v; want %+v", got, err, out)
	}
	noGarbage(t, s, "replacing an inline record")
}

func testInlineRename(t *testing.T, s meta.Store) {
	ctx := context.Background()
	r := inlineRecord("from", inlineData["bytes"])
	mustInsert(t, s, r)
	got, err := s.Rename(ctx, "from", "to")
	want := r
	want.ID = "to"
	if err != nil || got != want {
		t.Fatalf("Rename = %+v, %v; want %+v", got, err, want)
	}
	if got, err := s.Get(ctx, "to"); err != nil || got != want {
		t.Fatalf("Get after Rename = %d bytes, %v; want the record with its data", len(got.Data), err)
	}
	noGarbage(t, s, "renaming an inline record")
}

// testInlineUsage: inline records count as blobs like any other.
func testInlineUsage(t *testing.T, s meta.Store) {
	var bytes int64
	for id, data := range inlineData {
		mustInsert(t, s, inlineRecord("p/"+id, data))
		bytes += int64(len(data))
	}
	mustInsert(t, s, record("p/z")) // 3 bytes on a backend
	u, err := s.Usage(context.Background(), "p/")
	if want := (meta.Usage{Blobs: int64(len(inlineData)) + 1, Bytes: bytes + 3}); err != nil || u != want {
		t.Fatalf("Usage = %+v, %v; want %+v", u, err, want)
	}
}
