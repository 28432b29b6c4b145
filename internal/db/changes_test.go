package db

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestMain lets TestClosingOneHandleKeepsTheOthersLocks run this binary as
// another process: with DB_TRY_INSERT set to a database's path, it tries
// to insert a row without waiting on locks, prints the error or "ok", and
// exits.
func TestMain(m *testing.M) {
	if path := os.Getenv("DB_TRY_INSERT"); path != "" {
		d, err := Open(context.Background(), path)
		if err == nil {
			_, err = d.Writer().Exec(`PRAGMA busy_timeout = 0`)
		}
		if err == nil {
			_, err = d.Writer().Exec(`INSERT INTO t VALUES ('child')`)
		}
		if err != nil {
			fmt.Println(err)
		} else {
			fmt.Println("ok")
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestClosingOneHandleKeepsTheOthersLocks: two handles of one SQLite file
// in one process, each watching it (Changes); one holds a write
// transaction while the other closes. Another process's write must still
// wait for that transaction (closing a descriptor of the -shm file would
// have released this process's locks on it, and the other process's
// commit would have been lost to the transaction's).
func TestClosingOneHandleKeepsTheOthersLocks(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Writer().Exec(`CREATE TABLE t (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	if a.Changes() == nil || b.Changes() == nil {
		t.Fatal("Changes = nil on SQLite")
	}
	tx, err := b.Writer().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO t VALUES ('parent')`); err != nil {
		t.Fatal(err)
	}
	tryInsert := func() string {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "DB_TRY_INSERT="+path)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("the other process: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	if got := tryInsert(); !strings.Contains(got, "locked") && !strings.Contains(got, "busy") {
		t.Fatalf("before the close, another process's insert beside a write transaction = %q; want it busy", got)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got := tryInsert(); !strings.Contains(got, "locked") && !strings.Contains(got, "busy") {
		t.Errorf("after the other handle closed, another process's insert beside a write transaction = %q; want it busy", got)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}
