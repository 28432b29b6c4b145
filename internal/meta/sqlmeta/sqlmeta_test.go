package sqlmeta_test

import (
	"path/filepath"
	"testing"

	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/meta/metatest"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

func TestConformance(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		metatest.Run(t, func(t *testing.T) meta.Store {
			return sqlmeta.New(testenv.OpenDB(t, filepath.Join(t.TempDir(), "meta.db")))
		})
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		metatest.Run(t, func(t *testing.T) meta.Store { return sqlmeta.New(testenv.OpenDB(t, testenv.PostgresURL(t))) })
	})
}
