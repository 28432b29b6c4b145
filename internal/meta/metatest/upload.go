package metatest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
)

// uploadCases are the conformance cases of [meta.UploadStore].
var uploadCases = []testCase{
	{"CreateGet", uploadCase(testUploadCreateGet)},
	{"Lease", uploadCase(testUploadLease)},
	{"ConcurrentLeases", uploadCase(testUploadConcurrentLeases)},
	{"AppendFencing", uploadCase(testUploadAppendFencing)},
	{"Finish", uploadCase(testUploadFinish)},
	{"Delete", uploadCase(testUploadDelete)},
	{"Expire", uploadCase(testUploadExpire)},
	{"PartsReferenced", uploadCase(testUploadPartsReferenced)},
	{"CreateWithin", uploadCase(testUploadCreateWithin)},
	{"CreateWithinConcurrent", uploadCase(testUploadCreateWithinConcurrent)},
}

// uploadCase adapts a case that uses the store as an [meta.UploadStore]
// and, to observe garbage, as a whole.
func uploadCase(fn func(t *testing.T, s meta.UploadStore, m meta.Store)) func(t *testing.T, m meta.Store) {
	return func(t *testing.T, m meta.Store) { fn(t, m, m) }
}

var t0 = time.Date(2026, 12, 1, 14, 30, 0, 123456000, time.UTC)

func upload(id string) meta.Upload {
	return meta.Upload{
		ID: id, Kind: meta.KindTus, BlobID: "videos/" + id + ".mp4", ContentType: "video/mp4", Length: 100,
		Metadata: "id dmlkZW9z,content_type dmlkZW8vbXA0", Backend: "memory",
		CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour),
	}
}

func part(seq int, size int64) meta.Part {
	return meta.Part{Seq: seq, StorageKey: fmt.Sprintf("tus/u/%06d", seq), Size: size, Digest: fmt.Appendf(nil, "digest\x00%d", seq)}
}

func mustCreate(t *testing.T, s meta.UploadStore, u meta.Upload, owner string) {
	t.Helper()
	if err := s.CreateUpload(context.Background(), u, owner, t0.Add(time.Minute)); err != nil {
		t.Fatalf("CreateUpload(%q): %v", u.ID, err)
	}
}

func mustGetUpload(t *testing.T, s meta.UploadStore, id string) meta.Upload {
	t.Helper()
	u, err := s.GetUpload(context.Background(), id)
	if err != nil {
		t.Fatalf("GetUpload(%q): %v", id, err)
	}
	return u
}

func testUploadCreateGet(t *testing.T, s meta.UploadStore, _ meta.Store) {
	ctx := context.Background()
	want := upload("u1")
	mustCreate(t, s, want, "")
	if got := mustGetUpload(t, s, "u1"); got != want {
		t.Errorf("GetUpload = %+v; want %+v", got, want)
	}
	deferred := upload("u2")
	deferred.Length = -1
	mustCreate(t, s, deferred, "owner")
	if got := mustGetUpload(t, s, "u2"); got.Length != -1 || got.LeaseOwner != "owner" {
		t.Errorf("deferred length = %d, lease owner %q; want -1, owner", got.Length, got.LeaseOwner)
	}
	if err := s.CreateUpload(ctx, want, "", t0); err == nil {
		t.Error("CreateUpload of an existing id succeeded")
	}
	if _, err := s.GetUpload(ctx, "missing"); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("GetUpload(missing) = %v; want ErrNotFound", err)
	}
	if _, err := s.LeaseUpload(ctx, "missing", "a", t0, t0.Add(time.Minute)); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("LeaseUpload(missing) = %v; want ErrNotFound", err)
	}
	if parts, err := s.UploadParts(ctx, "u1"); err != nil || len(parts) != 0 {
		t.Errorf("UploadParts of a new upload = %v, %v; want none", parts, err)
	}
}

func lease(t *testing.T, s meta.UploadStore, id, owner string, now time.Time) bool {
	t.Helper()
	ok, err := s.LeaseUpload(context.Background(), id, owner, now, now.Add(time.Minute))
	if err != nil {
		t.Fatalf("LeaseUpload(%q, %q): %v", id, owner, err)
	}
	return ok
}

