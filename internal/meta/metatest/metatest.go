// Package metatest is the conformance suite every [meta.Store] runs, role
// by role: each case a subtest on a fresh, empty store.
package metatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
)

// NewStore makes a fresh, empty store for one test case. It registers its
// own cleanup with t.Cleanup.
type NewStore func(t *testing.T) meta.Store

// testCase is one conformance case, run on a fresh store.
type testCase struct {
	name string
	fn   func(t *testing.T, s meta.Store)
}

// Run runs the conformance suite against the stores that newStore makes:
// the cases of each role ([meta.RecordStore], [meta.GarbageStore],
// [meta.LeaseStore], [meta.UploadStore], [meta.MultipartStore], [meta.Everyday]) as a subtest of its own,
// and the records that hold their bytes ([meta.InlineBackend]) across them. Cases of
// one role use the others only to set up or observe what the contract
// says crosses roles (a deleted record's key becomes garbage; upload parts
// are referenced).
func Run(t *testing.T, newStore NewStore) {
	for _, role := range []struct {
		name  string
		cases []testCase
	}{
		{"Records", slices.Concat(recordCases, moveCases, crcCases, keyCases)},
		{"Garbage", garbageCases},
		{"Leases", leaseCases},
		{"Uploads", uploadCases},
		{"Multipart", multipartCases},
		{"Everyday", everydayCases},
		{"Inline", inlineCases},
	} {
		t.Run(role.name, func(t *testing.T) {
			for _, c := range role.cases {
				t.Run(c.name, func(t *testing.T) { c.fn(t, newStore(t)) })
			}
		})
	}
}

// recordCases are the conformance cases of [meta.RecordStore] but Move's.
var recordCases = []testCase{
	{"InsertGet", testInsertGet},
	{"InsertTaken", testInsertTaken},
	{"ConcurrentInserts", testConcurrentInserts},
	{"GetMissing", testGetMissing},
	{"Delete", testDelete},
	{"DeleteMissing", testDeleteMissing},
	{"ListOrderAndPrefix", testList},
	{"ListFolded", testListFolded},
	{"DeleteStale", testDeleteStale},
}

// garbageCases are the conformance cases of [meta.GarbageStore].
var garbageCases = []testCase{
	{"Garbage", testGarbage},
	{"Referenced", testReferenced},
	{"ReferencedPage", testReferencedPage},
}

// leaseCases are the conformance cases of [meta.LeaseStore].
var leaseCases = []testCase{
	{"Lease", testLease},
	{"ConcurrentLease", testConcurrentLease},
}

// record returns a valid record for id.
func record(id string) meta.Record {
	return meta.Record{
		ID:          id,
		Size:        int64(len(id)),
		SHA256:      fmt.Sprintf("%064x", len(id)),
		ContentType: "text/plain; charset=utf-8",
		MD5:         fmt.Sprintf("%032x", len(id)),
		S3Headers:   `{"x-amz-meta-mtime":"1700000000"}`,
		Backend:     "memory",
		StorageKey:  "ab/cd/" + fmt.Sprintf("%x", id),
		CreatedAt:   time.Date(2026, 12, 1, 14, 30, 0, 123456000, time.UTC),
	}
}

func mustInsert(t *testing.T, s meta.Store, r meta.Record) {
	t.Helper()
	if ok, err := s.Insert(context.Background(), r); err != nil || !ok {
		t.Fatalf("Insert(%q) = %v, %v; want true, nil", r.ID, ok, err)
	}
}

func testInsertGet(t *testing.T, s meta.Store) {
	ids := []string{"a", "reports/2026/q3.txt", "../x", "日本語 ids/%_*", "a\u00a0b"}
	for _, id := range ids {
		r := record(id)
		// A time zone other than UTC must come back as the same instant in UTC.
		r.CreatedAt = r.CreatedAt.In(time.FixedZone("X", 3600))
		mustInsert(t, s, r)
		got, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("Get(%q): %v", id, err)
		}
		want := record(id)
		if got != want {
			t.Errorf("Get(%q) = %+v; want %+v", id, got, want)
		}
	}
}

func testInsertTaken(t *testing.T, s meta.Store) {
	first := record("taken")
	mustInsert(t, s, first)
	second := first
	second.StorageKey, second.Size = "ab/cd/other", 99
	ok, err := s.Insert(context.Background(), second)
	if err != nil || ok {
		t.Fatalf("second Insert = %v, %v; want false, nil", ok, err)
	}
	if got, _ := s.Get(context.Background(), "taken"); got != first {
		t.Fatalf("a refused Insert changed the record: %+v", got)
	}
}

