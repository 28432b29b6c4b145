package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/local"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
)

func TestStat(t *testing.T) {
	ctx := context.Background()
	b := storage.NewBucket("memory", memory.New())
	for _, k := range []string{"ab/cd/k-1", "ab/cd/k-10", "ab/cd/k-2x"} {
		if err := b.Put(ctx, k, strings.NewReader(k), int64(len(k))); err != nil {
			t.Fatal(err)
		}
	}
	ki, err := b.Stat(ctx, "ab/cd/k-1")
	if err != nil || ki.Key != "ab/cd/k-1" || ki.Size != 9 || ki.ModTime.IsZero() {
		t.Fatalf("Stat = %+v, %v; want the key with its size", ki, err)
	}
	// A missing key whose longer neighbours exist is still missing.
	for _, k := range []string{"ab/cd/k-2", "ab/cd/k-3", "ab/cd/k"} {
		if _, err := b.Stat(ctx, k); !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), k) {
			t.Errorf("Stat(%q) = %v; want ErrNotFound naming the key", k, err)
		}
	}
	if _, err := b.Stat(ctx, "../x"); !errors.Is(err, storage.ErrInvalidKey) {
		t.Errorf("Stat of a bad key = %v; want ErrInvalidKey", err)
	}
}

// TestStatLocal: the local driver's own Stat agrees with the listing's
// answer, and a directory is no key.
func TestStatLocal(t *testing.T) {
	ctx := context.Background()
	st, err := local.New(local.Config{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := storage.NewBucket("local", st)
	if err := b.Put(ctx, "ab/cd/k-1", strings.NewReader("12345"), 5); err != nil {
		t.Fatal(err)
	}
	ki, err := b.Stat(ctx, "ab/cd/k-1")
	listed, _ := b.ListKeys(ctx, "ab/cd/k-1", "", 1)
	if err != nil || len(listed) != 1 || ki != listed[0] {
		t.Fatalf("Stat = %+v, %v; the listing says %+v", ki, err, listed)
	}
	for _, k := range []string{"ab/cd", "ab/cd/k-2", "zz/k"} {
		if _, err := b.Stat(ctx, k); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat(%q) = %v; want ErrNotFound", k, err)
		}
	}
}