func testUploadLease(t *testing.T, s meta.UploadStore, _ meta.Store) {
	ctx := context.Background()
	mustCreate(t, s, upload("u"), "a") // leased to a until t0+1m
	if lease(t, s, "u", "b", t0) {
		t.Fatal("b took a lease a holds")
	}
	if !lease(t, s, "u", "a", t0.Add(30*time.Second)) {
		t.Fatal("a could not renew its own lease")
	}
	if lease(t, s, "u", "b", t0.Add(80*time.Second)) {
		t.Fatal("b took a's renewed lease before it ran out")
	}
	if !lease(t, s, "u", "b", t0.Add(91*time.Second)) {
		t.Fatal("b could not take a lease that ran out")
	}
	if got := mustGetUpload(t, s, "u").LeaseOwner; got != "b" {
		t.Fatalf("lease owner = %q; want b", got)
	}
	if ok, err := s.AppendPart(ctx, "u", "a", 0, -1, part(0, 10), t0); ok || err != nil {
		t.Fatalf("AppendPart by a, whose lease was taken = %v, %v; want false", ok, err)
	}
	if err := s.ReleaseUpload(ctx, "u", "a"); err != nil {
		t.Fatal(err)
	}
	if lease(t, s, "u", "c", t0.Add(92*time.Second)) {
		t.Fatal("a's release freed b's lease")
	}
	if err := s.ReleaseUpload(ctx, "u", "b"); err != nil {
		t.Fatal(err)
	}
	if got := mustGetUpload(t, s, "u").LeaseOwner; got != "" {
		t.Fatalf("lease owner after its release = %q; want none", got)
	}
	if !lease(t, s, "u", "c", t0.Add(92*time.Second)) {
		t.Fatal("c could not take a released lease")
	}
}

func testUploadConcurrentLeases(t *testing.T, s meta.UploadStore, _ meta.Store) {
	mustCreate(t, s, upload("u"), "")
	const n = 16
	var wg sync.WaitGroup
	won := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			won[i], errs[i] = s.LeaseUpload(context.Background(), "u", fmt.Sprint("owner-", i), t0, t0.Add(time.Minute))
		}()
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("LeaseUpload %d: %v", i, errs[i])
		}
		if won[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Fatalf("%d of %d concurrent leases won; want exactly 1", winners, n)
	}
}

func testUploadAppendFencing(t *testing.T, s meta.UploadStore, _ meta.Store) {
	ctx := context.Background()
	u := upload("u")
	u.Length = -1
	mustCreate(t, s, u, "a")
	exp := t0.Add(48 * time.Hour)
	if ok, err := s.AppendPart(ctx, "u", "a", 5, -1, part(0, 10), exp); ok || err != nil {
		t.Fatalf("AppendPart at a wrong offset = %v, %v; want false", ok, err)
	}
	if ok, err := s.AppendPart(ctx, "u", "b", 0, -1, part(0, 10), exp); ok || err != nil {
		t.Fatalf("AppendPart without the lease = %v, %v; want false", ok, err)
	}
	if ok, err := s.AppendPart(ctx, "u", "a", 0, -1, part(0, 10), exp); !ok || err != nil {
		t.Fatalf("AppendPart = %v, %v; want true", ok, err)
	}
	if ok, err := s.AppendPart(ctx, "u", "a", 0, -1, part(1, 10), exp); ok || err != nil {
		t.Fatalf("second AppendPart at the old offset = %v, %v; want false", ok, err)
	}
	if ok, err := s.AppendPart(ctx, "u", "a", 10, 30, part(1, 7), exp); !ok || err != nil {
		t.Fatalf("AppendPart declaring the length = %v, %v; want true", ok, err)
	}
	got := mustGetUpload(t, s, "u")
	if got.Offset != 17 || got.Length != 30 || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("after two parts: offset %d, length %d, expires %v; want 17, 30, %v", got.Offset, got.Length, got.ExpiresAt, exp)
	}
	parts, err := s.UploadParts(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	if want := []meta.Part{part(0, 10), part(1, 7)}; !reflect.DeepEqual(parts, want) {
		t.Fatalf("UploadParts = %v; want %v", parts, want)
	}
}

// garbageKeys returns the keys of backend due at now.
func garbageKeys(t *testing.T, m meta.Store, backend string, now time.Time) []string {
	t.Helper()
	due, err := m.DueGarbage(context.Background(), backend, now, 100)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, g := range due {
		keys = append(keys, g.StorageKey)
	}
	slices.Sort(keys)
	return keys
}

