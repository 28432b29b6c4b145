package local_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/local"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
)

func newStore(t testing.TB, root string) *local.Store {
	t.Helper()
	s, err := local.New(local.Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newBucket returns a Bucket over a Store on root, as the service uses it.
func newBucket(t *testing.T, root string) *storage.Bucket {
	t.Helper()
	return storage.NewBucket("local", newStore(t, root))
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
	s := newBucket(t, root)
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
	s := newBucket(t, root)
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
		if rc, err := s.GetRange(ctx, key, 1, 3); err == nil {
			rc.Close()
			t.Errorf("GetRange(%q) read through a symlink pointing outside the root", key)
		}
		if ok, _ := s.Exists(ctx, key); ok {
			t.Errorf("Exists(%q) followed a symlink pointing outside the root", key)
		}
		s.Delete(ctx, key)
	}
	if got, err := os.ReadFile(secret); err != nil || string(got) != "outside" {
		t.Fatalf("the file outside the root changed: %q, %v", got, err)
	}
	keys, err := s.ListKeys(ctx, "", "", 100)
	if err != nil || len(keys) != 0 {
		t.Errorf("ListKeys = %v, %v; want no keys: symbolic links are never listed", keys, err)
	}
}

// TestHeldDirectoryReplaced removes a directory that Puts have written
// into (and that the Store holds open) from under the Store: the next Put
// creates it again. Replaced by a symbolic link pointing outside the root,
// it is written through by no Put; and a key that is a planted link is
// replaced, never written through.
func TestHeldDirectoryReplaced(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newBucket(t, root)
	ctx := context.Background()
	put := func(key string) error { return s.Put(ctx, key, strings.NewReader("bytes"), 5) }
	if err := put("ab/first"); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, "ab")); err != nil {
		t.Fatal(err)
	}
	if err := put("ab/second"); err != nil {
		t.Fatalf("Put into a removed directory: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(root, "ab", "second")); err != nil || string(got) != "bytes" {
		t.Fatalf("the blob in the re-created directory = %q, %v", got, err)
	}
	// The handle of a removed directory is closed: removals do not pile
	// up open descriptors.
	fds := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	before := fds()
	for i := range 20 {
		if err := os.RemoveAll(filepath.Join(root, "ab")); err != nil {
			t.Fatal(err)
		}
		if err := put("ab/again-" + strconv.Itoa(i)); err != nil {
			t.Fatalf("Put into a removed directory, time %d: %v", i, err)
		}
	}
	if after := fds(); after > before+2 {
		t.Errorf("20 removals of a held directory left %d descriptors open, from %d", after, before)
	}
	// A one-part Compose (a link) into a removed directory creates it
	// again, as a Put does.
	if err := put("tus/part"); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, "ab")); err != nil {
		t.Fatal(err)
	}
	if err := s.Compose(ctx, "ab/composed", []string{"tus/part"}, 5); err != nil {
		t.Fatalf("Compose into a removed directory: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(root, "ab", "composed")); err != nil || string(got) != "bytes" {
		t.Fatalf("the composed blob = %q, %v", got, err)
	}

	if err := os.Symlink(secret, filepath.Join(root, "ab", "link")); err != nil {
		t.Fatal(err)
	}
	if err := put("ab/link"); err != nil {
		t.Fatalf("Put over a planted link: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "ab", "link")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("ab/link after a Put = %v, %v; want the blob's regular file", fi, err)
	}

	if err := os.RemoveAll(filepath.Join(root, "ab")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "ab")); err != nil {
		t.Fatal(err)
	}
	if err := put("ab/third"); err == nil {
		t.Error("Put through a directory replaced by a symlink pointing outside the root succeeded")
	}
	entries, err := os.ReadDir(outside)
	if err != nil || len(entries) != 1 {
		t.Errorf("outside the root: %v, %v; want only the secret", entries, err)
	}
	if got, err := os.ReadFile(secret); err != nil || string(got) != "outside" {
		t.Errorf("the file outside the root changed: %q, %v", got, err)
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

// TestListKeysOrder checks the listing against keys whose bytewise order
// differs from a walk that sorts entries by name: "a-x" and "a.x" sort
// before the keys under the directory "a" ('-' and '.' come before '/').
// It also checks that paging with every possible startAfter, and every
// prefix, agrees with a sort of the keys, that temporary files are listed,
// and that files which are not valid keys are not.
func TestListKeysOrder(t *testing.T) {
	root := t.TempDir()
	b := newBucket(t, root)
	ctx := context.Background()
	want := []string{"a-x", "a.x", "a/b-c", "a/b.c", "a/b/c", "a/b0", "a0", "ab/cd/.tmp-0123", "b_/x"}
	for _, key := range want {
		if err := b.Put(ctx, key, strings.NewReader(key), int64(len(key))); err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
	}
	// Not keys: a name with a space, a FIFO.
	if err := os.WriteFile(filepath.Join(root, "a", "not a key"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "a", "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(want) {
		t.Fatalf("test keys not sorted: %q", want)
	}
	list := func(prefix, after string, limit int) []string {
		t.Helper()
		page, err := b.ListKeys(ctx, prefix, after, limit)
		if err != nil {
			t.Fatalf("ListKeys(%q, %q, %d): %v", prefix, after, limit, err)
		}
		var keys []string
		for _, k := range page {
			keys = append(keys, k.Key)
			if k.Size != int64(len(k.Key)) {
				t.Errorf("ListKeys: %q has size %d, want %d", k.Key, k.Size, len(k.Key))
			}
		}
		return keys
	}
	if got := list("", "", 100); !slices.Equal(got, want) {
		t.Fatalf("ListKeys = %q; want %q", got, want)
	}
	for i := range want {
		// startAfter a key, and a string that is no key.
		for _, after := range []string{want[i], want[i][:len(want[i])-1]} {
			var exp []string
			for _, k := range want {
				if k > after {
					exp = append(exp, k)
				}
			}
			if got := list("", after, 2); !slices.Equal(got, exp[:min(2, len(exp))]) {
				t.Errorf("ListKeys after %q = %q; want %q", after, got, exp[:min(2, len(exp))])
			}
		}
		for n := 0; n <= len(want[i]); n++ {
			prefix := want[i][:n]
			var exp []string
			for _, k := range want {
				if strings.HasPrefix(k, prefix) {
					exp = append(exp, k)
				}
			}
			if got := list(prefix, "", 100); !slices.Equal(got, exp) {
				t.Errorf("ListKeys(%q) = %q; want %q", prefix, got, exp)
			}
		}
	}
}

// TestGetIsFile checks that Get of a file larger than local.SmallFile
// returns the *os.File and GetRange a reader with WriteTo, so that copies
// to a socket can use sendfile.
func TestGetIsFile(t *testing.T) {
	b := newBucket(t, t.TempDir())
	ctx := context.Background()
	if err := b.Put(ctx, "ab/x", strings.NewReader("0123456789"), 10); err != nil {
		t.Fatal(err)
	}
	large := strings.Repeat("x", local.SmallFile+1)
	if err := b.Put(ctx, "ab/large", strings.NewReader(large), int64(len(large))); err != nil {
		t.Fatal(err)
	}
	rc, err := b.Get(ctx, "ab/large")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rc.(*os.File); !ok {
		t.Errorf("Get returned %T, want *os.File", rc)
	}
	rc.Close()
	rc, err = b.GetRange(ctx, "ab/x", 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	wt, ok := rc.(io.WriterTo)
	if !ok {
		t.Fatalf("GetRange returned %T, which has no WriteTo", rc)
	}
	var got strings.Builder
	if _, err := wt.WriteTo(&got); err != nil || got.String() != "3456" {
		t.Errorf("WriteTo = %q, %v; want %q", got.String(), err, "3456")
	}
}

// TestRangeFarPastTheEnd reads from an offset no file system can seek to:
// the range is empty, as for any offset past the end.
func TestRangeFarPastTheEnd(t *testing.T) {
	b := newBucket(t, t.TempDir())
	ctx := context.Background()
	if err := b.Put(ctx, "ab/x", strings.NewReader("0123456789"), 10); err != nil {
		t.Fatal(err)
	}
	rc, err := b.GetRange(ctx, "ab/x", 1<<62, -1)
	if err != nil {
		t.Fatalf("GetRange(1<<62, -1): %v", err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err != nil || len(got) != 0 {
		t.Errorf("GetRange(1<<62, -1) = %q, %v; want no bytes", got, err)
	}
}

// TestPutAfterCloseWritesNothing: a closed Store's held directories are
// closed, and their descriptor numbers go to whatever is opened next; a
// Put then fails, where a stale number would create its file in a
// directory outside the root.
func TestPutAfterCloseWritesNothing(t *testing.T) {
	ctx := context.Background()
	outside := t.TempDir()
	s, err := local.New(local.Config{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "ab/x", strings.NewReader("held"), 4); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The lowest free numbers, those the Store's handles had, go to these.
	for i := range 16 {
		dir := filepath.Join(outside, strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	if err := s.Put(ctx, "ab/y", strings.NewReader("escaped"), 7); err == nil {
		t.Error("Put after Close succeeded")
	}
	filepath.WalkDir(outside, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			t.Errorf("Put after Close wrote %s, outside the root", p)
		}
		return nil
	})
}
