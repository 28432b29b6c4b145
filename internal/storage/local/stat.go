package local

import (
	"context"
	"fmt"

	"github.com/simpledrive/simpledrive/internal/storage"
)

var _ storage.Stater = (*Store)(nil)

// Stat implements [storage.Stater] with one stat call, where a listing
// would read the directories on the key's path.
func (s *Store) Stat(ctx context.Context, key string) (storage.KeyInfo, error) {
	if err := storage.CheckCall(ctx, key); err != nil {
		return storage.KeyInfo{}, err
	}
	fi, err := s.root.Lstat(key)
	if err != nil {
		return storage.KeyInfo{}, mapError(err)
	}
	if !fi.Mode().IsRegular() {
		return storage.KeyInfo{}, fmt.Errorf("not a regular file: %w", storage.ErrNotFound)
	}
	return storage.KeyInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}
