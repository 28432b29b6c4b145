// Package keystest is the conformance suite every [keys.Store] runs: each
// case a subtest on a fresh, empty store.
package keystest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/keys"
)

// NewStore makes a fresh, empty store for one test case. It registers its
// own cleanup with t.Cleanup.
type NewStore func(t *testing.T) keys.Store

// Run runs the conformance suite against the stores that newStore makes.
func Run(t *testing.T, newStore NewStore) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s keys.Store)
	}{
		{"InsertGet", testInsertGet},
		{"InsertTaken", testInsertTaken},
		{"GetMissing", testGetMissing},
		{"List", testList},
		{"Revoke", testRevoke},
		{"Touch", testTouch},
		{"ConcurrentTouches", testConcurrentTouches},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newStore(t)) })
	}
}

var base = time.Date(2026, 12, 1, 14, 30, 0, 123456000, time.UTC)

// key returns a valid key numbered n.
func key(n int) keys.Key {
	k := keys.Key{
		ID:        fmt.Sprintf("%020x", n),
		Name:      fmt.Sprintf("key %d: ünïcode", n),
		Scopes:    keys.Read | keys.Delete,
		CreatedAt: base.Add(time.Duration(n) * time.Second),
	}
	for i := range k.SecretHash {
		k.SecretHash[i] = byte(n + i)
	}
	return k
}

func mustInsert(t *testing.T, s keys.Store, k keys.Key) {
	t.Helper()
	if err := s.Insert(context.Background(), k); err != nil {
		t.Fatalf("Insert(%s): %v", k.ID, err)
	}
}

func mustGet(t *testing.T, s keys.Store, id string) keys.Key {
	t.Helper()
	k, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return k
}

func testInsertGet(t *testing.T, s keys.Store) {
	plain := key(1)
	full := key(2)
	full.Scopes = keys.All
	full.Prefix = "team/日本/%_"
	full.ExpiresAt = base.Add(time.Hour)
	full.S3Sealed = "bm9uY2UgYW5kIHNlYWxlZCBzZWNyZXQ"
	for _, k := range []keys.Key{plain, full} {
		mustInsert(t, s, k)
		if got := mustGet(t, s, k.ID); got != k {
			t.Errorf("Get(%s) = %+v; want %+v", k.ID, got, k)
		}
	}
}

func testInsertTaken(t *testing.T, s keys.Store) {
	mustInsert(t, s, key(1))
	other := key(1)
	other.Name = "other"
	if err := s.Insert(context.Background(), other); !errors.Is(err, keys.ErrExists) {
		t.Fatalf("second Insert = %v; want ErrExists", err)
	}
	if got := mustGet(t, s, other.ID); got.Name != key(1).Name {
		t.Fatalf("the first key was replaced: %+v", got)
	}
}

func testGetMissing(t *testing.T, s keys.Store) {
	if _, err := s.Get(context.Background(), key(9).ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("Get of a missing key = %v; want ErrNotFound", err)
	}
}

func testList(t *testing.T, s keys.Store) {
	got, err := s.List(context.Background())
	if err != nil || len(got) != 0 {
		t.Fatalf("List of an empty store = %v, %v", got, err)
	}
	// Inserted out of order; two share a creation time.
	for _, n := range []int{3, 1, 2} {
		mustInsert(t, s, key(n))
	}
	tie := key(0)
	tie.CreatedAt = key(3).CreatedAt
	mustInsert(t, s, tie)
	if err := s.Revoke(context.Background(), key(2).ID, base); err != nil {
		t.Fatal(err)
	}
	got, err = s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range got {
		ids = append(ids, k.ID)
	}
	want := []string{key(1).ID, key(2).ID, key(0).ID, key(3).ID}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("List ids = %v; want %v (oldest first, revoked included)", ids, want)
	}
}

func testRevoke(t *testing.T, s keys.Store) {
	ctx := context.Background()
	k := key(1)
	mustInsert(t, s, k)
	first := base.Add(time.Minute)
	if err := s.Revoke(ctx, k.ID, first); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, k.ID, first.Add(time.Hour)); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	got := mustGet(t, s, k.ID)
	if !got.RevokedAt.Equal(first) {
		t.Fatalf("RevokedAt = %v; want the first revocation, %v", got.RevokedAt, first)
	}
	if got.Active(first) {
		t.Fatal("a revoked key is active")
	}
	if err := s.Revoke(ctx, key(7).ID, first); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("Revoke of a missing key = %v; want ErrNotFound", err)
	}
}

func testTouch(t *testing.T, s keys.Store) {
	ctx := context.Background()
	k := key(1)
	mustInsert(t, s, k)
	later := base.Add(2 * time.Minute)
	if err := s.Touch(ctx, k.ID, later); err != nil {
		t.Fatal(err)
	}
	// An earlier use arriving late does not move the time back.
	if err := s.Touch(ctx, k.ID, base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, k.ID); !got.LastUsedAt.Equal(later) {
		t.Fatalf("LastUsedAt = %v; want %v", got.LastUsedAt, later)
	}
	if err := s.Touch(ctx, key(5).ID, later); err != nil {
		t.Fatalf("Touch of a missing key = %v; want nil", err)
	}
}

func testConcurrentTouches(t *testing.T, s keys.Store) {
	k := key(1)
	mustInsert(t, s, k)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Touch(context.Background(), k.ID, base.Add(time.Duration(i)*time.Second)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := mustGet(t, s, k.ID); !got.LastUsedAt.Equal(base.Add(19 * time.Second)) {
		t.Fatalf("LastUsedAt = %v; want the latest use", got.LastUsedAt)
	}
}
