package blob

// CacheLen returns the number of entries in the read cache of s.
func CacheLen(s *Service) int { return s.cache.Len() }

// CachedBytes returns the bytes the read cache of s holds for key (a
// backend and storage key, see cacheKey): the cache's own slice, which a
// test may corrupt.
func CachedBytes(s *Service, backend, storageKey string) ([]byte, bool) {
	return s.cache.Get(backend + "\x00" + storageKey)
}