func testConcurrentInserts(t *testing.T, s meta.Store) {
	const writers = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []string
	errs := make(chan error, writers)
	start := make(chan struct{})
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := record("contended")
			r.StorageKey = fmt.Sprintf("ab/cd/writer-%d", i)
			<-start
			ok, err := s.Insert(context.Background(), r)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				mu.Lock()
				winners = append(winners, r.StorageKey)
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Insert: %v", err)
	}
	if len(winners) != 1 {
		t.Fatalf("%d concurrent inserts of one id succeeded; want exactly 1", len(winners))
	}
	if got, _ := s.Get(context.Background(), "contended"); got.StorageKey != winners[0] {
		t.Fatalf("the record holds key %q; the winner was %q", got.StorageKey, winners[0])
	}
}

func testGetMissing(t *testing.T, s meta.Store) {
	if _, err := s.Get(context.Background(), "missing"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Get of a missing id = %v; want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, s meta.Store) {
	ctx := context.Background()
	r := record("doomed")
	mustInsert(t, s, r)
	mustInsert(t, s, record("kept"))
	notBefore := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	got, err := s.Delete(ctx, "doomed", notBefore)
	if err != nil || got != r {
		t.Fatalf("Delete = %+v, %v; want the record", got, err)
	}
	if _, err := s.Get(ctx, "doomed"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Get after Delete = %v; want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "kept"); err != nil {
		t.Fatalf("Delete removed a neighbour: %v", err)
	}
	// The id is free again at once.
	mustInsert(t, s, record("doomed"))
	due, err := s.DueGarbage(ctx, "memory", notBefore.Add(-time.Second), 10)
	if err != nil || len(due) != 0 {
		t.Fatalf("DueGarbage before the grace period = %v, %v; want nothing", due, err)
	}
	due, err = s.DueGarbage(ctx, "memory", notBefore, 10)
	want := []meta.Garbage{{Backend: r.Backend, StorageKey: r.StorageKey, NotBefore: notBefore.UTC()}}
	if err != nil || !slices.EqualFunc(due, want, garbageEqual) {
		t.Fatalf("DueGarbage after the grace period = %v, %v; want %v", due, err, want)
	}
}

func garbageEqual(a, b meta.Garbage) bool {
	return a.Backend == b.Backend && a.StorageKey == b.StorageKey && a.NotBefore.Equal(b.NotBefore)
}

func testDeleteMissing(t *testing.T, s meta.Store) {
	if _, err := s.Delete(context.Background(), "missing", time.Now()); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Delete of a missing id = %v; want ErrNotFound", err)
	}
	due, err := s.DueGarbage(context.Background(), "memory", time.Now().Add(time.Hour), 10)
	if err != nil || len(due) != 0 {
		t.Fatalf("a failed Delete recorded garbage: %v, %v", due, err)
	}
}

