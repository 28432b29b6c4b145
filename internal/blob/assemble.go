package blob

import (
	"context"
	"errors"
	"fmt"
)

// Assembly is a blob whose bytes are already stored in the service's
// backend, in parts: a finished resumable upload or S3 multipart upload.
type Assembly struct {
	// ID is the client's id.
	ID string
	// ContentType is the media type; empty means [DefaultContentType].
	ContentType string
	// Parts are the parts in the backend, in order.
	Parts []Part
	// Digest is the digest of the parts' bytes, computed as they were
	// written; its size is the blob's.
	Digest *Digest
	// MD5, when set, is recorded as the blob's S3 ETag ([Blob.MD5]).
	MD5 string
	// Replace lets the assembly replace the blob of ID, as S3's overwrite
	// does: atomically, by compare-and-swap ([Service.Replace]).
	Replace bool
}

// Assemble stores a by the write protocol without reading its bytes: the
// backend composes the parts under a fresh key ([storage.Bucket.Compose]:
// a link or copy inside the medium where it can, else a stream), and the
// metadata row records a.Digest, whose SHA-256 and CRC-32C are therefore
// those of the bytes as they arrived, exactly as [Service.Store] records
// them. A blob that fits in its record ([Options.InlineMax]) is read from
// its parts into it instead; with encryption on ([Options.Keys]) a larger
// one is streamed from its parts through encryption into a Put, since
// segments cannot be composed across the parts; encrypted parts
// ([Service.SealPart]) are decrypted as they are read, holding one segment
// of each in memory at a time. The parts are left as
// they are; the caller deletes them. It returns [ErrExists] when the id
// is taken, unless a.Replace is set, even when another process takes it
// meanwhile; a replacement whose blob another process changed meanwhile
// returns [ErrPreconditionFailed].
func (s *Service) Assemble(ctx context.Context, a Assembly) (Blob, error) {
	old, err := s.lookup(ctx, a.ID)
	exists := err == nil || errors.Is(err, ErrDataMissing) // missing bytes may be replaced
	switch {
	case err != nil && !exists && !errors.Is(err, ErrNotFound):
		return Blob{}, err
	case exists && !a.Replace:
		return Blob{}, fmt.Errorf("%w: %q", ErrExists, a.ID)
	}
	key := newKey(a.ID, s.keys)
	rec := s.record(a.ID, a.ContentType, key, a.Digest)
	rec.MD5 = a.MD5
	data, release, err := s.readParts(ctx, a)
	if err != nil {
		return Blob{}, err
	}
	defer release()
	switch {
	case data != nil:
		rec = s.inline(rec, data)
	case s.opts.Keys != nil || sealedParts(a.Parts):
		// Encrypted segments cannot span the parts' boundaries as they
		// were written: the parts are streamed, decrypted one after the
		// other, through encryption instead.
		parts := s.openParts(ctx, a.Parts)
		defer parts.Close()
		body, size, sealing := s.seal(parts, a.Digest.Size())
		if err := s.backend.Put(ctx, key, body, size); err != nil {
			return Blob{}, fmt.Errorf("blob: streaming the parts: %w", Classify(err))
		}
		rec.KeyID, rec.WrappedKey = sealing.keyID, sealing.wrapped
	default:
		if err := s.backend.Compose(ctx, key, partKeys(a.Parts), a.Digest.Size()); err != nil {
			return Blob{}, fmt.Errorf("blob: composing the parts: %w", Classify(err))
		}
	}
	if exists {
		return s.swap(ctx, old, rec)
	}
	return s.insert(ctx, rec)
}
