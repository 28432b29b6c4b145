package metatest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
)

// keyCases are the conformance cases of a record's wrapped data key
// (encryption at rest).
var keyCases = []testCase{
	{"WrappedKeyRoundTrip", testWrappedKeyRoundTrip},
	{"Rewrap", testRewrap},
	{"PartKeys", testPartKeys},
	{"RewrapParts", testRewrapParts},
}

// sealed returns a record for id whose bytes are encrypted under keyID;
// its wrapped key holds every byte value, NUL included.
func sealed(id, keyID string) meta.Record {
	r := record(id)
	w := make([]byte, 68)
	for i := range w {
		w[i] = byte(i * 37)
	}
	r.KeyID, r.WrappedKey = keyID, string(w)
	return r
}

// testWrappedKeyRoundTrip: a record keeps its master key id and wrapped
// key, byte for byte, through Get, List, Rename, Replace and Move, and
// KeyIDs names each referenced master key once.
func testWrappedKeyRoundTrip(t *testing.T, s meta.Store) {
	ctx := context.Background()
	a, b, clear := sealed("a", "k1"), sealed("b", "k2"), record("c")
	for _, r := range []meta.Record{a, b, clear, sealed("d", "k1")} {
		mustInsert(t, s, r)
	}
	for _, r := range []meta.Record{a, b, clear} {
		if got, err := s.Get(ctx, r.ID); err != nil || got != r {
			t.Fatalf("Get(%q) = %+v, %v; want %+v", r.ID, got, err, r)
		}
	}
	if page, err := s.List(ctx, meta.ListQuery{Limit: 10}); err != nil || len(page) != 4 || page[0] != a || page[2] != clear {
		t.Fatalf("List = %+v, %v", page, err)
	}
	if ids, err := s.KeyIDs(ctx); err != nil || !slices.Equal(ids, []string{"k1", "k2"}) {
		t.Fatalf("KeyIDs = %q, %v; want [k1 k2]", ids, err)
	}
	renamed, err := s.Rename(ctx, "a", "e")
	if err != nil || renamed.KeyID != "k1" || renamed.WrappedKey != a.WrappedKey {
		t.Fatalf("Rename = %+v, %v; want the wrapped key kept", renamed, err)
	}
	if ok, err := s.Move(ctx, "e", renamed, "other", "ab/cd/moved", time.Now()); err != nil || !ok {
		t.Fatalf("Move = %v, %v", ok, err)
	}
	if got, _ := s.Get(ctx, "e"); got.KeyID != "k1" || got.WrappedKey != a.WrappedKey {
		t.Fatalf("after Move: %+v; want the wrapped key kept", got)
	}
	// Replacing with bytes in clear drops the key; with sealed ones takes theirs.
	for _, next := range []meta.Record{record("b"), sealed("b", "k3")} {
		old, _ := s.Get(ctx, "b")
		next.StorageKey += "-" + old.StorageKey
		if ok, err := s.Replace(ctx, old, next, time.Now()); err != nil || !ok {
			t.Fatalf("Replace = %v, %v", ok, err)
		}
		if got, err := s.Get(ctx, "b"); err != nil || got != next {
			t.Fatalf("Get after Replace = %+v, %v; want %+v", got, err, next)
		}
	}
	if ids, err := s.KeyIDs(ctx); err != nil || !slices.Equal(ids, []string{"k1", "k3"}) {
		t.Fatalf("KeyIDs = %q, %v; want [k1 k3]", ids, err)
	}
}

// testRewrap: in one batch, each data key is rewrapped only on the record
// that still references the same bytes under the same wrapped key.
func testRewrap(t *testing.T, s meta.Store) {
	ctx := context.Background()
	r, other := sealed("a", "old"), sealed("b", "old")
	mustInsert(t, s, r)
	mustInsert(t, s, other)
	stale := r
	stale.StorageKey = "ab/cd/other"
	wrongKey := r
	wrongKey.KeyID = "new"
	wrongWrap := other
	wrongWrap.WrappedKey = "\x01" + other.WrappedKey[1:]
	to := func(r meta.Record, wrapped string) meta.Rewrapping[meta.Record] {
		return meta.Rewrapping[meta.Record]{From: r, ToKeyID: "new", Wrapped: wrapped}
	}
	batch := []meta.Rewrapping[meta.Record]{to(stale, "x"), to(wrongKey, "x"), to(sealed("missing", "old"), "x"), to(wrongWrap, "x"), to(r, "\x00wrapped")}
	if done, err := s.Rewrap(ctx, batch); err != nil || !slices.Equal(done, []bool{false, false, false, false, true}) {
		t.Fatalf("Rewrap = %v, %v; want only the last done", done, err)
	}
	want := r
	want.KeyID, want.WrappedKey = "new", "\x00wrapped"
	if got, err := s.Get(ctx, "a"); err != nil || got != want {
		t.Fatalf("Get after Rewrap = %+v, %v; want %+v", got, err, want)
	}
	if got, err := s.Get(ctx, "b"); err != nil || got != other {
		t.Fatalf("Get of a record whose wrapped key differed = %+v, %v; want it unchanged", got, err)
	}
	if done, err := s.Rewrap(ctx, []meta.Rewrapping[meta.Record]{to(r, "y"), to(other, "z")}); err != nil || !slices.Equal(done, []bool{false, true}) {
		t.Fatalf("a Rewrap from the old master key after it = %v, %v; want [false true]", done, err)
	}
	if ids, err := s.KeyIDs(ctx); err != nil || !slices.Equal(ids, []string{"new"}) {
		t.Fatalf("KeyIDs = %q, %v; want [new]", ids, err)
	}
}

