package blob

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// The everyday operations of DESIGN section 12: replace on purpose,
// rename (move) and copy on the server, and usage.

// ErrPreconditionFailed means a [Service.Replace] found no blob to
// replace, or one its condition refused, or one that changed while the new
// bytes were being stored; nothing was replaced.
var ErrPreconditionFailed = errors.New("blob: precondition failed")

// Replace stores u as the new content of the existing blob u.ID when match
// accepts the blob stored now, atomically: the new bytes are stored first,
// then the metadata row is switched to them by compare-and-swap, and the
// old bytes become garbage, collected after the delete grace period (so a
// read already streaming them finishes whole). A reader sees the old blob
// or the new one, whole. It returns [ErrPreconditionFailed] when no blob
// has the id, when match refuses it, or when another write changed it
// meanwhile (the new bytes are then deleted). u.LateID is not used.
func (s *Service) Replace(ctx context.Context, u Upload, match func(Blob) bool) (Blob, error) {
	old, err := s.lookup(ctx, u.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		return Blob{}, fmt.Errorf("%w: no blob has id %q", ErrPreconditionFailed, u.ID)
	case err != nil && !errors.Is(err, ErrDataMissing): // missing bytes may be replaced
		return Blob{}, err
	case !match(toBlob(old)):
		return Blob{}, fmt.Errorf("%w: the blob %q does not match", ErrPreconditionFailed, u.ID)
	}
	u.LateID = nil
	rec, release, err := s.storeBytes(ctx, u, func() string { return newKey(u.ID, s.keys) })
	if err != nil {
		return Blob{}, err
	}
	defer release()
	return s.swap(ctx, old, rec)
}

// swap switches the record old to rec, whose bytes are stored, by
// compare-and-swap, the old bytes recorded as garbage due after the delete
// grace period: [ErrPreconditionFailed] (and rec's bytes deleted) when
// another write changed the record meanwhile.
func (s *Service) swap(ctx context.Context, old, rec meta.Record) (Blob, error) {
	swapped, err := s.commit(ctx, rec, func(ctx context.Context) (bool, error) {
		return s.meta.Replace(ctx, old, rec, time.Now().Add(s.opts.DeleteGrace))
	})
	if err != nil {
		return Blob{}, err
	}
	if !swapped {
		return Blob{}, fmt.Errorf("%w: the blob %q changed while it was being replaced", ErrPreconditionFailed, rec.ID)
	}
	if s.opts.Observer != nil {
		s.opts.Observer.BlobDeleted(old.Size)
		s.opts.Observer.BlobCreated(rec.Size)
	}
	return toBlob(rec), nil
}

// Move gives the blob from the id to by changing its metadata alone: no
// byte moves, and the change is one transaction, so a reader finds the
// blob under one id or the other. It returns [ErrNotFound] when from has
// no blob and [ErrExists] when to has one.
func (s *Service) Move(ctx context.Context, from, to string) (Blob, error) {
	if err := errors.Join(ValidateID(from), ValidateID(to)); err != nil {
		return Blob{}, err
	}
	rec, err := s.meta.Rename(ctx, from, to)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return Blob{}, fmt.Errorf("%w: %q", ErrNotFound, from)
	case errors.Is(err, meta.ErrExists):
		return Blob{}, fmt.Errorf("%w: %q", ErrExists, to)
	case err != nil:
		return Blob{}, fmt.Errorf("blob: renaming: %w", Classify(err))
	}
	return toBlob(rec), nil
}

// Copy stores a copy of the blob from under the id to, by the write
// protocol: the bytes are read from the backend, verified against the
// source's SHA-256 as they stream (a corrupt source stores nothing) and
// written under a key of their own, so each blob is deleted on its own.
// It returns [ErrNotFound] when from has no blob and [ErrExists] when to
// has one.
func (s *Service) Copy(ctx context.Context, from, to string) (Blob, error) {
	if err := ValidateID(to); err != nil {
		return Blob{}, err
	}
	h, err := s.Open(ctx, from)
	if err != nil {
		return Blob{}, err
	}
	rc, err := h.Reader(ctx)
	if err != nil {
		return Blob{}, err
	}
	defer rc.Close()
	sum, err := hex.DecodeString(h.SHA256)
	if err != nil {
		return Blob{}, fmt.Errorf("%w: recorded SHA-256 %q", ErrCorrupt, h.SHA256)
	}
	return s.Store(ctx, Upload{ID: to, Body: rc, Size: h.Size, ContentType: h.ContentType, SHA256: sum})
}

// Usage is what a drive, or the part of it under a prefix, holds.
type Usage struct {
	// Blobs and Bytes count the blobs and their sizes.
	Blobs, Bytes int64
	// Uploads and UploadBytes count the unfinished resumable uploads and
	// the bytes they have received.
	Uploads, UploadBytes int64
	// GarbageKeys and GarbageBytes count the bytes of deleted and replaced
	// blobs awaiting collection (the delete grace period), for the whole
	// drive: they no longer belong to an id. GarbageBytes sums the sizes
	// of at most [MaxUsageGarbageKeys] keys per backend; GarbagePartial
	// says when there were more.
	GarbageKeys, GarbageBytes int64
	GarbagePartial            bool
}

// MaxUsageGarbageKeys bounds the keys whose sizes [Service.Usage] asks the
// backends for.
const MaxUsageGarbageKeys = 1000

// Usage counts the blobs and unfinished uploads whose ids start with
// prefix and, when withGarbage is set, the bytes awaiting collection on
// every backend the service reads.
func (s *Service) Usage(ctx context.Context, prefix string, withGarbage bool) (Usage, error) {
	mu, err := s.meta.Usage(ctx, prefix)
	if err != nil {
		return Usage{}, fmt.Errorf("blob: usage: %w", Classify(err))
	}
	u := Usage{Blobs: mu.Blobs, Bytes: mu.Bytes, Uploads: mu.Uploads, UploadBytes: mu.UploadBytes}
	if !withGarbage {
		return u, nil
	}
	u.GarbageKeys = mu.GarbageKeys
	never := time.Now().AddDate(1000, 0, 0) // every key, due or not
	var listed int64
	for name, b := range s.buckets {
		due, err := s.meta.DueGarbage(ctx, name, never, MaxUsageGarbageKeys)
		if err != nil {
			return Usage{}, fmt.Errorf("blob: usage: %w", Classify(err))
		}
		listed += int64(len(due))
		for _, g := range due {
			ki, err := b.Stat(ctx, g.StorageKey)
			if err != nil {
				// Collected meanwhile is not counted; anything else
				// leaves the sum short.
				u.GarbagePartial = u.GarbagePartial || !errors.Is(err, storage.ErrNotFound)
				continue
			}
			u.GarbageBytes += ki.Size
		}
	}
	u.GarbagePartial = u.GarbagePartial || listed < u.GarbageKeys
	return u, nil
}
