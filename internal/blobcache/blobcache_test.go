package blobcache_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/simpledrive/simpledrive/internal/blobcache"
)

// entryCost is what one entry of a 1-byte key and n-byte value is charged.
func entryCost(n int) int64 { return 1 + int64(n) + blobcache.EntryOverhead }

func TestBoundAndEvictionOrder(t *testing.T) {
	c := blobcache.New(3 * entryCost(100))
	for _, k := range []string{"a", "b", "c"} {
		c.Add(k, make([]byte, 100))
	}
	if c.Len() != 3 || c.Used() != 3*entryCost(100) {
		t.Fatalf("after 3 adds: %d entries, %d bytes", c.Len(), c.Used())
	}
	if _, ok := c.Get("a"); !ok { // a is now the most recently used: b goes first
		t.Fatal("a missing")
	}
	c.Add("d", make([]byte, 100))
	if _, ok := c.Get("b"); ok {
		t.Error("b, the least recently used, was not evicted")
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("%s evicted; want only b evicted", k)
		}
	}
	// One large entry evicts as many as it needs, oldest first.
	c.Add("e", make([]byte, 250))
	if c.Used() > 3*entryCost(100) {
		t.Errorf("used %d > capacity %d", c.Used(), 3*entryCost(100))
	}
	if _, ok := c.Get("d"); !ok {
		t.Error("d, the most recently used before e, was evicted")
	}
	if c.Len() != 2 {
		t.Errorf("%d entries; want d and e", c.Len())
	}
}

func TestReplaceRemoveAndTooLarge(t *testing.T) {
	c := blobcache.New(entryCost(10) * 2)
	c.Add("a", []byte("old"))
	c.Add("a", []byte("new"))
	if v, _ := c.Get("a"); string(v) != "new" || c.Len() != 1 || c.Used() != entryCost(3) {
		t.Fatalf("after replace: %q, %d entries, %d bytes", v, c.Len(), c.Used())
	}
	c.Add("b", make([]byte, 1000)) // larger than the whole cache
	if _, ok := c.Get("b"); ok {
		t.Error("an entry larger than the capacity was added")
	}
	if _, ok := c.Get("a"); !ok {
		t.Error("adding a too large entry evicted a")
	}
	c.Remove("a")
	if _, ok := c.Get("a"); ok || c.Used() != 0 {
		t.Errorf("after remove: found %v, %d bytes", ok, c.Used())
	}
}

func TestOff(t *testing.T) {
	c := blobcache.New(0)
	c.Add("a", []byte("x"))
	if _, ok := c.Get("a"); ok || c.Len() != 0 {
		t.Error("a cache of capacity 0 holds an entry")
	}
}

func TestConcurrent(t *testing.T) {
	c := blobcache.New(10 * entryCost(10))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				k := fmt.Sprint((g + i) % 20)
				if v, ok := c.Get(k); ok && len(v) != 10 {
					t.Errorf("%s: %d bytes", k, len(v))
				}
				c.Add(k, make([]byte, 10))
			}
		}()
	}
	wg.Wait()
	if c.Used() > 10*entryCost(10) {
		t.Errorf("used %d over capacity", c.Used())
	}
}