// testRewrapParts: PartKeys pages through the encrypted parts of
// unfinished uploads not under a given master key, tus parts first, and
// RewrapParts rewraps each only while it holds the same bytes under the
// same wrapped key.
func testRewrapParts(t *testing.T, s meta.Store) {
	ctx := context.Background()
	w := sealed("x", "old").WrappedKey
	for _, id := range []string{"u1", "u2"} {
		mustCreate(t, s, upload(id), "w")
		for seq := range 2 {
			appendSealed(t, s, id, seq, "old", w)
		}
	}
	sealedMultipart(t, s, "old", w)
	var all []meta.PartKey
	for after := (meta.PartKey{}); ; {
		page, err := s.PartKeys(ctx, "new", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1]
	}
	var got []string
	for _, p := range all {
		got = append(got, fmt.Sprintf("%v/%s/%d", p.Multipart, p.UploadID, p.Seq))
		if p.KeyID != "old" || p.WrappedKey != w {
			t.Fatalf("PartKeys gave %+v; want the key as stored", p)
		}
	}
	if want := []string{"false/u1/0", "false/u1/1", "false/u2/0", "false/u2/1", "true/m/1"}; !slices.Equal(got, want) {
		t.Fatalf("PartKeys = %q; want %q", got, want)
	}
	stale := all[1]
	stale.StorageKey += "-other"
	batch := []meta.Rewrapping[meta.PartKey]{{From: stale, ToKeyID: "new", Wrapped: "n"}}
	for _, p := range append(all[:1:1], all[2:]...) {
		batch = append(batch, meta.Rewrapping[meta.PartKey]{From: p, ToKeyID: "new", Wrapped: "n"})
	}
	if done, err := s.RewrapParts(ctx, batch); err != nil || !slices.Equal(done, []bool{false, true, true, true, true}) {
		t.Fatalf("RewrapParts = %v, %v; want all but the stale one", done, err)
	}
	if left, err := s.PartKeys(ctx, "new", meta.PartKey{}, 10); err != nil || len(left) != 1 || left[0] != all[1] {
		t.Fatalf("PartKeys after RewrapParts = %+v, %v; want the one not rewrapped", left, err)
	}
	if parts := mustParts(t, s, "m", 0, 10); parts[0].KeyID != "new" || parts[0].WrappedKey != "n" {
		t.Fatalf("multipart part after RewrapParts = %+v", parts[0])
	}
	if ok, err := s.FinishUpload(ctx, "u1", "w", 20, nil, t0); !ok || err != nil {
		t.Fatalf("FinishUpload = %v, %v", ok, err)
	}
	if left, err := s.PartKeys(ctx, "new", meta.PartKey{}, 10); err != nil || len(left) != 0 {
		t.Fatalf("PartKeys once the upload finished = %+v, %v; want none", left, err)
	}
}

// testPartKeys: the parts of tus and multipart uploads keep their master
// key id and wrapped key, byte for byte, and KeyIDs names the master keys
// of the parts of unfinished uploads too, until they finish.
func testPartKeys(t *testing.T, s meta.Store) {
	ctx := context.Background()
	w := sealed("x", "kp").WrappedKey
	mustCreate(t, s, upload("u"), "w")
	appendSealed(t, s, "u", 0, "kp", w)
	mp := sealedMultipart(t, s, "km", w)
	if parts, err := s.UploadParts(ctx, "u"); err != nil || len(parts) != 1 || parts[0].KeyID != "kp" || parts[0].WrappedKey != w {
		t.Fatalf("UploadParts = %+v, %v; want the key kept", parts, err)
	}
	if parts := mustParts(t, s, "m", 0, 10); len(parts) != 2 || parts[0] != mp || parts[1].KeyID != "" || parts[1].WrappedKey != "" {
		t.Fatalf("MultipartParts = %+v; want the key kept, and none on the part in clear", parts)
	}
	mustInsert(t, s, sealed("a", "kb"))
	if ids, err := s.KeyIDs(ctx); err != nil || !slices.Equal(ids, []string{"kb", "km", "kp"}) {
		t.Fatalf("KeyIDs = %q, %v; want [kb km kp]", ids, err)
	}
	if ok, err := s.FinishUpload(ctx, "u", "w", 10, nil, t0); !ok || err != nil {
		t.Fatalf("FinishUpload = %v, %v", ok, err)
	}
	if ids, err := s.KeyIDs(ctx); err != nil || !slices.Equal(ids, []string{"kb", "km"}) {
		t.Fatalf("KeyIDs after the tus upload finished = %q, %v; want [kb km]", ids, err)
	}
}

// appendSealed appends part seq, of 10 bytes sealed under master key keyID
// (wrapped key w), to tus upload id, leased to "w".
func appendSealed(t *testing.T, s meta.Store, id string, seq int, keyID, w string) {
	t.Helper()
	p := part(seq, 10)
	p.KeyID, p.WrappedKey = keyID, w
	if ok, err := s.AppendPart(context.Background(), id, "w", int64(seq*10), -1, p, t0.Add(time.Hour)); !ok || err != nil {
		t.Fatalf("AppendPart = %v, %v", ok, err)
	}
}

// sealedMultipart creates multipart upload m with part 1 sealed under
// master key keyID (wrapped key w), which it returns, and part 2 in clear.
func sealedMultipart(t *testing.T, s meta.Store, keyID, w string) meta.MultipartPart {
	t.Helper()
	mustCreate(t, s, multipartUpload("m", "videos/m.mp4"), "")
	mp := mpart("m", 1, 10)
	mp.KeyID, mp.WrappedKey = keyID, w
	mustPutPart(t, s, "m", mp)
	mustPutPart(t, s, "m", mpart("m", 2, 10))
	return mp
}
