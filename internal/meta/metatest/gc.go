package metatest

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
)

func testReferenced(t *testing.T, s meta.Store) {
	ctx := context.Background()
	live, doomed := record("live"), record("doomed")
	mustInsert(t, s, live)
	mustInsert(t, s, doomed)
	other := record("elsewhere")
	other.Backend, other.StorageKey = "s3", "ab/cd/on-s3"
	mustInsert(t, s, other)
	if _, err := s.Delete(ctx, "doomed", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	recorded := meta.Garbage{Backend: "memory", StorageKey: "ab/cd/recorded", NotBefore: time.Now()}
	if err := s.AddGarbage(ctx, recorded); err != nil {
		t.Fatal(err)
	}
	keys := []string{live.StorageKey, doomed.StorageKey, recorded.StorageKey, other.StorageKey, "ab/cd/orphan", "ab/cd/%", live.StorageKey + "x"}
	got, err := s.Referenced(ctx, "memory", keys)
	want := map[string]bool{live.StorageKey: true, doomed.StorageKey: true, recorded.StorageKey: true}
	if err != nil || !maps.Equal(got, want) {
		// The other backend's key is not this backend's: a key names bytes
		// only within its backend.
		t.Fatalf("Referenced = %v, %v; want %v (records and recorded garbage of this backend)", got, err, want)
	}
	if got, err := s.Referenced(ctx, "memory", nil); err != nil || len(got) != 0 {
		t.Fatalf("Referenced(no keys) = %v, %v; want an empty map", got, err)
	}
	// Once its garbage is forgotten, a deleted blob's key is referenced by
	// nothing.
	if err := s.ForgetGarbage(ctx, "memory", doomed.StorageKey); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Referenced(ctx, "memory", []string{doomed.StorageKey}); err != nil || got[doomed.StorageKey] {
		t.Fatalf("Referenced after ForgetGarbage = %v, %v; want not referenced", got, err)
	}
}

// testReferencedPage asks about a whole page of keys, as the collector does.
func testReferencedPage(t *testing.T, s meta.Store) {
	ctx := context.Background()
	keys := make([]string, meta.MaxReferencedKeys)
	want := map[string]bool{}
	for i := range keys {
		keys[i] = fmt.Sprintf("ab/cd/key-%04d", i)
		if i%7 == 0 {
			r := record(fmt.Sprintf("id-%d", i))
			r.StorageKey = keys[i]
			mustInsert(t, s, r)
			want[keys[i]] = true
		}
	}
	got, err := s.Referenced(ctx, "memory", keys)
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("Referenced of %d keys = %d referenced, %v; want %d", len(keys), len(got), err, len(want))
	}
}

func testDeleteStale(t *testing.T, s meta.Store) {
	ctx := context.Background()
	r := record("stale")
	mustInsert(t, s, r)
	if ok, err := s.DeleteStale(ctx, "stale", "ab/cd/another-key"); err != nil || ok {
		t.Fatalf("DeleteStale with another key = %v, %v; want false, nil", ok, err)
	}
	if _, err := s.Get(ctx, "stale"); err != nil {
		t.Fatalf("DeleteStale with another key removed the record: %v", err)
	}
	if ok, err := s.DeleteStale(ctx, "stale", r.StorageKey); err != nil || !ok {
		t.Fatalf("DeleteStale = %v, %v; want true, nil", ok, err)
	}
	if got, err := s.Referenced(ctx, "memory", []string{r.StorageKey}); err != nil || len(got) != 0 {
		t.Fatalf("DeleteStale recorded garbage or kept a reference: %v, %v", got, err)
	}
	if ok, err := s.DeleteStale(ctx, "stale", r.StorageKey); err != nil || ok {
		t.Fatalf("second DeleteStale = %v, %v; want false, nil", ok, err)
	}
}

func testLease(t *testing.T, s meta.Store) {
	ctx := context.Background()
	now := time.Now()
	acquire := func(holder string, at time.Time, want bool) {
		t.Helper()
		if ok, err := s.AcquireLease(ctx, "gc", holder, at, at.Add(time.Minute)); err != nil || ok != want {
			t.Fatalf("AcquireLease(%s at %v) = %v, %v; want %v", holder, at.Sub(now), ok, err, want)
		}
	}
	acquire("a", now, true)
	acquire("b", now.Add(time.Second), false)
	acquire("a", now.Add(30*time.Second), true) // a renews: now until +90s
	acquire("b", now.Add(80*time.Second), false)
	if ok, err := s.AcquireLease(ctx, "other", "b", now, now.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("a lease of another name = %v, %v; want true", ok, err)
	}
	acquire("b", now.Add(90*time.Second), true) // a's has expired
	acquire("a", now.Add(91*time.Second), false)
	if err := s.ReleaseLease(ctx, "gc", "a"); err != nil { // not a's: nothing happens
		t.Fatal(err)
	}
	acquire("a", now.Add(92*time.Second), false)
	if err := s.ReleaseLease(ctx, "gc", "b"); err != nil {
		t.Fatal(err)
	}
	acquire("a", now.Add(93*time.Second), true)
}

func testConcurrentLease(t *testing.T, s meta.Store) {
	const holders = 16
	now := time.Now()
	var wg sync.WaitGroup
	var winners atomic.Int32
	start := make(chan struct{})
	for i := range holders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := s.AcquireLease(context.Background(), "gc", fmt.Sprint("holder-", i), now, now.Add(time.Minute))
			if err != nil {
				t.Errorf("AcquireLease: %v", err)
			}
			if ok {
				winners.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := winners.Load(); n != 1 {
		t.Fatalf("%d of %d concurrent holders got the lease; want exactly 1", n, holders)
	}
}
