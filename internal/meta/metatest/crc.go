package metatest

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
)

// crcCases are the conformance cases of a record's CRC-32C.
var crcCases = []testCase{
	{"CRC32CRoundTrip", testCRC32CRoundTrip},
	{"SetCRC32C", testSetCRC32C},
	{"CRC32CFollowsRenameAndReplace", testCRC32CFollows},
}

// testCRC32CRoundTrip: a record keeps its CRC-32C, every value of a uint32
// included (0 and the top, which a signed 32-bit column would refuse), or
// its lack of one, through Get and List.
func testCRC32CRoundTrip(t *testing.T, s meta.Store) {
	ctx := context.Background()
	want := map[string]meta.Record{}
	for i, crc := range []uint32{0, 1, math.MaxInt32 + 1, math.MaxUint32} {
		r := record(string(rune('a' + i)))
		r.CRC32C, r.HasCRC32C = crc, true
		want[r.ID] = r
	}
	want["none"] = record("none")
	for _, r := range want {
		mustInsert(t, s, r)
		if got, err := s.Get(ctx, r.ID); err != nil || got != r {
			t.Errorf("Get(%q) = %+v, %v; want %+v", r.ID, got, err, r)
		}
	}
	page, err := s.List(ctx, meta.ListQuery{Limit: 10})
	if err != nil || len(page) != len(want) {
		t.Fatalf("List = %d records, %v; want %d", len(page), err, len(want))
	}
	for _, got := range page {
		if got != want[got.ID] {
			t.Errorf("List gave %+v; want %+v", got, want[got.ID])
		}
	}
}

// testSetCRC32C: the CRC-32C is recorded once, and only on the record
// that still references the key it was computed from.
func testSetCRC32C(t *testing.T, s meta.Store) {
	ctx := context.Background()
	r := record("old")
	mustInsert(t, s, r)
	if ok, err := s.SetCRC32C(ctx, r.ID, "ab/cd/other", 7); err != nil || ok {
		t.Fatalf("SetCRC32C of another key = %v, %v; want false, nil", ok, err)
	}
	if ok, err := s.SetCRC32C(ctx, "missing", r.StorageKey, 7); err != nil || ok {
		t.Fatalf("SetCRC32C of a missing id = %v, %v; want false, nil", ok, err)
	}
	if ok, err := s.SetCRC32C(ctx, r.ID, r.StorageKey, math.MaxUint32); err != nil || !ok {
		t.Fatalf("SetCRC32C = %v, %v; want true, nil", ok, err)
	}
	if ok, err := s.SetCRC32C(ctx, r.ID, r.StorageKey, 7); err != nil || ok {
		t.Fatalf("a second SetCRC32C = %v, %v; want false, nil (the first stays)", ok, err)
	}
	want := r
	want.CRC32C, want.HasCRC32C = math.MaxUint32, true
	if got, err := s.Get(ctx, r.ID); err != nil || got != want {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, want)
	}
}

// testCRC32CFollows: a renamed record keeps its CRC-32C, and a replaced one
// takes its new bytes' (or their lack of one).
func testCRC32CFollows(t *testing.T, s meta.Store) {
	ctx := context.Background()
	r := record("from")
	r.CRC32C, r.HasCRC32C = 0xdeadbeef, true
	mustInsert(t, s, r)
	moved, err := s.Rename(ctx, "from", "to")
	if err != nil || moved.CRC32C != r.CRC32C || !moved.HasCRC32C {
		t.Fatalf("Rename = %+v, %v; want the CRC-32C kept", moved, err)
	}
	if got, err := s.Get(ctx, "to"); err != nil || got.CRC32C != r.CRC32C || !got.HasCRC32C {
		t.Fatalf("Get after Rename = %+v, %v; want the CRC-32C kept", got, err)
	}
	next := moved
	next.StorageKey, next.CRC32C = "ab/cd/next", 7
	for _, want := range []meta.Record{next, record("to")} {
		old, _ := s.Get(ctx, "to")
		want.StorageKey += "-" + old.StorageKey
		if ok, err := s.Replace(ctx, old, want, time.Now()); err != nil || !ok {
			t.Fatalf("Replace = %v, %v", ok, err)
		}
		if got, err := s.Get(ctx, "to"); err != nil || got.CRC32C != want.CRC32C || got.HasCRC32C != want.HasCRC32C {
			t.Fatalf("Get after Replace = %+v, %v; want CRC-32C %08x (%v)", got, err, want.CRC32C, want.HasCRC32C)
		}
	}
}
