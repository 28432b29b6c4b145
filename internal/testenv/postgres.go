package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/simpledrive/simpledrive/internal/db"
)

// PostgresURL returns a URL of the PostgreSQL database in TEST_DATABASE_URL
// whose search_path is a fresh schema, so tests in parallel packages never
// see each other's tables. The schema is dropped by t.Cleanup.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := Lookup(t, "TEST_DATABASE_URL")[0]
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	schema := fmt.Sprintf("test_%x", randomBytes(t, 6))
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating schema on TEST_DATABASE_URL: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// OpenDB opens and migrates the metadata database at url (a SQLite path or
// a PostgreSQL URL, such as [PostgresURL] returns), closed by tb.Cleanup.
func OpenDB(tb testing.TB, url string) *db.DB {
	tb.Helper()
	d, err := db.Open(context.Background(), url)
	if err != nil {
		tb.Fatalf("db.Open: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}
