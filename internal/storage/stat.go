package storage

import (
	"context"
	"fmt"
)

// Stater is the optional ability of a [Driver] to describe one key more
// cheaply than a listing can (a local stat call).
type Stater interface {
	// Stat returns the size and modification time of the bytes under key.
	// A missing key gives an error wrapping ErrNotFound.
	Stat(ctx context.Context, key string) (KeyInfo, error)
}

// Sized is the optional ability of a reader that a driver's GetRange
// returns to tell the size of the whole object it reads from (a local
// file's, known from opening it), so that a caller can check that size
// before reading.
type Sized interface {
	Size() int64
}

// Stat returns the size and modification time of the bytes under key, or an
// error wrapping [ErrNotFound]. The driver's [Stater] answers when it has
// one; otherwise one listing request does: the smallest key that starts
// with key is key itself when it exists, so a listing of one key from
// prefix key answers. A driver with neither gives [errors.ErrUnsupported].
func (b *Bucket) Stat(ctx context.Context, key string) (KeyInfo, error) {
	if err := CheckCall(ctx, key); err != nil {
		return KeyInfo{}, b.wrap("stat", key, err)
	}
	if st, ok := b.drv.(Stater); ok {
		ki, err := st.Stat(ctx, key)
		return ki, b.wrap("stat", key, err)
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
