package app

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/config"
)

// TestStartupRefusesMissingMasterKey: a master key that a stored blob
// references cannot be dropped from the configuration: startup fails,
// naming it; with it back, the blob reads.
func TestStartupRefusesMissingMasterKey(t *testing.T) {
	dir := t.TempDir()
	key := func(id string, b byte) string {
		return id + ":" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(b), 32)))
	}
	load := func(keys string) config.Config {
		cfg, err := config.Load(func(name string) string {
			return map[string]string{"API_TOKEN": "t", "DATABASE_URL": dir + "/meta.db", "LOCAL_STORAGE_PATH": dir + "/blobs", "ENCRYPTION_KEYS": keys}[name]
		})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	core, err := OpenCore(ctx, load(key("old", 'o')), log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.Service.Create(ctx, "a", strings.NewReader("secret"), 6); err != nil {
		t.Fatal(err)
	}
	core.Close()
	for _, keys := range []string{"", key("new", 'n')} {
		if c, err := OpenCore(ctx, load(keys), log); err == nil || !strings.Contains(err.Error(), `["old"]`) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("ENCRYPTION_KEYS=%.4q: %v; want a startup error naming key old", keys, err)
		}
	}
	core, err = OpenCore(ctx, load(key("new", 'n')+","+key("old", 'o')), log)
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	_, rc, err := core.Service.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, err := io.ReadAll(rc); err != nil || string(b) != "secret" {
		t.Fatalf("read %q, %v", b, err)
	}
}
