package local

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// openStore returns a Store on root, closed when the test ends.
func openStore(t *testing.T, root string) *Store {
	t.Helper()
	s, err := New(Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPutSyncsFileAndDirectory observes every sync of a Put through the
// Store's sync seam: the temporary file is synced before it is renamed to
// its key, the key's directory after the rename, and the parent of every
// directory the Put created before that; all before Put returns. A second
// Put into the same directory syncs only its file and the directory. Each
// directory sync goes through a handle of its own, not the Store's: that
// one would report a failure to write the directory back to one Put only.
func TestPutSyncsFileAndDirectory(t *testing.T) {
	root := t.TempDir()
	s := openStore(t, root)
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

// TestPutsShareDirectorySync holds the directory sync of one Put, makes
// more Puts into the directory meanwhile, and checks that they share one
// sync, run after their entries were made, and that none of them returns
// before it has: a Put must not answer before the sync that covers its
// entry. A failed shared sync fails every Put it covers and removes their
// entries.
func TestPutsShareDirectorySync(t *testing.T) {
	root := t.TempDir()
	s := openStore(t, root)
	ctx := context.Background()
	if err := s.Put(ctx, "ab/first", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		synced   = map[string]bool{} // the entries a finished directory sync covered
		dirSyncs int
		gate     chan struct{} // directory syncs wait for it to close
		failing  error         // what directory syncs return
	)
	started := make(chan struct{}, 32)
	linked := make(chan string, 32)
	s.linked = func(name string) { linked <- name }
	s.sync = func(f *os.File) error {
		if fi, err := f.Stat(); err != nil || !fi.IsDir() {
			return f.Sync()
		}
		entries, err := os.ReadDir(filepath.Join(root, "ab")) // made before the sync
		if err != nil {
			return err
		}
		mu.Lock()
		g := gate
		mu.Unlock()
		started <- struct{}{}
		<-g
		err = f.Sync()
		mu.Lock()
		defer mu.Unlock()
		dirSyncs++
		if err == nil && failing == nil {
			for _, e := range entries {
				synced[e.Name()] = true
			}
		}
		return cmp.Or(failing, err)
	}
	type result struct {
		name    string
		err     error
		covered bool
	}
	results := make(chan result, 32)
	put := func(name string) {
		err := s.Put(ctx, "ab/"+name, strings.NewReader("bytes"), 5)
		mu.Lock()
		covered := synced[name]
		mu.Unlock()
		results <- result{name, err, covered}
	}
	// round holds the sync of a first Put's entry, makes n more Puts into
	// the directory while it is held, then lets the syncs run, and
	// returns the results of all n+1.
	round := func(prefix string, n int) []result {
		t.Helper()
		mu.Lock()
		gate = make(chan struct{})
		g := gate
		mu.Unlock()
		go put(prefix + "-held")
		<-started
		if got := <-linked; got != prefix+"-held" {
			t.Fatalf("linked %q first, want %q", got, prefix+"-held")
		}
		for i := range n {
			go put(prefix + "-" + strconv.Itoa(i))
		}
		for range n {
			<-linked
		}
		select {
		case r := <-results:
			t.Fatalf("Put of %s returned before the directory sync covering its entry: %v", r.name, r.err)
		default:
		}
		close(g)
		var all []result
		for range n + 1 {
			all = append(all, <-results)
		}
		return all
	}

	for _, r := range round("a", 8) {
		if r.err != nil {
			t.Errorf("Put of %s: %v", r.name, r.err)
		} else if !r.covered {
			t.Errorf("Put of %s returned before a directory sync covering its entry", r.name)
		}
	}
	if dirSyncs != 2 {
		t.Errorf("%d directory syncs for the held Put and the 8 made meanwhile; want 2 (the 8 share one)", dirSyncs)
	}

	injected := errors.New("injected write-back failure")
	mu.Lock()
	failing = injected
	mu.Unlock()
	for _, r := range round("b", 4) {
		if !errors.Is(r.err, injected) {
			t.Errorf("Put of %s after its directory sync failed: %v; want the sync's error", r.name, r.err)
		}
		if _, err := os.Lstat(filepath.Join(root, "ab", r.name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the entry of the failed Put of %s: %v; want it removed", r.name, err)
		}
	}
	if dirSyncs != 4 {
		t.Errorf("%d directory syncs after the second round; want 4", dirSyncs)
	}
}
