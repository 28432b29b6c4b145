package sqlmeta

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// TestCacheSeesOtherWriters keeps a record in the cache, then has
// another process, and another handle of this one, replace it under a
// new key or delete it: the next Get reads what they committed, never
// the record kept, and a Get with no commit since answers from the cache.
func TestCacheSeesOtherWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s := New(testenv.OpenDB(t, path))
	if s.cache == nil {
		t.Fatal("no record cache on SQLite")
	}
	other := New(testenv.OpenDB(t, path)) // another handle, its own connections
	ctx := context.Background()
	if ok, err := s.Insert(ctx, rec("x", "key-0")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	cached := func(want string) {
		t.Helper()
		if r, ok := s.GetCached("x"); ok && r.StorageKey != want {
			t.Fatalf("GetCached after a commit = %+v; want key %s or not ok", r, want)
		}
		for range 2 {
			if r, err := s.Get(ctx, "x"); err != nil || r.StorageKey != want {
				t.Fatalf("Get = %+v, %v; want key %s", r, err, want)
			}
		}
		if r, ok := s.GetCached("x"); !ok || r.StorageKey != want {
			t.Fatalf("after two Gets with no commit between, GetCached = %+v, %v; want key %s, ok", r, ok, want)
		}
	}
	cached("key-0")
	for i := 1; i <= 6; i++ {
		key := fmt.Sprint("key-", i)
		if i%2 == 1 {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "SQLMETA_WRITE=replace", "SQLMETA_DB="+path, "SQLMETA_ID=x", "SQLMETA_KEY="+key)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("the other process's replace: %v: %s", err, out)
			}
		} else {
			if _, err := other.Delete(ctx, "x", time.Now()); err != nil {
				t.Fatal(err)
			}
			if ok, err := other.Insert(ctx, rec("x", key)); !ok || err != nil {
				t.Fatal(ok, err)
			}
		}
		cached(key)
	}
	if _, err := other.Delete(ctx, "x", time.Now()); err != nil {
		t.Fatal(err)
	}
	if r, ok := s.GetCached("x"); ok {
		t.Fatalf("GetCached after another handle's delete = %+v, ok", r)
	}
	if r, err := s.Get(ctx, "x"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Get after another handle's delete = %+v, %v; want ErrNotFound", r, err)
	}
}

// TestCacheBounded fills the cache past its budget: it never holds more.
func TestCacheBounded(t *testing.T) {
	c := &recordCache{m: make(map[string]cachedRecord)}
	var st db.Stamp
	big := meta.Record{Data: string(make([]byte, cacheBytes/16-cacheEntrySize-8))}
	for i := range 100 {
		r := big
		r.ID = fmt.Sprintf("id-%05d", i)
		c.put(st, r)
		if c.bytes > cacheBytes {
			t.Fatalf("after %d puts the cache holds %d bytes; want at most %d", i+1, c.bytes, cacheBytes)
		}
	}
	r := big
	r.ID, r.Data = "too big", r.Data+"0123456789"
	c.put(st, r)
	if _, ok := c.get(r.ID, st); ok {
		t.Error("the cache kept a record larger than its limit per record")
	}
}
