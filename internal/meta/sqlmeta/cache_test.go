package sqlmeta

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// TestCacheRacesOtherProcess reads a record while another process
// replaces it again and again (checkpointing the WAL every third time:
// passive, restarting, truncating), printing each key once committed: a Get
// that starts after a key was printed returns that key or a later one,
// never one the cache kept from before.
func TestCacheRacesOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s := New(testenv.OpenDB(t, path))
	ctx := context.Background()
	if ok, err := s.Insert(ctx, rec("x", "key-0")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	const n = 100
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SQLMETA_WRITE=replaces", "SQLMETA_DB="+path, "SQLMETA_ID=x", fmt.Sprint("SQLMETA_KEY=", n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var committed atomic.Int64
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			i, err := strconv.Atoi(sc.Text())
			if err != nil {
				done <- err
				return
			}
			committed.Store(int64(i))
		}
		done <- cmd.Wait()
	}()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for reads := 0; committed.Load() < n; reads++ {
				before := committed.Load()
				r, err := s.Get(ctx, "x")
				if err != nil {
					t.Errorf("Get = %v", err)
					return
				}
				k, _ := strconv.Atoi(strings.TrimPrefix(r.StorageKey, "key-"))
				if int64(k) < before {
					t.Errorf("Get after key-%d was committed returned %s", before, r.StorageKey)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatalf("the other process: %v", err)
	}
	if r, err := s.Get(ctx, "x"); err != nil || r.StorageKey != fmt.Sprint("key-", n) {
		t.Fatalf("Get at the end = %+v, %v; want key-%d", r, err, n)
	}
}
