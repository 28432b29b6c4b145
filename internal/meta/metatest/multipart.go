package metatest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
)

// multipartCases are the conformance cases of [meta.MultipartStore].
var multipartCases = []testCase{
	{"PutParts", testPutParts},
	{"PutPartFenced", testPutPartFenced},
	{"ConcurrentParts", testConcurrentParts},
	{"PartsDropped", testMultipartPartsDropped},
	{"List", testListMultipart},
}

func multipartUpload(id, key string) meta.Upload {
	return meta.Upload{
		ID: id, Kind: meta.KindMultipart, BlobID: key, ContentType: "video/mp4", Length: -1, Metadata: "CRC32",
		Backend: "memory", Creator: "operator", CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour),
	}
}

func mpart(upload string, n int, size int64) meta.MultipartPart {
	return meta.MultipartPart{
		Number: n, StorageKey: fmt.Sprintf("s3mp/%s/%05d-%d", upload, n, size), Size: size,
		MD5: fmt.Sprintf("%032x", n), Checksum: "CRC32:AAAAAA==", CreatedAt: t0.Add(time.Duration(n) * time.Second),
	}
}

func mustPutPart(t *testing.T, s meta.MultipartStore, id string, p meta.MultipartPart) {
	t.Helper()
	if ok, err := s.PutPart(context.Background(), id, p, t0, t0.Add(48*time.Hour), t0.Add(time.Hour)); !ok || err != nil {
		t.Fatalf("PutPart(%q, %d) = %v, %v; want committed", id, p.Number, ok, err)
	}
}

func mustParts(t *testing.T, s meta.MultipartStore, id string, after, limit int) []meta.MultipartPart {
	t.Helper()
	parts, err := s.MultipartParts(context.Background(), id, after, limit)
	if err != nil {
		t.Fatalf("MultipartParts(%q): %v", id, err)
	}
	return parts
}

// testPutParts: parts arrive in any order and are listed by number; one
// sent again replaces the earlier, whose key becomes garbage; the
// upload's offset and expiry follow.
func testPutParts(t *testing.T, m meta.Store) {
	u := multipartUpload("u", "videos/a.mp4")
	mustCreate(t, m, u, "")
	if got := mustGetUpload(t, m, "u"); got != u {
		t.Fatalf("GetUpload = %+v; want %+v", got, u)
	}
	mustPutPart(t, m, "u", mpart("u", 3, 30))
	mustPutPart(t, m, "u", mpart("u", 1, 10))
	mustPutPart(t, m, "u", mpart("u", 2, 20))
	if got, want := mustParts(t, m, "u", 0, 100), []meta.MultipartPart{mpart("u", 1, 10), mpart("u", 2, 20), mpart("u", 3, 30)}; !slices.Equal(got, want) {
		t.Fatalf("MultipartParts = %+v; want %+v", got, want)
	}
	if got := mustParts(t, m, "u", 1, 1); !slices.Equal(got, []meta.MultipartPart{mpart("u", 2, 20)}) {
		t.Fatalf("MultipartParts after 1, limit 1 = %+v; want part 2", got)
	}
	mustPutPart(t, m, "u", mpart("u", 2, 25))
	if got := mustParts(t, m, "u", 0, 100); !slices.Equal(got, []meta.MultipartPart{mpart("u", 1, 10), mpart("u", 2, 25), mpart("u", 3, 30)}) {
		t.Fatalf("MultipartParts after replacing part 2 = %+v", got)
	}
	got := mustGetUpload(t, m, "u")
	if got.Offset != 65 || !got.ExpiresAt.Equal(t0.Add(48*time.Hour)) {
		t.Fatalf("upload after its parts: offset %d, expires %v; want 65, %v", got.Offset, got.ExpiresAt, t0.Add(48*time.Hour))
	}
	if keys := garbageKeys(t, m, "memory", t0.Add(time.Hour)); !slices.Equal(keys, []string{mpart("u", 2, 20).StorageKey}) {
		t.Fatalf("garbage after replacing a part = %v; want the replaced part's key", keys)
	}
	if keys := garbageKeys(t, m, "memory", t0); len(keys) != 0 {
		t.Fatalf("a replaced part's key is due before its grace: %v", keys)
	}
}

// testPutPartFenced: a part commits only to an unfinished, unexpired,
// unleased multipart upload.
func testPutPartFenced(t *testing.T, m meta.Store) {
	ctx := context.Background()
	for _, id := range []string{"leased", "finished", "expired", "open"} {
		mustCreate(t, m, multipartUpload(id, "k/"+id), "")
	}
	mustCreate(t, m, upload("tus"), "")
	if !lease(t, m, "leased", "completer", t0) {
		t.Fatal("could not lease")
	}
	if !lease(t, m, "finished", "completer", t0) {
		t.Fatal("could not lease")
	}
	if ok, err := m.FinishUpload(ctx, "finished", "completer", 0, nil, t0); !ok || err != nil {
		t.Fatalf("FinishUpload = %v, %v", ok, err)
	}
	later := t0.Add(25 * time.Hour)
	for _, c := range []struct {
		id  string
		now time.Time
	}{{"leased", t0}, {"finished", t0}, {"expired", later}, {"tus", t0}, {"missing", t0}} {
		ok, err := m.PutPart(ctx, c.id, mpart(c.id, 1, 10), c.now, c.now.Add(time.Hour), c.now)
		if ok || err != nil {
			t.Errorf("PutPart to the %s upload = %v, %v; want refused", c.id, ok, err)
		}
	}
	if ok, err := m.PutPart(ctx, "leased", mpart("leased", 1, 10), t0.Add(2*time.Minute), t0.Add(time.Hour), t0); !ok || err != nil {
		t.Errorf("PutPart once the lease ran out = %v, %v; want committed", ok, err)
	}
	mustPutPart(t, m, "open", mpart("open", 1, 10))
	if got := mustParts(t, m, "finished", 0, 10); len(got) != 0 {
		t.Errorf("a refused part was recorded: %+v", got)
	}
}