func testUploadFinish(t *testing.T, s meta.UploadStore, m meta.Store) {
	ctx := context.Background()
	mustCreate(t, s, upload("u"), "a")
	for i := range 2 {
		if ok, err := s.AppendPart(ctx, "u", "a", int64(i)*40, -1, part(i, 40), t0.Add(time.Hour)); !ok || err != nil {
			t.Fatalf("AppendPart %d = %v, %v", i, ok, err)
		}
	}
	if ok, err := s.FinishUpload(ctx, "u", "b", 100, []string{"tus/u/last"}, t0); ok || err != nil {
		t.Fatalf("FinishUpload without the lease = %v, %v; want false", ok, err)
	}
	if ok, err := s.FinishUpload(ctx, "u", "a", 100, []string{"tus/u/last"}, t0); !ok || err != nil {
		t.Fatalf("FinishUpload = %v, %v; want true", ok, err)
	}
	got := mustGetUpload(t, s, "u")
	if !got.Finished || got.Offset != 100 || got.LeaseOwner != "" {
		t.Fatalf("finished upload: %+v; want finished at offset 100, its lease released", got)
	}
	if parts, err := s.UploadParts(ctx, "u"); err != nil || len(parts) != 0 {
		t.Fatalf("parts of a finished upload = %v, %v; want none", parts, err)
	}
	want := []string{"tus/u/000000", "tus/u/000001", "tus/u/last"}
	if keys := garbageKeys(t, m, "memory", t0); !slices.Equal(keys, want) {
		t.Fatalf("garbage after finishing = %v; want %v", keys, want)
	}
	if ok, err := s.AppendPart(ctx, "u", "a", 100, -1, part(2, 1), t0); ok || err != nil {
		t.Fatalf("AppendPart to a finished upload = %v, %v; want false", ok, err)
	}
}

func testUploadDelete(t *testing.T, s meta.UploadStore, m meta.Store) {
	ctx := context.Background()
	mustCreate(t, s, upload("u"), "a")
	if ok, err := s.AppendPart(ctx, "u", "a", 0, -1, part(0, 40), t0.Add(time.Hour)); !ok || err != nil {
		t.Fatalf("AppendPart = %v, %v", ok, err)
	}
	if ok, err := s.DeleteUpload(ctx, "u", "b", t0, t0); ok || err != nil {
		t.Fatalf("DeleteUpload while a holds the lease = %v, %v; want false", ok, err)
	}
	if ok, err := s.DeleteUpload(ctx, "u", "a", t0, t0.Add(time.Hour)); !ok || err != nil {
		t.Fatalf("DeleteUpload by the lease holder = %v, %v; want true", ok, err)
	}
	if _, err := s.GetUpload(ctx, "u"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetUpload after delete = %v; want ErrNotFound", err)
	}
	if keys := garbageKeys(t, m, "memory", t0); len(keys) != 0 {
		t.Fatalf("garbage due before its time: %v", keys)
	}
	if keys := garbageKeys(t, m, "memory", t0.Add(time.Hour)); !slices.Equal(keys, []string{"tus/u/000000"}) {
		t.Fatalf("garbage after delete = %v; want the part's key", keys)
	}
	if _, err := s.DeleteUpload(ctx, "u", "a", t0, t0); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("DeleteUpload of a missing upload = %v; want ErrNotFound", err)
	}
	// A fresh upload of the same id can be created after the delete.
	mustCreate(t, s, upload("u"), "")
}

func testUploadExpire(t *testing.T, s meta.UploadStore, m meta.Store) {
	ctx := context.Background()
	expired, leased, alive := upload("expired"), upload("leased"), upload("alive")
	expired.ExpiresAt, leased.ExpiresAt = t0.Add(time.Minute), t0.Add(time.Minute)
	mustCreate(t, s, expired, "x")
	mustCreate(t, s, leased, "")
	mustCreate(t, s, alive, "")
	if ok, err := s.AppendPart(ctx, "expired", "x", 0, -1, part(0, 10), t0.Add(time.Minute)); !ok || err != nil {
		t.Fatalf("AppendPart = %v, %v", ok, err)
	}
	now := t0.Add(2 * time.Minute)
	if !lease(t, s, "leased", "writer", now) { // still writing: not collected
		t.Fatal("could not lease")
	}
	n, err := s.ExpireUploads(ctx, now, 10)
	if err != nil || n != 1 {
		t.Fatalf("ExpireUploads = %d, %v; want 1", n, err)
	}
	if _, err := s.GetUpload(ctx, "expired"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("expired upload still there: %v", err)
	}
	mustGetUpload(t, s, "leased")
	mustGetUpload(t, s, "alive")
	if keys := garbageKeys(t, m, "memory", now); !slices.Equal(keys, []string{"tus/u/000000"}) {
		t.Fatalf("garbage after expiry = %v; want the expired upload's part", keys)
	}
}

