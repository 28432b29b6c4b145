package app_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/meta"
)

// TestInlineWiring: INLINE_MAX_BYTES reaches the server's service (a small
// create is kept in its row, a larger one on the backend) and the
// migration (with it lowered to 0, migrate --to the same backend moves the
// small blob out of its row).
func TestInlineWiring(t *testing.T) {
	ctx := context.Background()
	c := testConfig(t, map[string]string{"INLINE_MAX_BYTES": "16"})
	core, err := app.OpenCore(ctx, c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	backendOf := func(id string) string {
		t.Helper()
		r, err := core.Meta.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r.Backend
	}
	for id, size := range map[string]int{"small": 16, "large": 17} {
		if _, err := core.Service.Create(ctx, id, bytes.NewReader(make([]byte, size)), int64(size)); err != nil {
			t.Fatal(err)
		}
	}
	if backendOf("small") != meta.InlineBackend || backendOf("large") != "local" {
		t.Fatalf("small on %q, large on %q; want inline and local", backendOf("small"), backendOf("large"))
	}
	c.InlineMaxBytes = 0
	m, closeAll, err := app.NewMigration(ctx, c, c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	if st, err := m.Run(ctx); err != nil || st.Moved != 1 || st.Already != 1 {
		t.Fatalf("migrate --to local without inlining = %+v, %v; want the small blob moved", st, err)
	}
	if backendOf("small") != "local" {
		t.Fatalf("small on %q after the migration; want local", backendOf("small"))
	}
}
