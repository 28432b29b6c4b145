package sqlstore

// SetChunkSize sets the size of the chunks Put writes (at most ChunkSize),
// so that tests store blobs of test size in many chunks. Reads follow the
// chunk size recorded with each blob.
func (s *Store) SetChunkSize(n int) {
	if n <= 0 || n > ChunkSize {
		panic("sqlstore: chunk size out of range")
	}
	s.chunk = n
}

// SetFetchHook makes every chunk query of s call hook with its offset and
// length first.
func (s *Store) SetFetchHook(hook func(off, n int64)) { s.fetchHook = hook }