// testUploadPartsReferenced: the parts of an upload in progress count as
// referenced, so garbage collection never removes them; once the upload
// is gone they do not.
func testUploadPartsReferenced(t *testing.T, s meta.UploadStore, m meta.Store) {
	ctx := context.Background()
	mustCreate(t, s, upload("u"), "a")
	if ok, err := s.AppendPart(ctx, "u", "a", 0, -1, part(0, 10), t0.Add(time.Hour)); !ok || err != nil {
		t.Fatalf("AppendPart = %v, %v", ok, err)
	}
	keys := []string{part(0, 10).StorageKey, "tus/u/unknown"}
	got, err := m.Referenced(ctx, "memory", keys)
	if err != nil || !got[keys[0]] || got[keys[1]] || len(got) != 1 {
		t.Fatalf("Referenced(%q) = %v, %v; want only the committed part", keys, got, err)
	}
	if got, err := m.Referenced(ctx, "s3", keys); err != nil || len(got) != 0 {
		t.Fatalf("Referenced in another backend = %v, %v; want nothing", got, err)
	}
}

// testUploadCreateWithin: open uploads are bounded by creator and in all,
// finished and expired ones not counted, and a refusal records nothing.
func testUploadCreateWithin(t *testing.T, s meta.UploadStore, _ meta.Store) {
	ctx := context.Background()
	for i, creator := range []string{"a", "a", "a", "b", "operator"} {
		u := upload(fmt.Sprintf("open%d", i))
		u.Creator = creator
		mustCreate(t, s, u, "")
	}
	finished := upload("finished")
	finished.Creator, finished.Finished = "a", true
	mustCreate(t, s, finished, "")
	expired := upload("expired")
	expired.Creator, expired.ExpiresAt = "a", t0
	mustCreate(t, s, expired, "")
	if got := mustGetUpload(t, s, "open0").Creator; got != "a" {
		t.Fatalf("Creator = %q; want a", got)
	}
	for i, c := range []struct {
		creator           string
		perCreator, total int
		refused           *meta.LimitError
	}{
		{"a", 3, 0, &meta.LimitError{Creator: "a", Limit: 3}},
		{"a", 4, 6, nil}, // a holds 4, everyone 6 from here on
		{"a", 4, 0, &meta.LimitError{Creator: "a", Limit: 4}},
		{"b", 2, 6, &meta.LimitError{Limit: 6}},
		{"c", 1, 7, nil},
		{"", 1, 0, nil}, // no creator: only the total bounds it
	} {
		u := upload(fmt.Sprintf("new%d", i))
		u.Creator = c.creator
		err := s.CreateUploadWithin(ctx, u, c.perCreator, c.total)
		var got *meta.LimitError
		if errors.As(err, &got) != (c.refused != nil) || (got != nil && *got != *c.refused) || (err != nil && got == nil) {
			t.Fatalf("CreateUploadWithin(creator %q, %d, %d) = %v; want refused by %v", c.creator, c.perCreator, c.total, err, c.refused)
		}
		if _, err := s.GetUpload(ctx, u.ID); errors.Is(err, meta.ErrNotFound) != (c.refused != nil) {
			t.Fatalf("after CreateUploadWithin(creator %q) = %v, GetUpload = %v", c.creator, c.refused, err)
		}
	}
}

// testUploadCreateWithinConcurrent: 64 creations at once, bounded to 10
// per creator (or, each of another creator, to 20 in all, 10 being held),
// record exactly 10 uploads: the count and the insert are atomic.
func testUploadCreateWithinConcurrent(t *testing.T, s meta.UploadStore, _ meta.Store) {
	ctx := context.Background()
	const n, limit = 64, 10
	for _, bound := range []string{"per creator", "total"} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		created, refused := 0, 0
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := upload(fmt.Sprintf("%s-%d", bound[:5], i))
				perCreator, total := limit, 0
				u.Creator = "racer"
				if bound == "total" {
					u.Creator, perCreator, total = fmt.Sprintf("racer%d", i), 0, 2*limit
				}
				err := s.CreateUploadWithin(ctx, u, perCreator, total)
				var l *meta.LimitError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					created++
				case errors.As(err, &l):
					refused++
				default:
					t.Errorf("CreateUploadWithin: %v", err)
				}
			}()
		}
		wg.Wait()
		if created != limit || refused != n-limit {
			t.Fatalf("%s: %d of %d concurrent creations bounded to %d succeeded, %d refused", bound, created, n, limit, refused)
		}
	}
}
