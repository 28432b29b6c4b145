package local

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPutSyncsFileAndDirectory observes every sync of a Put through the
// Store's sync seam: the temporary file is synced before it is renamed to
// its key, the key's directory after the rename, and the parent of every
// directory the Put created before that; all before Put returns. A second
// Put into the same directory syncs only its file and the directory. Each
// Put syncs its directory through a handle of its own: a shared one would
// report a failure to write the directory back to one Put only.
func TestPutSyncsFileAndDirectory(t *testing.T) {
	root := t.TempDir()
	s, err := New(Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var syncs []string
	var key string
	s.sync = func(f *os.File) error {
		// Whether the key is visible yet tells a sync before the rename
		// from one after it.
		state := "before rename"
		if _, err := s.root.Stat(key); err == nil {
			state = "after rename"
		}
		name, err := filepath.Rel(root, f.Name())
		if err != nil {
			t.Errorf("synced %s, outside the root", f.Name())
		}
		name = filepath.ToSlash(name)
		if held, ok := s.dirs.Load(name); ok && held.(*heldDir).f == f {
			t.Errorf("%s synced through the handle every Put shares, not one of its own", name)
		}
		if strings.HasPrefix(path.Base(name), ".tmp-") {
			name = path.Join(path.Dir(name), ".tmp-*")
		}
		syncs = append(syncs, name+" "+state)
		return f.Sync()
	}
	put := func(k string) []string {
		t.Helper()
		key, syncs = k, nil
		if err := s.Put(context.Background(), k, strings.NewReader("bytes"), 5); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
		return syncs
	}

	want := []string{
		"ab before rename", // the parent of the new ab/cd
		". before rename",  // the parent of the new ab
		"ab/cd/.tmp-* before rename",
		"ab/cd after rename",
	}
	if got := put("ab/cd/abcdef-1"); !slices.Equal(got, want) {
		t.Errorf("syncs of a Put into new directories = %q; want %q", got, want)
	}
	want = []string{"ab/cd/.tmp-* before rename", "ab/cd after rename"}
	if got := put("ab/cd/abcdef-2"); !slices.Equal(got, want) {
		t.Errorf("syncs of a Put into a known directory = %q; want %q", got, want)
	}
}
