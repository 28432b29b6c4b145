package blob

import (
	"context"
	"fmt"
)

// Assembly is a blob whose bytes are already stored in the service's
// backend, in parts: a finished resumable upload.
type Assembly struct {
	// ID is the client's id.
	ID string
	// ContentType is the media type; empty means [DefaultContentType].
	ContentType string
	// Parts are the keys of the parts in the backend, in order.
	Parts []string
	// Digest is the digest of the parts' bytes, computed as they were
	// written; its size is the blob's.
	Digest *Digest
}

// Assemble stores a by the write protocol without reading its bytes: the
// backend composes the parts under a fresh key ([storage.Bucket.Compose]:
// a link or copy inside the medium where it can, else a stream), and the
// metadata row records a.Digest, whose SHA-256 and CRC-32C are therefore
// those of the bytes as they arrived, exactly as [Service.Store] records
// them. The parts are left as they are; the caller deletes them. It
// returns [ErrExists] when the id is taken, even when another process
// takes it meanwhile.
func (s *Service) Assemble(ctx context.Context, a Assembly) (Blob, error) {
	if ok, err := s.Exists(ctx, a.ID); err != nil {
		return Blob{}, err
	} else if ok {
		return Blob{}, fmt.Errorf("%w: %q", ErrExists, a.ID)
	}
	key := newKey(a.ID)
	if err := s.backend.Compose(ctx, key, a.Parts, a.Digest.Size()); err != nil {
		return Blob{}, fmt.Errorf("blob: composing the parts: %w", Classify(err))
	}
	return s.insert(ctx, s.record(a.ID, a.ContentType, key, a.Digest))
}
