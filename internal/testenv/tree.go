package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// WriteTree writes files (slash-separated relative path -> contents) below
// dir, creating the folders they need.
func WriteTree(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for rel, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ReadTree returns every regular file below dir by its slash-separated
// relative path.
func ReadTree(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// SameTree fails t unless got holds exactly want's files, byte for byte;
// what names the comparison in the failures.
func SameTree(t testing.TB, what string, got, want map[string][]byte) {
	t.Helper()
	for rel, data := range want {
		if g, ok := got[rel]; !ok || string(g) != string(data) {
			t.Errorf("%s: %s is %d bytes (present %v); want %d", what, rel, len(g), ok, len(data))
		}
	}
	for rel := range got {
		if _, ok := want[rel]; !ok {
			t.Errorf("%s: %s should not be there", what, rel)
		}
	}
}
