package sqlstore

// SetChunkSize sets the size of Get's queries, so that tests can read small
// blobs in many chunks.
func (s *Store) SetChunkSize(n int64) { s.chunk = n }
