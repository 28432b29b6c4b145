package storage

import (
	"context"
	"fmt"
)

// Stat returns the size and modification time of the bytes under key, or an
// error wrapping [ErrNotFound]. It costs one listing request: the smallest
// key that starts with key is key itself when it exists, so a listing of
// one key from prefix key answers. A driver without [Lister] gives
// [errors.ErrUnsupported].
func (b *Bucket) Stat(ctx context.Context, key string) (KeyInfo, error) {
	if err := b.check(ctx, key); err != nil {
		return KeyInfo{}, b.wrap("stat", key, err)
	}
	keys, err := b.ListKeys(ctx, key, "", 1)
	if err != nil {
		return KeyInfo{}, err
	}
	if len(keys) == 0 || keys[0].Key != key {
		return KeyInfo{}, b.wrap("stat", key, fmt.Errorf("%w", ErrNotFound))
	}
	return keys[0], nil
}