// testConcurrentParts: parts committed at once, from replicas sharing the
// database, are all kept, and the offset counts each once.
func testConcurrentParts(t *testing.T, m meta.Store) {
	mustCreate(t, m, multipartUpload("u", "k"), "")
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := m.PutPart(context.Background(), "u", mpart("u", i+1, int64(i+1)), t0, t0.Add(time.Hour), t0)
			if err == nil && !ok {
				err = fmt.Errorf("part %d refused", i+1)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := mustParts(t, m, "u", 0, 100); len(got) != n {
		t.Fatalf("%d parts recorded; want %d", len(got), n)
	}
	if got := mustGetUpload(t, m, "u").Offset; got != n*(n+1)/2 {
		t.Fatalf("offset %d; want %d", got, n*(n+1)/2)
	}
}

// testMultipartPartsDropped: parts are referenced while their upload is
// open; finishing, deleting or expiring it records them as garbage.
func testMultipartPartsDropped(t *testing.T, m meta.Store) {
	ctx := context.Background()
	for _, id := range []string{"finished", "deleted", "expired"} {
		u := multipartUpload(id, "k/"+id)
		u.ExpiresAt = t0.Add(time.Minute)
		mustCreate(t, m, u, "")
		if ok, err := m.PutPart(ctx, id, mpart(id, 1, 10), t0, t0.Add(time.Minute), t0); !ok || err != nil {
			t.Fatalf("PutPart = %v, %v", ok, err)
		}
	}
	keys := []string{mpart("finished", 1, 10).StorageKey, mpart("deleted", 1, 10).StorageKey, mpart("expired", 1, 10).StorageKey}
	if got, err := m.Referenced(ctx, "memory", keys); err != nil || len(got) != 3 {
		t.Fatalf("Referenced(parts) = %v, %v; want all three", got, err)
	}
	if !lease(t, m, "finished", "c", t0) {
		t.Fatal("could not lease")
	}
	if ok, err := m.FinishUpload(ctx, "finished", "c", 10, nil, t0); !ok || err != nil {
		t.Fatalf("FinishUpload = %v, %v", ok, err)
	}
	if ok, err := m.DeleteUpload(ctx, "deleted", "d", t0, t0); !ok || err != nil {
		t.Fatalf("DeleteUpload = %v, %v", ok, err)
	}
	if n, err := m.ExpireUploads(ctx, t0.Add(2*time.Minute), 10); err != nil || n != 2 {
		t.Fatalf("ExpireUploads = %d, %v; want 2 (the expired and the finished one)", n, err)
	}
	want := slices.Sorted(slices.Values(keys))
	if got := garbageKeys(t, m, "memory", t0.Add(2*time.Minute)); !slices.Equal(got, want) {
		t.Fatalf("garbage = %v; want every part %v", got, want)
	}
	if got := mustParts(t, m, "finished", 0, 10); len(got) != 0 {
		t.Fatalf("a finished upload keeps parts %+v", got)
	}
}

// testListMultipart: open multipart uploads, and no others, by blob id
// (bytewise) then upload id, from a prefix, a position or a marker pair.
func testListMultipart(t *testing.T, m meta.Store) {
	ctx := context.Background()
	for _, u := range []meta.Upload{
		multipartUpload("u1", "a/x"), multipartUpload("u2", "a/x"), multipartUpload("u0", "a/y"),
		multipartUpload("u3", "a/é"), multipartUpload("u4", "a/Z"), multipartUpload("u5", "b"),
	} {
		mustCreate(t, m, u, "")
	}
	expired := multipartUpload("u6", "a/old")
	expired.ExpiresAt = t0.Add(time.Minute)
	mustCreate(t, m, expired, "")
	mustCreate(t, m, multipartUpload("u7", "a/done"), "c")
	if ok, err := m.FinishUpload(ctx, "u7", "c", 0, nil, t0); !ok || err != nil {
		t.Fatalf("FinishUpload = %v, %v", ok, err)
	}
	tus := upload("u8")
	tus.BlobID = "a/tus"
	mustCreate(t, m, tus, "")
	now := t0.Add(time.Hour)
	for _, c := range []struct {
		q    meta.MultipartQuery
		want []string
	}{
		{meta.MultipartQuery{Prefix: "a/"}, []string{"u4", "u1", "u2", "u0", "u3"}},
		{meta.MultipartQuery{}, []string{"u4", "u1", "u2", "u0", "u3", "u5"}},
		{meta.MultipartQuery{Prefix: "a/", Limit: 2}, []string{"u4", "u1"}},
		{meta.MultipartQuery{AfterKey: "a/x", AfterUploadID: "u1"}, []string{"u2", "u0", "u3", "u5"}},
		{meta.MultipartQuery{AfterKey: "a/x"}, []string{"u0", "u3", "u5"}},
		{meta.MultipartQuery{Prefix: "a/", StartAt: "a/y"}, []string{"u0", "u3"}},
		{meta.MultipartQuery{Prefix: "c"}, nil},
	} {
		q := c.q
		q.Now = now
		if q.Limit == 0 {
			q.Limit = 100
		}
		got, err := m.ListMultipart(ctx, q)
		if err != nil {
			t.Fatalf("ListMultipart(%+v): %v", q, err)
		}
		var ids []string
		for _, u := range got {
			ids = append(ids, u.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("ListMultipart(%+v) = %v; want %v", q, ids, c.want)
		}
	}
}
