package sqlstore

// SetChunkSize sets the size of Get's queries, so that tests can read small
// blobs in many chunks.
func (s *Store) SetChunkSize(n int64) { s.chunk = n }

// SetFetchHook makes every chunk query of s call hook with its offset and
// length first.
func (s *Store) SetFetchHook(hook func(off, n int64)) { s.fetchHook = hook }
