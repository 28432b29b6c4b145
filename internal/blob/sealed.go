package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/simpledrive/simpledrive/internal/crypt"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// sealed is how a blob's bytes are stored: in clear, or encrypted under a
// data key (package crypt) whose wrapped form goes in its record.
type sealed struct {
	keyID, wrapped string
}

// seal returns what Put stores for body, a content of size bytes (-1:
// unknown): body itself and size when encryption is off, else its
// encryption under a fresh data key, the stored size, and the key to
// record.
func (s *Service) seal(body io.Reader, size int64) (io.Reader, int64, sealed) {
	if s.opts.Keys == nil {
		return body, size, sealed{}
	}
	mk := s.opts.Keys.Current()
	dk, wrapped := mk.NewDataKey()
	if size >= 0 {
		size = crypt.CiphertextSize(size)
	}
	return dk.EncryptReader(body), size, sealed{keyID: mk.ID(), wrapped: string(wrapped)}
}

// storedSize is the number of bytes stored for rec.
func storedSize(rec meta.Record) int64 {
	if rec.KeyID == "" {
		return rec.Size
	}
	return crypt.CiphertextSize(rec.Size)
}

// dataKey unwraps the data key of rec, which is encrypted, logging a
// wrapped key that does not open as the integrity fault it is.
func (s *Service) dataKey(rec meta.Record) (*crypt.DataKey, error) {
	dk, err := unwrap(s.opts.Keys, rec)
	if errors.Is(err, ErrCorrupt) {
		s.log.LogAttrs(context.Background(), slog.LevelError, "integrity fault: a data key does not open",
			slog.String("storage_key", rec.StorageKey), slog.String("key_id", rec.KeyID))
	}
	return dk, err
}

// unwrap returns the data key of rec, which is encrypted, from its master
// key in keys (nil: none configured): an error wrapping [ErrKeyMissing]
// when keys lack it, or [ErrCorrupt] when the wrapped key does not open.
func unwrap(keys crypt.KeyProvider, rec meta.Record) (*crypt.DataKey, error) {
	if keys == nil {
		return nil, fmt.Errorf("%w: blob %q is encrypted under master key %q and no ENCRYPTION_KEYS are set", ErrKeyMissing, rec.ID, rec.KeyID)
	}
	mk, err := keys.Key(rec.KeyID)
	if err != nil {
		return nil, fmt.Errorf("%w: blob %q: %w", ErrKeyMissing, rec.ID, err)
	}
	dk, err := mk.Unwrap([]byte(rec.WrappedKey))
	if err != nil {
		return nil, fmt.Errorf("%w: blob %q: %w", ErrCorrupt, rec.ID, err)
	}
	return dk, nil
}

// openSealed opens bytes [offset, offset+length) of the encrypted blob
// rec, fetching only the segments that hold them (all of them when whole).
// The reader releases no byte of a segment before it authenticated.
func (s *Service) openSealed(ctx context.Context, rec meta.Record, offset, length int64, whole bool) (io.ReadCloser, error) {
	dk, err := s.dataKey(rec)
	if err != nil {
		return nil, err
	}
	inline := rec.Backend == meta.InlineBackend
	if whole {
		rc := inlineReader(rec)
		if !inline {
			if rc, err = s.bucket(rec).Get(ctx, rec.StorageKey); err != nil {
				return nil, s.readError(ctx, rec, err)
			}
		}
		return &sealedWhole{&opened{Reader: dk.DecryptReader(rc, rec.Size), rc: rc, rec: rec, log: s.log}, s.mem}, nil
	}
	rg := crypt.SegmentRange(offset, length, rec.Size)
	if rg.CipherLength == 0 {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	rc := inlineRange(rec, rg.CipherOffset, rg.CipherLength)
	if !inline {
		if rc, err = s.bucket(rec).GetRange(ctx, rec.StorageKey, rg.CipherOffset, rg.CipherLength); err != nil {
			return nil, s.readError(ctx, rec, err)
		}
	}
	return &opened{Reader: dk.DecryptRange(rc, rg), rc: rc, rec: rec, log: s.log}, nil
}

// inline makes rec the record of a blob whose bytes, data, it holds
// ([meta.InlineBackend]), under a fresh key of [newInlineKey]'s: encrypted
// under a fresh data key when encryption is on, as on a backend.
func (s *Service) inline(rec meta.Record, data []byte) meta.Record {
	rec.StorageKey = newInlineKey()
	if s.opts.Keys == nil {
		return inlined(rec, data)
	}
	body, _, sealing := s.seal(bytes.NewReader(data), int64(len(data)))
	sealedData, _ := io.ReadAll(body) // reads memory: cannot fail
	rec = inlined(rec, sealedData)
	rec.KeyID, rec.WrappedKey = sealing.keyID, sealing.wrapped
	return rec
}

// opened is a decrypting reader of stored bytes; bytes that fail
// authentication are an integrity fault, logged and reported as
// [ErrCorrupt].
type opened struct {
	io.Reader
	rc     io.Closer
	rec    meta.Record
	log    *slog.Logger
	logged bool
}

func (o *opened) Read(p []byte) (int, error) { return o.fault(o.Reader.Read(p)) }

// readSegments is Read through [crypt.ReadSegments].
func (o *opened) readSegments(p []byte) (int, error) {
	return o.fault(crypt.ReadSegments(o.Reader, p))
}

// fault passes a Read's result through, logging and reporting a failed
// authentication as [ErrCorrupt].
func (o *opened) fault(n int, err error) (int, error) {
	if errors.Is(err, crypt.ErrAuthentication) {
		if !o.logged {
			o.logged = true
			o.log.LogAttrs(context.Background(), slog.LevelError, "integrity fault: stored bytes fail authentication",
				slog.String("storage_key", o.rec.StorageKey), slog.String("detail", err.Error()))
		}
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return n, err
}

func (o *opened) Close() error { return o.rc.Close() }

// sealedWhole is the opened reader of a whole encrypted blob, which also
// writes itself out a block at a time, as [fileVerifier] does: the
// stored bytes of all the segments that hold a block's content are read
// into the block itself (one read of a local file), where they are opened
// in place ([crypt.ReadSegments]) and their plaintext written from at
// once. A block is a MiB of
// content (16 segments and their tags) when the memory budget has room for
// it and fewer than 16 whole reads hold one, else 256 KiB (4 segments);
// see [copyBlock].
type sealedWhole struct {
	*opened
	mem storage.Memory // nil: the large block is not reserved
}

// WriteTo writes the rest of the blob to w, authenticated as Read
// authenticates it: no byte of a segment is written before it
// authenticated, nor of the final one before the stored bytes ended after
// it. A failure within the first block writes nothing, so a blob that
// fits in it never reaches w unless it is intact; after that, the
// segments before the failing one are written, then the failure returned.
func (o *sealedWhole) WriteTo(w io.Writer) (int64, error) {
	buf, block, release := copyBlock(o.rec.Size, true, o.mem)
	defer release()
	return writeBlocks(w, readFunc(o.readSegments), buf, block)
}

// readFunc is an [io.Reader] that is its Read.
type readFunc func(p []byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }
