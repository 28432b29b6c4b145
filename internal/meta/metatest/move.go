package metatest

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
)

// moveCases are the conformance cases of [meta.RecordStore.Move].
var moveCases = []testCase{
	{"Move", testMove},
	{"MoveStale", testMoveStale},
	{"ConcurrentMoves", testConcurrentMoves},
}

func testMove(t *testing.T, s meta.Store) {
	ctx := context.Background()
	r := record("reports/q3.txt")
	mustInsert(t, s, r)
	mustInsert(t, s, record("neighbour"))
	notBefore := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	ok, err := s.Move(ctx, r.ID, r, "s3", "ab/cd/new", notBefore)
	if err != nil || !ok {
		t.Fatalf("Move = %v, %v; want true, nil", ok, err)
	}
	want := r
	want.Backend, want.StorageKey = "s3", "ab/cd/new"
	if got, err := s.Get(ctx, r.ID); err != nil || got != want {
		t.Fatalf("Get after Move = %+v, %v; want %+v", got, err, want)
	}
	if got, _ := s.Get(ctx, "neighbour"); got != record("neighbour") {
		t.Fatalf("Move changed a neighbour: %+v", got)
	}
	due, err := s.DueGarbage(ctx, r.Backend, notBefore, 10)
	wantDue := []meta.Garbage{{Backend: r.Backend, StorageKey: r.StorageKey, NotBefore: notBefore.UTC()}}
	if err != nil || !slices.EqualFunc(due, wantDue, garbageEqual) {
		t.Fatalf("DueGarbage after Move = %v, %v; want the old key %v", due, err, wantDue)
	}
	if due, _ := s.DueGarbage(ctx, "s3", notBefore.Add(time.Hour), 10); len(due) != 0 {
		t.Fatalf("Move recorded the new key as garbage: %v", due)
	}
}

// testMoveStale: a Move whose "from" is not what the record references
// (moved already, deleted, or deleted and created again) changes nothing.
func testMoveStale(t *testing.T, s meta.Store) {
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	r := record("x")
	mustInsert(t, s, r)
	if ok, err := s.Move(ctx, "x", r, "s3", "ab/cd/1", later); err != nil || !ok {
		t.Fatalf("first Move = %v, %v", ok, err)
	}
	if ok, err := s.Move(ctx, "x", r, "s3", "ab/cd/2", later); err != nil || ok {
		t.Fatalf("Move from a key the record left = %v, %v; want false, nil", ok, err)
	}
	if got, _ := s.Get(ctx, "x"); got.StorageKey != "ab/cd/1" {
		t.Fatalf("a stale Move changed the record: %+v", got)
	}
	if ok, err := s.Move(ctx, "missing", record("missing"), "s3", "ab/cd/3", later); err != nil || ok {
		t.Fatalf("Move of a missing id = %v, %v; want false, nil", ok, err)
	}
	// Deleted and created again under another key.
	cur, _ := s.Get(ctx, "x")
	if _, err := s.Delete(ctx, "x", later); err != nil {
		t.Fatal(err)
	}
	again := record("x")
	again.StorageKey = "ab/cd/again"
	mustInsert(t, s, again)
	if ok, err := s.Move(ctx, "x", cur, "local", "ab/cd/4", later); err != nil || ok {
		t.Fatalf("Move of a recreated id = %v, %v; want false, nil", ok, err)
	}
	if got, _ := s.Get(ctx, "x"); got != again {
		t.Fatalf("a stale Move changed the recreated record: %+v", got)
	}
	due, _ := s.DueGarbage(ctx, "memory", later, 10)
	// Only the first Move (r's key) and the Delete recorded garbage.
	if len(due) != 1 || due[0].StorageKey != r.StorageKey {
		t.Fatalf("garbage of backend memory = %v; want only the first Move's old key", due)
	}
}

func testConcurrentMoves(t *testing.T, s meta.Store) {
	ctx := context.Background()
	r := record("contended")
	mustInsert(t, s, r)
	const movers = 8
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range movers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := s.Move(ctx, r.ID, r, "s3", "ab/cd/mover-"+string(rune('a'+i)), time.Now())
			if err != nil {
				t.Errorf("Move: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent Moves from one key succeeded; want exactly 1", wins.Load())
	}
}
