package sqlkeys_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/keys"
	"github.com/simpledrive/simpledrive/internal/keys/keystest"
	"github.com/simpledrive/simpledrive/internal/keys/sqlkeys"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

func open(t *testing.T, url string) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestConformance(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		keystest.Run(t, func(t *testing.T) keys.Store {
			return sqlkeys.New(open(t, filepath.Join(t.TempDir(), "meta.db")))
		})
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		keystest.Run(t, func(t *testing.T) keys.Store { return sqlkeys.New(open(t, testenv.PostgresURL(t))) })
	})
}
