package storage_test

import (
	"context"
	"errors"
	"io"
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

// TestConcat reads parts in order, one open at a time, and fails with
// ErrSizeMismatch when they hold more or fewer bytes than announced, or
// names the part it cannot open.
func TestConcat(t *testing.T) {
	ctx := context.Background()
	d := memory.New()
	for key, data := range map[string]string{"a/1": "abc", "a/2": "", "a/3": "de"} {
		if err := d.Put(ctx, key, strings.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	parts := []string{"a/1", "a/2", "a/3"}
	for _, tc := range []struct {
		size int64
		want string // the bytes read, or the error's text
	}{
		{5, "abcde"},
		{-1, "abcde"},
		{4, "more than 4 bytes"},
		{6, "hold 5 bytes, want 6"},
	} {
		r := storage.Concat(ctx, d, parts, tc.size)
		got, err := io.ReadAll(r)
		r.Close()
		switch {
		case err != nil && (!errors.Is(err, storage.ErrSizeMismatch) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Concat with size %d: %v; want %q", tc.size, err, tc.want)
		case err == nil && string(got) != tc.want:
			t.Errorf("Concat with size %d read %q; want %q", tc.size, got, tc.want)
		}
	}
	_, err := io.ReadAll(storage.Concat(ctx, d, []string{"a/1", "a/missing"}, -1))
	if !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), `part "a/missing"`) {
		t.Errorf("Concat of a missing part: %v; want not found, naming the part", err)
	}
}
