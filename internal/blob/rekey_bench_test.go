package blob_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// insertSealed inserts n records of blobs encrypted under master key k1,
// in one transaction (their bytes are not stored: rekey reads none).
func insertSealed(tb testing.TB, f *fixture, n int) {
	tb.Helper()
	old := keyring(tb, "k1").Current()
	tx, err := f.db.Writer().Begin()
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	for i := range n {
		_, wrapped := old.NewDataKey()
		if _, err := tx.Exec(`INSERT INTO blob_metadata (id, size, sha256, content_type, backend, storage_key, created_at, key_id, wrapped_key)
			VALUES ($1, 1, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'application/octet-stream', 'memory', $2, $3, 'k1', $4)`,
			fmt.Sprintf("blob/%05d", i), fmt.Sprintf("ab/cd/%05d", i), time.Now().UTC(), wrapped); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// TestRekeyBatches: rekey commits its rewraps a batch at a time and
// reports progress after each; stopped after the first batch, it has
// committed exactly that batch, and a second run does the rest.
func TestRekeyBatches(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "meta.db"))
	insertSealed(t, f, 600)
	svc := withKeys(f, keyring(t, "k2", "k1"))
	ctx, cancel := context.WithCancel(context.Background())
	var calls []int64
	first, err := svc.Rekey(ctx, func(st blob.RekeyStats) {
		calls = append(calls, st.Rewrapped)
		cancel()
	})
	if !errors.Is(err, context.Canceled) || first.Rewrapped != 256 || len(calls) != 1 || calls[0] != 256 {
		t.Fatalf("the stopped Rekey = %+v, %v, progress %v; want one batch of 256 committed and reported", first, err, calls)
	}
	calls = nil
	second, err := svc.Rekey(context.Background(), func(st blob.RekeyStats) { calls = append(calls, st.Scanned) })
	if err != nil || second.Rewrapped != 344 || second.Current != 256 || len(calls) != 3 {
		t.Fatalf("the second Rekey = %+v, %v, progress %v; want the 344 left rewrapped in 3 batches", second, err, calls)
	}
}

// BenchmarkRekey10000 measures `simpledrive rekey` over 10,000 encrypted
// blobs on SQLite and PostgreSQL.
func BenchmarkRekey10000(b *testing.B) {
	for _, db := range []struct {
		name string
		url  func() string
	}{
		{"sqlite", func() string { return filepath.Join(b.TempDir(), "meta.db") }},
		{"postgres", func() string { return testenv.PostgresURL(b) }},
	} {
		b.Run(db.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				f := newFixture(b, db.url())
				insertSealed(b, f, 10000)
				svc := withKeys(f, keyring(b, "k2", "k1"))
				b.StartTimer()
				st, err := svc.Rekey(context.Background(), nil)
				if err != nil || st.Rewrapped != 10000 {
					b.Fatalf("Rekey = %+v, %v", st, err)
				}
			}
		})
	}
}
