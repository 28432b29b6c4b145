package blob_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkRekey10000 measures `simpledrive rekey` over 10,000 encrypted
// blobs on SQLite: one compare-and-swap UPDATE per row.
func BenchmarkRekey10000(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		f := newFixture(b, filepath.Join(b.TempDir(), "meta.db"))
		old := keyring(b, "k1").Current()
		tx, err := f.db.Writer().Begin()
		if err != nil {
			b.Fatal(err)
		}
		for i := range 10000 {
			_, wrapped := old.NewDataKey()
			if _, err := tx.Exec(`INSERT INTO blob_metadata (id, size, sha256, content_type, backend, storage_key, created_at, key_id, wrapped_key)
				VALUES ($1, 1, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'application/octet-stream', 'memory', $2, $3, 'k1', $4)`,
				fmt.Sprintf("blob/%05d", i), fmt.Sprintf("ab/cd/%05d", i), time.Now().UTC(), wrapped); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		svc := withKeys(f, keyring(b, "k2", "k1"))
		b.StartTimer()
		st, err := svc.Rekey(context.Background(), nil)
		if err != nil || st.Rewrapped != 10000 {
			b.Fatalf("Rekey = %+v, %v", st, err)
		}
	}
}
