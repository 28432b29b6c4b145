package db

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestChanges reads stamps of a SQLite file: equal across reads, different
// after each commit (one after a checkpoint that truncated the WAL too),
// and not ok once the database is closed.
func TestChanges(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c := d.Changes()
	if c == nil {
		t.Fatal("Changes = nil on SQLite")
	}
	stamp := func() Stamp {
		t.Helper()
		s, ok := c.Stamp()
		if !ok {
			t.Fatal("Stamp not ok")
		}
		return s
	}
	exec := func(q string) {
		t.Helper()
		if _, err := d.Writer().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE TABLE t (v INTEGER)`)
	seen := map[Stamp]bool{}
	for i, q := range []string{`INSERT INTO t VALUES (1)`, `UPDATE t SET v = 2`, `PRAGMA wal_checkpoint(TRUNCATE)`, `UPDATE t SET v = 3`, `DELETE FROM t`} {
		before := stamp()
		if _, err := d.Reader().ExecContext(ctx, `SELECT count(*) FROM t`); err != nil {
			t.Fatal(err)
		}
		if stamp() != before {
			t.Fatalf("step %d: a read changed the stamp", i)
		}
		seen[before] = true
		exec(q)
		if after := stamp(); q[0] != 'P' && (after == before || seen[after]) {
			t.Fatalf("step %d: %s left the stamp as it was or made an earlier one", i, q)
		}
	}
	d.Close()
	if _, ok := c.Stamp(); ok {
		t.Error("Stamp ok after Close")
	}
}

// TestChangesThroughLink opens the database through a symbolic link with
// a stale -shm file beside it (of another database): the stamps are
// those of the file SQLite uses, so they change with a commit.
func TestChangesThroughLink(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	stale, err := Open(ctx, filepath.Join(dir, "link.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stale.Writer().ExecContext(ctx, `CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	shm, err := os.ReadFile(filepath.Join(dir, "link.db-shm"))
	if err != nil {
		t.Fatal(err)
	}
	stale.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(dir, "link.db"+suffix))
	}
	if err := os.WriteFile(filepath.Join(dir, "link.db-shm"), shm, 0o600); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(dir, "real", "meta.db")
	if err := os.MkdirAll(filepath.Dir(real), 0o700); err != nil {
		t.Fatal(err)
	}
	d, err := Open(ctx, real)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if err := os.Symlink(real, filepath.Join(dir, "link.db")); err != nil {
		t.Fatal(err)
	}
	d, err = Open(ctx, filepath.Join(dir, "link.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c := d.Changes()
	if c == nil {
		t.Fatal("Changes = nil")
	}
	before, ok := c.Stamp()
	if _, err := d.Writer().ExecContext(ctx, `CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if after, ok2 := c.Stamp(); !ok || !ok2 || after == before {
		t.Fatalf("a commit through a link left the stamp as it was (ok %v, %v)", ok, ok2)
	}
}
