package sqlmeta

import (
	"sync"

	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/meta"
)

// recordCache keeps records read by [Store.Get] on SQLite, each with the
// [db.Stamp] of the database state it was read in, and answers a Get only
// while the database is still in that state: no transaction of any
// connection or process has committed since, so the row is what a query
// would read now. A record is kept only when the stamps before and after
// its query are equal, so it is the row of that state.
//
// It holds about cacheBytes of records (their strings and a fixed
// allowance each for the rest), and forgets them all when full.
type recordCache struct {
	changes *db.Changes

	mu    sync.RWMutex
	m     map[string]cachedRecord
	bytes int
}

type cachedRecord struct {
	stamp db.Stamp
	r     meta.Record
}

const (
	cacheBytes     = 4 << 20
	cacheEntrySize = 512 // a record's fixed size (248 bytes), and the map's share
)

func newRecordCache(c *db.Changes) *recordCache {
	if c == nil {
		return nil
	}
	return &recordCache{changes: c, m: make(map[string]cachedRecord)}
}

// get returns the record of id if it was read in state now.
func (c *recordCache) get(id string, now db.Stamp) (meta.Record, bool) {
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	return e.r, ok && e.stamp == now
}

// put keeps r, read in state st.
func (c *recordCache) put(st db.Stamp, r meta.Record) {
	n := recordSize(r)
	if n > cacheBytes/16 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[r.ID]; ok {
		c.bytes -= recordSize(old.r)
	}
	if c.bytes+n > cacheBytes {
		c.m = make(map[string]cachedRecord) // clear would keep the table's size
		c.bytes = 0
	}
	c.m[r.ID] = cachedRecord{st, r}
	c.bytes += n
}

// recordSize is what keeping r costs, about.
func recordSize(r meta.Record) int {
	return cacheEntrySize + len(r.ID) + len(r.SHA256) + len(r.ContentType) + len(r.Backend) + len(r.StorageKey) +
		len(r.MD5) + len(r.KeyID) + len(r.WrappedKey) + len(r.S3Headers) + len(r.Data)
}
