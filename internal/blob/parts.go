package blob

import (
	"context"
	"fmt"
	"io"

	"github.com/simpledrive/simpledrive/internal/crypt"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// Part is one stored part of an [Assembly]: its key in the backend, its
// plaintext size, and, when [Service.SealPart] encrypted it, the master
// key's id and the wrapped data key.
type Part struct {
	Key        string
	Size       int64
	KeyID      string
	WrappedKey string
}

// SealedPart is what [Service.SealPart] returns: the bytes to store for a
// part and the key to record with it (empty ids: stored in clear).
type SealedPart struct {
	// Body yields the bytes to store; Size is their number (-1: unknown).
	Body io.Reader
	Size int64
	// KeyID and WrappedKey are recorded with the part.
	KeyID, WrappedKey string
}

// SealPart returns what to store for a part of an upload whose plaintext
// is body, of size bytes (-1: unknown): body itself when encryption is off
// ([Options.Keys] nil), else its encryption under a fresh data key wrapped
// under the current master key, as a blob's bytes are, so that no part
// lies in clear on the backend before assembly.
func (s *Service) SealPart(body io.Reader, size int64) SealedPart {
	r, n, sl := s.seal(body, size)
	return SealedPart{Body: r, Size: n, KeyID: sl.keyID, WrappedKey: sl.wrapped}
}

// OpenPart returns a reader of the plaintext of part p, decrypting it when
// it was sealed ([Service.SealPart]), one segment in memory at a time; a
// part altered on the backend fails authentication with [ErrCorrupt], a
// part under a master key not configured with [ErrKeyMissing].
func (s *Service) OpenPart(ctx context.Context, p Part) (io.ReadCloser, error) {
	rec := partRecord(p)
	var dk *crypt.DataKey
	if p.KeyID != "" {
		var err error
		if dk, err = s.dataKey(rec); err != nil {
			return nil, err
		}
	}
	rc, err := s.backend.Get(ctx, p.Key)
	if err != nil {
		return nil, fmt.Errorf("blob: opening part %q: %w", p.Key, Classify(err))
	}
	if dk == nil {
		return rc, nil
	}
	return &opened{Reader: dk.DecryptReader(rc, p.Size), rc: rc, rec: rec, log: s.log}, nil
}

// sealedParts reports whether any of parts is encrypted.
func sealedParts(parts []Part) bool {
	for _, p := range parts {
		if p.KeyID != "" {
			return true
		}
	}
	return false
}

// partKeys returns the backend keys of parts.
func partKeys(parts []Part) []string {
	keys := make([]string, len(parts))
	for i, p := range parts {
		keys[i] = p.Key
	}
	return keys
}

// openParts returns a reader of the plaintext of parts, in order, one
// part open at a time; the caller closes it.
func (s *Service) openParts(ctx context.Context, parts []Part) io.ReadCloser {
	return storage.Chain(len(parts), func(i int) (io.ReadCloser, error) { return s.OpenPart(ctx, parts[i]) })
}
