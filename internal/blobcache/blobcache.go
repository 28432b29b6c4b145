// Package blobcache is a small in-memory cache of blob bytes by key,
// bounded by the bytes it holds and evicting the least recently used
// entry first.
//
// It knows nothing of blobs: the caller (package blob) decides what goes
// in, under which key, and checks what comes out. Package blob keys it by
// backend and storage key, which name bytes that never change (every
// upload gets a fresh storage key), and consults it only after reading the
// blob's metadata row, so it never answers for a blob whose row is gone
// or names other bytes.
package blobcache

import (
	"container/list"
	"sync"
)

// EntryOverhead is what each entry is charged beyond its key and value:
// an estimate of its list element, map slot and headers.
const EntryOverhead = 128

// Cache holds byte slices by key, at most its capacity in total, where an
// entry counts len(key)+len(value)+[EntryOverhead]. Its methods are safe
// for concurrent use (one mutex); the nil *Cache holds nothing.
type Cache struct {
	mu    sync.Mutex
	cap   int64
	used  int64
	lru   *list.List // front: most recently used; of *entry
	byKey map[string]*list.Element
}

type entry struct {
	key string
	val []byte
}

// New returns a cache of at most capacity bytes, or nil (which holds
// nothing) when capacity is not positive.
func New(capacity int64) *Cache {
	if capacity <= 0 {
		return nil
	}
	return &Cache{cap: capacity, lru: list.New(), byKey: make(map[string]*list.Element)}
}

func cost(key string, val []byte) int64 {
	return int64(len(key)) + int64(len(val)) + EntryOverhead
}

// Get returns the bytes under key and marks them most recently used. The
// slice is shared with the cache and every other Get: the caller must not
// modify it.
func (c *Cache) Get(key string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*entry).val, true
}

// Add puts val under key, replacing what was there, as the most recently
// used entry, and evicts the least recently used entries until the cache
// fits its capacity again. It takes val over, without copying it: the
// caller must not modify it afterwards. An entry larger than the whole
// capacity is not added.
func (c *Cache) Add(key string, val []byte) {
	if c == nil {
		return
	}
	n := cost(key, val)
	if n > c.cap {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.remove(e)
	}
	c.byKey[key] = c.lru.PushFront(&entry{key: key, val: val})
	c.used += n
	for c.used > c.cap {
		c.remove(c.lru.Back())
	}
}

// Remove drops the entry under key, if any.
func (c *Cache) Remove(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.remove(e)
	}
}

func (c *Cache) remove(e *list.Element) {
	en := c.lru.Remove(e).(*entry)
	delete(c.byKey, en.key)
	c.used -= cost(en.key, en.val)
}

// Used returns the bytes the entries are charged, at most the capacity.
func (c *Cache) Used() int64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// Len returns the number of entries.
func (c *Cache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