func testList(t *testing.T, s meta.Store) {
	ctx := context.Background()
	// Bytewise order: upper case before lower case, "/" (0x2f) before
	// digits, multi-byte UTF-8 after ASCII; "_" and "%" are no wildcards.
	ids := []string{"B", "a", "a/1", "a/2", "a/b/c", "a0", "a_", "a%", "ab", "é", "日本", "zz", "\U0010ffff", "\U0010ffffz"}
	for _, id := range ids {
		mustInsert(t, s, record(id))
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted) // Go compares strings bytewise
	var got []string
	for after := ""; ; {
		page, err := s.List(ctx, meta.ListQuery{StartAfter: after, Limit: 5})
		if err != nil {
			t.Fatalf("List after %q: %v", after, err)
		}
		for _, r := range page {
			got = append(got, r.ID)
		}
		if len(page) < 5 {
			break
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, sorted) {
		t.Fatalf("paged List = %q; want %q", got, sorted)
	}
	for _, c := range []struct {
		prefix, after, at string
		want              []string
	}{
		{"a/", "", "", []string{"a/1", "a/2", "a/b/c"}},
		{"a/", "a/1", "", []string{"a/2", "a/b/c"}},
		{"a/", "", "a/2", []string{"a/2", "a/b/c"}},
		{"a/", "", "a/b0", nil},
		{"a", "a/b/c", "", []string{"a0", "a_", "ab"}},
		{"a", "", "a0", []string{"a0", "a_", "ab"}}, // "a0" skips the folder "a/"
		{"a_", "", "", []string{"a_"}},
		{"a%", "", "", []string{"a%"}},
		{"", "zz", "", []string{"é", "日本", "\U0010ffff", "\U0010ffffz"}},
		{"", "日本", "", []string{"\U0010ffff", "\U0010ffffz"}},
		{"é", "", "", []string{"é"}},
		{"b", "", "", nil},
		{"\U0010ffff", "", "", []string{"\U0010ffff", "\U0010ffffz"}}, // no successor: no upper bound
	} {
		page, err := s.List(ctx, meta.ListQuery{Prefix: c.prefix, StartAfter: c.after, StartAt: c.at, Limit: 100})
		if err != nil {
			t.Fatalf("List(%q, %q): %v", c.prefix, c.after, err)
		}
		var ids []string
		for _, r := range page {
			ids = append(ids, r.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("List(%q, after %q) = %q; want %q", c.prefix, c.after, ids, c.want)
		}
	}
	if page, err := s.List(ctx, meta.ListQuery{Prefix: "a/", Limit: 1}); err != nil || len(page) != 1 || page[0] != record("a/1") {
		t.Errorf("List(a/, limit 1) = %+v, %v; want the record of a/1", page, err)
	}
}

func testGarbage(t *testing.T, s meta.Store) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Microsecond)
	g1 := meta.Garbage{Backend: "memory", StorageKey: "ab/cd/1", NotBefore: now.Add(-2 * time.Minute)}
	g2 := meta.Garbage{Backend: "memory", StorageKey: "ab/cd/2", NotBefore: now.Add(-time.Minute)}
	later := meta.Garbage{Backend: "memory", StorageKey: "ab/cd/3", NotBefore: now.Add(time.Hour)}
	other := meta.Garbage{Backend: "s3", StorageKey: "ab/cd/0", NotBefore: now.Add(-time.Hour)}
	for _, g := range []meta.Garbage{g2, later, g1, g1, other} { // g1 twice: idempotent
		if err := s.AddGarbage(ctx, g); err != nil {
			t.Fatalf("AddGarbage(%v): %v", g, err)
		}
	}
	due, err := s.DueGarbage(ctx, "memory", now, 10)
	if err != nil || !slices.EqualFunc(due, []meta.Garbage{g1, g2}, garbageEqual) {
		t.Fatalf("DueGarbage = %v, %v; want the two due, oldest first", due, err)
	}
	if due, _ := s.DueGarbage(ctx, "memory", now, 1); len(due) != 1 {
		t.Fatalf("DueGarbage with limit 1 returned %d", len(due))
	}
	if err := s.ForgetGarbage(ctx, "memory", "ab/cd/1"); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetGarbage(ctx, "memory", "ab/cd/never"); err != nil {
		t.Fatalf("ForgetGarbage of an unknown key: %v", err)
	}
	due, err = s.DueGarbage(ctx, "memory", now, 10)
	if err != nil || !slices.EqualFunc(due, []meta.Garbage{g2}, garbageEqual) {
		t.Fatalf("DueGarbage after ForgetGarbage = %v, %v; want only the second", due, err)
	}
}

func testListFolded(t *testing.T, s meta.Store) {
	ctx := context.Background()
	ids := []string{
		"a", "a/1", "a/2", "a/b/c", "a0", "b/x", "b/y/z", "c", "x--y", "x--z", "x-a", "x-",
		"é/1", "é/2", "éa", "ê", "日/本/1", "日本1", "日本本", "\U0010ffff/1", "\U0010ffff/2", "\U0010ffffz",
	}
	for _, id := range ids {
		mustInsert(t, s, record(id))
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	// want folds sorted as the contract says: a folder's first id stands
	// for it, and the listing goes on after the folder.
	want := func(q meta.ListQuery) []string {
		var out []string
		folder := ""
		for _, id := range sorted {
			switch {
			case !strings.HasPrefix(id, q.Prefix), id < q.StartAt, q.StartAfter != "" && id <= q.StartAfter,
				folder != "" && strings.HasPrefix(id, folder):
				continue
			case len(out) == q.Limit:
				return out
			}
			out = append(out, id)
			if i := strings.Index(id[len(q.Prefix):], q.Delimiter); i >= 0 {
				folder = id[:len(q.Prefix)+i+len(q.Delimiter)]
			}
		}
		return out
	}
	var queries []meta.ListQuery
	for _, prefix := range []string{"", "a", "a/", "x-", "é", "日", "\U0010ffff", "zz"} {
		for _, delim := range []string{"/", "--", "本", "é"} {
			for _, limit := range []int{1, 2, 100} {
				queries = append(queries, meta.ListQuery{Prefix: prefix, Delimiter: delim, Limit: limit},
					meta.ListQuery{Prefix: prefix, Delimiter: delim, Limit: limit, StartAfter: "a/1"},
					meta.ListQuery{Prefix: prefix, Delimiter: delim, Limit: limit, StartAt: "b0"})
			}
		}
	}
	for _, q := range queries {
		page, err := s.List(ctx, q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		var got []string
		for _, r := range page {
			got = append(got, r.ID)
		}
		if w := want(q); !slices.Equal(got, w) {
			t.Errorf("List(%+v) = %q; want %q", q, got, w)
		}
	}
	if page, err := s.List(ctx, meta.ListQuery{Delimiter: "/", Limit: 2}); err != nil || len(page) != 2 || page[1] != record("a/1") {
		t.Errorf("List(delimiter /, limit 2) = %+v, %v; want the records of a and a/1", page, err)
	}
}
