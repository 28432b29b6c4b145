package sqlkeys_test

import (
	"path/filepath"
	"testing"

	"github.com/simpledrive/simpledrive/internal/keys"
	"github.com/simpledrive/simpledrive/internal/keys/keystest"
	"github.com/simpledrive/simpledrive/internal/keys/sqlkeys"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

func TestConformance(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		keystest.Run(t, func(t *testing.T) keys.Store {
			return sqlkeys.New(testenv.OpenDB(t, filepath.Join(t.TempDir(), "meta.db")))
		})
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		keystest.Run(t, func(t *testing.T) keys.Store { return sqlkeys.New(testenv.OpenDB(t, testenv.PostgresURL(t))) })
	})
}
