package db

import (
	"context"
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
