package sqlmeta

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// TestMain lets TestLookupSeesOtherProcesses run this binary as another
// process writing to its database: with SQLMETA_WRITE=insert|delete|replace|replaces,
// SQLMETA_DB and SQLMETA_ID set (and SQLMETA_KEY for replace), it does that
// write and exits.
func TestMain(m *testing.M) {
	if op := os.Getenv("SQLMETA_WRITE"); op != "" {
		if err := writeAsOtherProcess(op, os.Getenv("SQLMETA_DB"), os.Getenv("SQLMETA_ID")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func writeAsOtherProcess(op, path, id string) error {
	ctx := context.Background()
	d, err := db.Open(ctx, path)
	if err != nil {
		return err
	}
	defer d.Close()
	s := New(d)
	switch op {
	case "insert":
		if ok, err := s.Insert(ctx, rec(id, "key-of-"+id)); !ok || err != nil {
			return fmt.Errorf("Insert = %v, %v", ok, err)
		}
	case "delete":
		if _, err := s.Delete(ctx, id, time.Now()); err != nil {
			return err
		}
	case "replace": // the record of id, under a new key
		return replace(ctx, s, id, os.Getenv("SQLMETA_KEY"))
	case "replaces": // under key-1, key-2, ..., each number printed once committed, checkpoints between
		n, err := strconv.Atoi(os.Getenv("SQLMETA_KEY"))
		if err != nil {
			return err
		}
		for i := 1; i <= n; i++ {
			if err := replace(ctx, s, id, fmt.Sprint("key-", i)); err != nil {
				return err
			}
			if i%3 == 0 { // the WAL checkpointed, restarted, truncated
				mode := [...]string{"PASSIVE", "RESTART", "TRUNCATE"}[i/3%3]
				if _, err := d.Writer().ExecContext(ctx, "PRAGMA wal_checkpoint("+mode+")"); err != nil {
					return err
				}
			}
			fmt.Println(i)
		}
	}
	return nil
}

// replace replaces the record of id with one under key, in one
// transaction.
func replace(ctx context.Context, s *Store, id, key string) error {
	return s.write(ctx, func(ctx context.Context, t tx) error {
		if _, err := t.ExecContext(ctx, `DELETE FROM blob_metadata WHERE id = $1`, id); err != nil {
			return err
		}
		r := rec(id, key)
		_, err := t.ExecContext(ctx, `INSERT INTO blob_metadata (id, size, sha256, content_type, backend, storage_key, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, r.ID, r.Size, r.SHA256, r.ContentType, r.Backend, r.StorageKey, r.CreatedAt)
		return err
	})
}

// lookupRecords are records whose every column differs from the next's,
// with each nullable column both set and NULL, and inline data both empty
// and not.
func lookupRecords() []meta.Record {
	at := time.Date(2026, 12, 6, 3, 4, 5, 123456000, time.UTC)
	return []meta.Record{
		{ID: "plain", Size: 1, SHA256: fmt.Sprintf("%064x", 1), ContentType: "x/y", Backend: "local", StorageKey: "k1", CreatedAt: at},
		{ID: "dir/full ü", Size: 1 << 40, SHA256: fmt.Sprintf("%064x", 2), CRC32C: 0xFFFFFFFF, HasCRC32C: true,
			ContentType: "text/plain; charset=utf-8", Backend: "s3", StorageKey: "k2", CreatedAt: at.Add(time.Microsecond),
			MD5: "0123456789abcdef0123456789abcdef-3", KeyID: "k1", WrappedKey: "\x00\xffwrapped\x00", S3Headers: `{"x-amz-meta-a":"b"}`},
		{ID: "zero crc", Size: 0, SHA256: fmt.Sprintf("%064x", 3), HasCRC32C: true, ContentType: "a/b", Backend: meta.InlineBackend,
			StorageKey: "k3", CreatedAt: time.Date(1999, 1, 2, 3, 4, 5, 0, time.UTC)},
		{ID: "inline", Size: 5, SHA256: fmt.Sprintf("%064x", 4), CRC32C: 7, HasCRC32C: true, ContentType: "a/c", Backend: meta.InlineBackend,
			StorageKey: "k4", CreatedAt: at, Data: "he\x00lo"},
	}
}

// TestLookupMatchesSQL reads records through [db.Lookup] and through
// database/sql: the two must agree, and the lookup must have read them
// itself rather than fallen back.
func TestLookupMatchesSQL(t *testing.T) {
	s := New(testenv.OpenDB(t, filepath.Join(t.TempDir(), "meta.db")))
	ctx := context.Background()
	for _, r := range lookupRecords() {
		if ok, err := s.Insert(ctx, r); !ok || err != nil {
			t.Fatalf("Insert(%q) = %v, %v", r.ID, ok, err)
		}
		var got meta.Record
		found, ok := s.lookup.Row(ctx, r.ID, func(row db.Row) bool { return lookupRecord(row, &got) })
		if !found || !ok {
			t.Fatalf("lookup of %q: found %v, ok %v; want both", r.ID, found, ok)
		}
		want, err := s.getSQL(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got != want || got != r {
			t.Errorf("record %q:\nlookup       %+v\ndatabase/sql %+v\ninserted     %+v", r.ID, got, want, r)
		}
	}
	if found, ok := s.lookup.Row(ctx, "missing", func(db.Row) bool { return true }); found || !ok {
		t.Errorf("lookup of a missing id: found %v, ok %v; want not found, ok", found, ok)
	}
	if _, err := s.Get(ctx, "missing"); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
}

// TestLookupFallsBack stores rows the driver would not write: created_at
// in other forms, inline data as text. The lookup declines
// them, and Get still reads them, through database/sql.
func TestLookupFallsBack(t *testing.T) {
	d := testenv.OpenDB(t, filepath.Join(t.TempDir(), "meta.db"))
	s := New(d)
	ctx := context.Background()
	for id, row := range map[string]struct{ createdAt, data string }{
		"rfc3339":   {"2026-12-06T03:04:05.5Z", "X'6869'"},
		"offset":    {"2026-12-06 04:04:05.5+01:00", "X'6869'"},
		"text data": {"2026-12-06 03:04:05.5 +0000 UTC", "'hi'"},
	} {
		if _, err := d.Writer().ExecContext(ctx, `INSERT INTO blob_metadata (id, size, sha256, content_type, backend, storage_key, created_at, data)
			VALUES ($1, 2, $2, 'x/y', 'inline', $1, $3, `+row.data+`)`, id, fmt.Sprintf("%064x", 5), row.createdAt); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.lookup.Row(ctx, id, func(row db.Row) bool { return lookupRecord(row, new(meta.Record)) }); ok {
			t.Errorf("the lookup read %q's row itself", id)
		}
		r, err := s.Get(ctx, id)
		if want := time.Date(2026, 12, 6, 3, 4, 5, 5e8, time.UTC); err != nil || !r.CreatedAt.Equal(want) || r.CreatedAt.Location() != time.UTC || r.Data != "hi" {
			t.Errorf("Get(%q) = created %v, data %q, %v; want %v, %q", id, r.CreatedAt, r.Data, err, want, "hi")
		}
	}
}

// TestLookupSeesOtherProcesses has another process insert a record the
// lookup has just not found, and then delete it: each Get after the
// other process's commit sees it, on connections that read the file
// before it.
func TestLookupSeesOtherProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s := New(testenv.OpenDB(t, path))
	ctx := context.Background()
	if ok, err := s.Insert(ctx, rec("before", "k")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	for _, step := range []struct {
		op    string
		found bool
	}{{"insert", true}, {"delete", false}, {"insert", true}} {
		// Every connection of the lookup has read the file before.
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := s.Get(ctx, "before"); err != nil {
					t.Error(err)
				}
				s.Get(ctx, "theirs")
			})
		}
		wg.Wait()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SQLMETA_WRITE="+step.op, "SQLMETA_DB="+path, "SQLMETA_ID=theirs")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the other process's %s: %v: %s", step.op, err, out)
		}
		for range 8 {
			r, err := s.Get(ctx, "theirs")
			if found := err == nil; found != step.found || err != nil && !errors.Is(err, meta.ErrNotFound) || found && r.StorageKey != "key-of-theirs" {
				t.Fatalf("Get after the other process's %s = %+v, %v; want found %v", step.op, r, err, step.found)
			}
		}
	}
}

// TestLookupAfterInsert has 64 callers each insert a record and read it
// at once, while others read: each finds its own, as a GET after a 201
// must.
func TestLookupAfterInsert(t *testing.T) {
	s := New(testenv.OpenDB(t, filepath.Join(t.TempDir(), "meta.db")))
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			r := rec(fmt.Sprint("id-", i), fmt.Sprint("key-", i))
			if ok, err := s.Insert(ctx, r); !ok || err != nil {
				t.Errorf("Insert = %v, %v", ok, err)
				return
			}
			if got, err := s.Get(ctx, r.ID); err != nil || got != r {
				t.Errorf("Get after Insert = %+v, %v; want %+v", got, err, r)
			}
			s.Get(ctx, fmt.Sprint("id-", i+1))
		})
	}
	wg.Wait()
}

// TestLookupClosed closes the database while reads run: each read
// returns its record or an error, and none runs on a closed connection
// (the race detector and SQLite's own checks would report it).
func TestLookupClosed(t *testing.T) {
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	s := New(d)
	ctx := context.Background()
	if ok, err := s.Insert(ctx, rec("a", "k")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			<-start
			for range 200 {
				if r, err := s.Get(ctx, "a"); err == nil && r.ID != "a" {
					t.Errorf("Get = %+v", r)
				}
			}
		})
	}
	close(start)
	d.Close()
	wg.Wait()
	if _, err := s.Get(ctx, "a"); err == nil {
		t.Error("Get after Close succeeded")
	}
}
