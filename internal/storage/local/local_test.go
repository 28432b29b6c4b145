package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/local"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
)

func newStore(t *testing.T, root string) *local.Store {
	t.Helper()
	s, err := local.New(local.Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		return newStore(t, filepath.Join(t.TempDir(), "blobs"))
	})
}

func TestCreatesMissingRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b", "c")
	newStore(t, root)
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		t.Fatalf("root not created: %v", err)
	}
}

func TestShardedLayoutAndNoTempLeftovers(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	ctx := context.Background()
	if err := s.Put(ctx, "ab/cd/abcdef-1", strings.NewReader("hello"), 5); err != nil {
		t.Fatal(err)
	}
	// A failed Put must not leave its temporary file behind.
	if err := s.Put(ctx, "ab/cd/abcdef-2", strings.NewReader("hel"), 5); err == nil {
		t.Fatal("short Put succeeded")
	}
	got, err := os.ReadFile(filepath.Join(root, "ab", "cd", "abcdef-1"))
	if err != nil || string(got) != "hello" {
		t.Fatalf("file = %q, %v", got, err)
	}
	entries, err := os.ReadDir(filepath.Join(root, "ab", "cd"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the finished blob: %v", len(entries), entries)
	}
}

// TestPlantedSymlinkCannotEscape plants symbolic links inside the root that
// point outside it, and checks that no operation reads or writes through them.
func TestPlantedSymlinkCannotEscape(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "ab")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, root)
	ctx := context.Background()

	if err := s.Put(ctx, "ab/written", strings.NewReader("x"), 1); err == nil {
		t.Error("Put through a directory symlink pointing outside the root succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "written")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file appeared outside the root: %v", err)
	}
	for _, key := range []string{"ab/secret", "link"} {
		if rc, err := s.Get(ctx, key); err == nil {
			rc.Close()
			t.Errorf("Get(%q) read through a symlink pointing outside the root", key)
		}
		if ok, _ := s.Exists(ctx, key); ok {
			t.Errorf("Exists(%q) followed a symlink pointing outside the root", key)
		}
		s.Delete(ctx, key)
	}
	if got, err := os.ReadFile(secret); err != nil || string(got) != "outside" {
		t.Fatalf("the file outside the root changed: %q, %v", got, err)
	}
}

func TestRootThatIsAFileFailsAtStartup(t *testing.T) {
	root := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(root, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := local.New(local.Config{Root: root})
	if err == nil || !strings.Contains(err.Error(), "LOCAL_STORAGE_PATH") {
		t.Fatalf("New with a regular file as root = %v; want an error naming LOCAL_STORAGE_PATH", err)
	}
}
