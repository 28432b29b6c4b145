package sqlmeta_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/meta/metatest"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
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
		metatest.Run(t, func(t *testing.T) meta.Store {
			return sqlmeta.New(open(t, filepath.Join(t.TempDir(), "meta.db")))
		})
	})
	t.Run("UploadsSQLite", func(t *testing.T) {
		metatest.RunUploads(t, func(t *testing.T) meta.Store {
			return sqlmeta.New(open(t, filepath.Join(t.TempDir(), "meta.db")))
		})
	})
	t.Run("UploadsPostgreSQL", func(t *testing.T) {
		metatest.RunUploads(t, func(t *testing.T) meta.Store { return sqlmeta.New(open(t, testenv.PostgresURL(t))) })
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		metatest.Run(t, func(t *testing.T) meta.Store { return sqlmeta.New(open(t, testenv.PostgresURL(t))) })
	})
}
