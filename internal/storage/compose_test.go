package storage_test

import (
	"context"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
)

// TestComposeRefusals checks what the Bucket refuses before any driver
// work: a destination among the parts and a negative size.
func TestComposeRefusals(t *testing.T) {
	ctx := context.Background()
	b := storage.NewBucket("memory", memory.New())
	if err := b.Put(ctx, "a/p", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Compose(ctx, "a/p", []string{"a/p"}, 1); err == nil {
		t.Error("Compose into one of its parts succeeded")
	}
	if err := b.Compose(ctx, "a/d", []string{"a/p"}, -1); err == nil {
		t.Error("Compose of a negative size succeeded")
	}
	if ok, err := b.Exists(ctx, "a/d"); err != nil || ok {
		t.Errorf("a refused Compose left %q (%v)", "a/d", err)
	}
}
