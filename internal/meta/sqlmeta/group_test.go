package sqlmeta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// outcome is what one caller of a grouped write was told.
type outcome struct {
	rec      meta.Record
	inserted bool
	err      error
}

// TestGroupCommit holds one insert's batch until 63 more writes have queued
// behind it, so that they form the next batch, and then fails that batch's
// commit (or lets it through, with a taken id and a missing delete among
// its writes). Every caller told its insert is done must find its row, and
// every caller told it failed must not: the rows are read back after the
// store is closed and opened again.
func TestGroupCommit(t *testing.T) {
	for _, fail := range []bool{true, false} {
		t.Run(map[bool]string{true: "FailedCommit", false: "Commit"}[fail], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "meta.db")
			s := New(testenv.OpenDB(t, path))
			ctx := context.Background()
			taken := rec("taken", "old-key")
			if ok, err := s.Insert(ctx, taken); !ok || err != nil {
				t.Fatalf("Insert(taken) = %v, %v", ok, err)
			}
			const n = 64
			injected := errors.New("injected commit failure")
			leaderIn, allQueued := make(chan struct{}), make(chan struct{})
			var batches []int
			s.group.queued = func(q int) {
				if q == n-1 {
					close(allQueued)
				}
			}
			s.group.beforeCommit = func(size int) error {
				batches = append(batches, size) // batches run one at a time
				switch len(batches) {
				case 1:
					close(leaderIn)
					<-allQueued
				case 2:
					if fail {
						return injected
					}
				}
				return nil
			}
			// Callers 0 to n-2 insert (the last of them an id already
			// taken); caller n-1 deletes a missing id, which fails alone.
			out := make([]outcome, n-1)
			var deleteErr error
			var wg sync.WaitGroup
			insert := func(i int) {
				defer wg.Done()
				o := &out[i]
				o.rec = rec(fmt.Sprint("id-", i), fmt.Sprint("key-", i))
				if i == n-2 {
					o.rec = rec("taken", "new-key")
				}
				o.inserted, o.err = s.Insert(ctx, o.rec)
			}
			wg.Add(1)
			go insert(0)
			<-leaderIn // the first batch holds insert 0 alone
			wg.Add(n - 1)
			for i := 1; i < n-1; i++ {
				go insert(i)
			}
			go func() {
				defer wg.Done()
				_, deleteErr = s.Delete(ctx, "missing", time.Now())
			}()
			wg.Wait()
			if fail && !errors.Is(deleteErr, injected) || !fail && !errors.Is(deleteErr, meta.ErrNotFound) {
				t.Errorf("Delete(missing) in the batch = %v", deleteErr)
			}
			if len(batches) < 2 || batches[0] != 1 || batches[1] != n-1 {
				t.Fatalf("batch sizes %v; want 1, then %d", batches, n-1)
			}

			// Read back from a fresh connection, after a close.
			s.db.Close()
			s = New(testenv.OpenDB(t, path))
			for i, o := range out {
				got, err := s.Get(ctx, o.rec.ID)
				onDisk := err == nil && got.StorageKey == o.rec.StorageKey
				switch {
				case o.err == nil && o.inserted && !onDisk:
					t.Errorf("caller %d was told %q is stored, but it is not on disk (%v)", i, o.rec.ID, err)
				case o.err != nil && onDisk:
					t.Errorf("caller %d was told %v, but %q is on disk", i, o.err, o.rec.ID)
				case o.err == nil && !o.inserted && onDisk:
					t.Errorf("caller %d was told %q was taken, but its row is on disk", i, o.rec.ID)
				}
				wantErr := fail && i > 0
				if (o.err != nil) != wantErr {
					t.Errorf("caller %d: Insert(%q) = %v, %v; want an error: %v", i, o.rec.ID, o.inserted, o.err, wantErr)
				}
				if o.err == nil && o.inserted == (o.rec.ID == "taken") {
					t.Errorf("caller %d: Insert(%q) = %v; the taken id alone must not insert", i, o.rec.ID, o.inserted)
				}
				if wantErr && !errors.Is(o.err, injected) {
					t.Errorf("caller %d: error %v does not wrap the commit's", i, o.err)
				}
			}
			if got, err := s.Get(ctx, "taken"); err != nil || got.StorageKey != "old-key" {
				t.Errorf("the taken id's record = %+v, %v; want the first one's", got, err)
			}
		})
	}
}

func rec(id, key string) meta.Record {
	return meta.Record{ID: id, Size: 1, SHA256: fmt.Sprintf("%064x", 1), ContentType: "x/y", Backend: "memory",
		StorageKey: key, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
}

// TestGroupCommitPartialFailure queues, behind a held batch, writes that
// succeed and one that inserts a row and then fails: the failed write's
// row must not be on disk, every other write's must be, and only the
// failed write's caller gets an error.
func TestGroupCommitPartialFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s := New(testenv.OpenDB(t, path))
	ctx := context.Background()
	const n = 16
	leaderIn, allQueued := make(chan struct{}), make(chan struct{})
	var batches []int
	s.group.queued = func(q int) {
		if q == n {
			close(allQueued)
		}
	}
	s.group.beforeCommit = func(size int) error {
		batches = append(batches, size)
		if len(batches) == 1 {
			close(leaderIn)
			<-allQueued
		}
		return nil
	}
	failure := errors.New("the write's own failure")
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	insert := func(i int) {
		defer wg.Done()
		_, errs[i] = s.Insert(ctx, rec(fmt.Sprint("id-", i), fmt.Sprint("key-", i)))
	}
	wg.Add(1)
	go insert(0)
	<-leaderIn
	wg.Add(n)
	for i := 1; i < n; i++ {
		go insert(i)
	}
	go func() {
		defer wg.Done()
		errs[n] = s.group.do(func(ctx context.Context, t *sql.Tx) error {
			r := rec("partial", "partial-key")
			if _, err := s.insert.exec(ctx, t, r.ID, r.Size, r.SHA256, crc32c(r), r.ContentType, r.Backend, r.StorageKey,
				r.CreatedAt, md5(r), keyID(r), wrappedKey(r), s3Headers(r), inlineData(r)); err != nil {
				return err
			}
			return failure
		})
	}()
	wg.Wait()
	if len(batches) != 2 || batches[1] != n {
		t.Fatalf("batch sizes %v; want 1, then %d", batches, n)
	}
	if !errors.Is(errs[n], failure) {
		t.Errorf("the failing write's caller got %v; want its own failure", errs[n])
	}
	s.db.Close()
	s = New(testenv.OpenDB(t, path))
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Insert(id-%d) = %v; only the failing write may fail", i, errs[i])
		}
		if _, err := s.Get(ctx, fmt.Sprint("id-", i)); err != nil {
			t.Errorf("id-%d, told stored, is not on disk: %v", i, err)
		}
	}
	if r, err := s.Get(ctx, "partial"); err == nil {
		t.Errorf("the failed write's row is on disk: %+v", r)
	}
}
