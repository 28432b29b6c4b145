// Package upload keeps resumable uploads: the state and the bytes behind
// Simple Drive's tus 1.0.0 endpoint (package tusapi speaks the protocol;
// this package knows nothing of HTTP).
//
// # Why not tusd
//
// github.com/tus/tusd/v2 (v2.9.1) was considered, with our own DataStore
// and Locker. It does not fit: its handler implements neither the checksum
// nor the expiration extension, which are required here; it writes its
// errors as text/plain rather than the API's problem documents, and does
// its own routing, CORS and Tus-Resumable handling beside ours; and its
// module brings the SDKs of every cloud it supports into go.sum. The
// protocol's core is small (HEAD, PATCH, POST, DELETE, OPTIONS and a few
// headers), so it is implemented directly in package tusapi over this
// package.
//
// # State and bytes
//
// An upload's state (blob id, content type, length, offset, metadata,
// expiry) lives in the metadata database ([meta.UploadStore]), and its
// bytes in the storage backend: each write (a PATCH) is stored under a
// fresh key as one part through the [storage.Bucket], then committed by
// raising the offset in the database. Any replica can therefore take the
// next write.
//
// # Lock
//
// A write holds the upload's lease, a row lock with an expiry in the
// database ([meta.UploadStore.LeaseUpload]), renewed while the write runs.
// A second write of the same upload, on any replica, is refused at once
// with [ErrLocked] before its body is read. A crashed writer's lease lasts
// until it expires ([Config.Lease] past its last renewal), unless the
// next write runs on the same kernel and sees the writer's process has
// ended (owner.go): it then takes the lease at once. The commit is fenced by the
// lease's owner and by the offset the write started from, so even a writer
// whose lease ran out (a paused process) cannot interleave its bytes with
// another's: its commit changes nothing and its part becomes garbage. A
// write that would complete the upload checks that it still holds its
// lease (renewing it when less than half its term is left) and that the
// upload is unchanged before it assembles the blob, so such a writer
// cannot make the blob either; marking the upload finished gives the
// lease up in the same commit.
//
// # Completion
//
// Each write also continues the digest of the upload's bytes (SHA-256,
// CRC-32C, count: [blob.Digest]) as they stream to the backend, and saves
// its state with the part it commits, so the next write, on any replica,
// goes on from it and no byte is ever hashed twice. The write that brings
// the offset to the length assembles the upload with
// [blob.Service.Assemble]: the backend composes the parts into the blob's
// key ([storage.Bucket.Compose]: a hard link for one part on local, a
// kernel copy for several, chunks copied inside the database, a
// server-side multipart copy on s3, a stream where none of these can), and
// the blob's row records the digest, so its checksums are those of the
// bytes as they arrived. Parts written before the digest was kept are read
// once, for hashing only. With encryption on ([blob.Options.Keys]) every
// part is sealed under a data key of its own as it is stored
// ([blob.Service.SealPart]; the digest is of the plaintext as it arrived,
// and its saved state, which holds plaintext bytes, is sealed under the
// part's data key: [blob.Service.SaveDigest]),
// and assembly decrypts the parts as it streams them through the blob's
// encryption. The parts are left untouched by assembly; only
// then is the upload marked finished and its parts recorded as garbage for
// the collector. An id taken meanwhile answers [blob.ErrExists] and the
// upload is removed, leaving nothing behind. If assembly fails otherwise,
// the offset stays below the length and the client may send its last
// bytes again.
//
// # Expiry
//
// Each committed write moves the expiry to now plus [Config.Expiry];
// expired uploads are refused ([ErrExpired]) and removed with their parts
// by the garbage collector ([blob.Service.CollectGarbage]).
package upload

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// Errors of the [Service]. Failures of the layers below come back as the
// errors of package blob (ErrUnavailable, ErrInsufficientStorage, ...).
var (
	// ErrNotFound means no upload has the id.
	ErrNotFound = errors.New("upload: not found")
	// ErrExpired means the upload expired before it was finished.
	ErrExpired = errors.New("upload: expired")
	// ErrLocked means another write of the upload is in progress.
	ErrLocked = errors.New("upload: locked by another request")
	// ErrOffsetMismatch means a write did not start at the upload's offset.
	ErrOffsetMismatch = errors.New("upload: offset mismatch")
	// ErrChecksumMismatch means a write's bytes do not have the checksum
	// the client sent; nothing of them was kept.
	ErrChecksumMismatch = errors.New("upload: checksum mismatch")
	// ErrTooLarge means the upload would exceed its length or the size
	// limit.
	ErrTooLarge = errors.New("upload: too large")
	// ErrInvalid means a request is inconsistent with the upload (a length
	// declared twice, a length below the offset).
	ErrInvalid = errors.New("upload: invalid request")
	// ErrTooMany means the creator, or the server, holds as many open
	// uploads as [Config] allows.
	ErrTooMany = errors.New("upload: too many open uploads")
)

// Config tunes a [Service].
type Config struct {
	// Expiry is how long an upload lives after its creation or its last
	// committed write (UPLOAD_EXPIRY).
	Expiry time.Duration
	// MaxSize is the largest upload (MAX_UPLOAD_BYTES).
	MaxSize int64
	// Lease is how long a write's lock lasts without renewal; it is
	// renewed every third of it. Zero means 30 seconds.
	Lease time.Duration
	// Timeout bounds each database call, and the database work done after
	// a write's body ended, which runs even when the client has left
	// (REQUEST_TIMEOUT). It never bounds the bytes of a write.
	Timeout time.Duration
	// MaxOpenPerCreator bounds the open (unfinished, unexpired) uploads
	// of one creator (MAX_OPEN_UPLOADS); zero means no bound.
	MaxOpenPerCreator int
	// MaxOpen bounds the open uploads of every creator together
	// (MAX_OPEN_UPLOADS_TOTAL); zero means no bound.
	MaxOpen int
}

// Info describes an upload.
type Info struct {
	// ID is the upload's id.
	ID string
	// BlobID is the id of the blob it becomes.
	BlobID string
	// ContentType is the blob's media type.
	ContentType string
	// Length is the blob's size, -1 while deferred.
	Length int64
	// Offset is how many bytes are stored.
	Offset int64
	// Metadata is the Upload-Metadata header of the creation.
	Metadata string
	// ExpiresAt is when an unfinished upload is abandoned.
	ExpiresAt time.Time
	// Finished is set once the upload has become its blob.
	Finished bool
	// Blob is the blob this call created, when it finished the upload.
	Blob *blob.Blob
}

// New describes an upload to create.
type New struct {
	// BlobID is the id of the blob to create.
	BlobID string
	// ContentType is its media type; empty means the default.
	ContentType string
	// Length is its size, or -1 to declare it later.
	Length int64
	// Metadata is the raw Upload-Metadata header, returned by HEAD.
	Metadata string
	// Creator names who creates it (an API key's id, or "operator"), for
	// [Config.MaxOpenPerCreator].
	Creator string
}

// Write is the bytes of one write (a PATCH) of an upload.
type Write struct {
	// Offset is where the client says the bytes start.
	Offset int64
	// Body yields the bytes. When it fails (the client is gone) or ctx
	// ends, the bytes read so far are kept, unless SHA256 is set.
	Body io.Reader
	// Size is how many bytes Body announces, or -1 when unknown.
	Size int64
	// Length, when not negative, declares a deferred length.
	Length int64
	// SHA256, when set, is the checksum the bytes must have.
	SHA256 []byte
}

// Service keeps resumable uploads. It is safe for concurrent use.
type Service struct {
	store   meta.UploadStore
	garbage meta.GarbageStore
	bucket  *storage.Bucket
	blobs   *blob.Service
	cfg     Config
	log     *slog.Logger
	// now is the clock, replaced by tests.
	now func() time.Time
}

// NewService returns a Service keeping state in store, the keys of parts
// its writes leave unreferenced in garbage, parts in bucket and finished
// uploads in blobs.
func NewService(store meta.UploadStore, garbage meta.GarbageStore, bucket *storage.Bucket, blobs *blob.Service, cfg Config, log *slog.Logger) *Service {
	cfg.Lease = cmp.Or(cfg.Lease, 30*time.Second)
	cfg.Timeout = cmp.Or(cfg.Timeout, time.Minute)
	return &Service{store: store, garbage: garbage, bucket: bucket, blobs: blobs, cfg: cfg, log: log, now: time.Now}
}

// SetClock replaces the service's clock; for tests of expiry.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// MaxSize is the largest upload the service accepts.
func (s *Service) MaxSize() int64 { return s.cfg.MaxSize }

// Create records a new upload of n, refusing an invalid id
// ([blob.ErrInvalidID]) or a taken one ([blob.ErrExists]) before any byte
// is sent, and refusing with [ErrTooMany] when n's creator or the server
// already holds as many open uploads as the [Config] allows (atomically:
// creations racing each other never pass the bound). An upload of length 0 is
// finished at once.
func (s *Service) Create(ctx context.Context, n New) (Info, error) {
	if err := blob.ValidateID(n.BlobID); err != nil {
		return Info{}, err
	}
	if n.Length > s.cfg.MaxSize {
		return Info{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, n.Length, s.cfg.MaxSize)
	}
	if taken, err := s.blobs.Exists(ctx, n.BlobID); err != nil {
		return Info{}, err
	} else if taken {
		return Info{}, fmt.Errorf("%w: %q", blob.ErrExists, n.BlobID)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	u := meta.Upload{
		ID: newID(), Kind: meta.KindTus, BlobID: n.BlobID, ContentType: cmp.Or(n.ContentType, blob.DefaultContentType),
		Length: n.Length, Metadata: n.Metadata, Backend: s.bucket.Name(), Creator: n.Creator,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.Expiry),
	}
	if err := s.record(ctx, u); err != nil {
		return Info{}, err
	}
	if n.Length == 0 {
		return s.Write(ctx, u.ID, Write{Body: bytes.NewReader(nil), Size: 0, Length: -1})
	}
	return info(u), nil
}

// record stores the new upload u unleased, refusing with [ErrTooMany]
// when its creator, or everyone together, holds as many open uploads as
// the configuration allows; the store counts and inserts atomically.
func (s *Service) record(ctx context.Context, u meta.Upload) error {
	perCreator := s.cfg.MaxOpenPerCreator
	if u.Creator == "" {
		perCreator = 0
	}
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	err := s.store.CreateUploadWithin(ctx, u, perCreator, s.cfg.MaxOpen)
	var limit *meta.LimitError
	switch {
	case errors.As(err, &limit) && limit.Creator == "":
		return fmt.Errorf("%w: the server holds %d, the limit", ErrTooMany, limit.Limit)
	case errors.As(err, &limit):
		return fmt.Errorf("%w: its creator holds %d, the limit", ErrTooMany, limit.Limit)
	case err != nil:
		return fmt.Errorf("upload: creating: %w", blob.Classify(err))
	}
	return nil
}

// Get returns the state of upload id. An expired upload's state comes
// with an error wrapping [ErrExpired].
func (s *Service) Get(ctx context.Context, id string) (Info, error) {
	u, err := s.get(ctx, id)
	return info(u), err
}

func (s *Service) get(ctx context.Context, id string) (meta.Upload, error) {
	if !validID(id) {
		return meta.Upload{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	u, err := s.store.GetUpload(ctx, id)
	switch {
	case errors.Is(err, meta.ErrNotFound), err == nil && u.Kind != meta.KindTus:
		return meta.Upload{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	case err != nil:
		return meta.Upload{}, fmt.Errorf("upload: reading state: %w", blob.Classify(err))
	case !u.Finished && !s.now().Before(u.ExpiresAt):
		return u, fmt.Errorf("%w: %q at %s", ErrExpired, id, u.ExpiresAt.Format(time.RFC3339))
	}
	return u, nil
}

// Terminate removes upload id and its parts. A write in progress makes it
// fail with [ErrLocked].
func (s *Service) Terminate(ctx context.Context, id string) error {
	if _, err := s.get(ctx, id); err != nil && !errors.Is(err, ErrExpired) {
		return err
	}
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	now := s.now()
	ok, err := s.store.DeleteUpload(ctx, id, newID(), now, now)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	case err != nil:
		return fmt.Errorf("upload: terminating: %w", blob.Classify(err))
	case !ok:
		return fmt.Errorf("%w: %q", ErrLocked, id)
	}
	return nil
}

// Write stores the bytes of w at the end of upload id, under its lock, and
// finishes the upload when they complete it. It returns the upload's new
// state; [Info.Blob] is set when this write created the blob.
func (s *Service) Write(ctx context.Context, id string, w Write) (Info, error) {
	if _, err := s.get(ctx, id); err != nil {
		return Info{}, err
	}
	l, err := s.lock(ctx, id)
	if err != nil {
		return Info{}, err
	}
	defer l.release()
	// Read again under the lock: what was read before may be stale.
	u, err := s.get(ctx, id)
	if err != nil {
		return Info{}, err
	}
	if w.Offset != u.Offset {
		return info(u), fmt.Errorf("%w: the upload is at %d, the request at %d", ErrOffsetMismatch, u.Offset, w.Offset)
	}
	if u.Finished {
		if w.Size > 0 {
			return info(u), fmt.Errorf("%w: the upload is complete", ErrTooLarge)
		}
		return info(u), nil
	}
	length, declared := u.Length, int64(-1)
	switch {
	case w.Length >= 0 && u.Length >= 0 && w.Length != u.Length:
		return info(u), fmt.Errorf("%w: Upload-Length %d differs from the upload's %d", ErrInvalid, w.Length, u.Length)
	case w.Length >= 0 && u.Length < 0:
		if w.Length < u.Offset || w.Length > s.cfg.MaxSize {
			return info(u), fmt.Errorf("%w: Upload-Length %d is below the offset %d or above the limit %d", ErrInvalid, w.Length, u.Offset, s.cfg.MaxSize)
		}
		length, declared = w.Length, w.Length
	}
	room := s.cfg.MaxSize - u.Offset
	if length >= 0 {
		room = length - u.Offset
	}
	if w.Size > room {
		return info(u), fmt.Errorf("%w: %d bytes sent, %d fit", ErrTooLarge, w.Size, room)
	}

	qctx, cancel := s.bounded(ctx)
	parts, err := s.store.UploadParts(qctx, id)
	cancel()
	if err != nil {
		return info(u), fmt.Errorf("upload: reading parts: %w", blob.Classify(err))
	}
	var p *meta.Part
	if w.Size != 0 {
		p, err = s.storePart(ctx, u, parts, w, room)
		if err != nil {
			return info(u), err
		}
	}
	var size int64
	if p != nil {
		size = p.Size
	}
	if length >= 0 && u.Offset+size == length {
		return s.finish(ctx, l, u, parts, p, length)
	}
	if p == nil && declared < 0 {
		return info(u), nil // nothing to record
	}
	if p == nil {
		p = &meta.Part{Seq: len(parts)} // no key: declares the length only
	}
	dctx, cancel := s.detached(ctx)
	defer cancel()
	expires := s.now().UTC().Truncate(time.Microsecond).Add(s.cfg.Expiry)
	ok, err := s.store.AppendPart(dctx, id, l.owner, u.Offset, declared, *p, expires)
	if err != nil || !ok {
		if p.StorageKey != "" {
			s.dropPart(ctx, p.StorageKey)
		}
		if err != nil {
			return info(u), fmt.Errorf("upload: committing a part: %w", blob.Classify(err))
		}
		return info(u), fmt.Errorf("%w: the upload changed while the bytes were stored", ErrLocked)
	}
	u.Offset += size
	u.Length = length
	u.ExpiresAt = expires
	return info(u), nil
}

// storePart stores the bytes of w as the part of u after parts, under a
// fresh key, checking the checksum and the room left, and continues the
// digest of the upload's bytes over them. A body that fails (the client
// left) or a request context that ends keeps what arrived, when no
// checksum asks for all of it, unless the backend would buffer a part of
// unknown size (s3): a write of known size then goes to it as a Put of
// that size, which streams, and keeps nothing unless it arrives whole.
func (s *Service) storePart(ctx context.Context, u meta.Upload, parts []meta.Part, w Write, room int64) (*meta.Part, error) {
	seq := len(parts)
	// Flat under tus/: a directory per upload would cost a directory
	// creation and its sync on every upload and stay behind, empty, on the
	// backends that have directories.
	key := fmt.Sprintf("tus/%s-%06d-%s", u.ID, seq, newID()[:16])
	body := &partReader{ctx: ctx, r: w.Body, room: room, digest: s.resumeDigest(parts)}
	if w.SHA256 != nil {
		body.hash = sha256.New()
	}
	size := int64(-1)
	if w.Size >= 0 && s.bucket.PutBuffer(w.Size) < s.bucket.PutBuffer(-1) {
		size = w.Size
	}
	// The part is stored whatever becomes of the request: the bytes that
	// arrived are worth keeping. With encryption on it is sealed under a
	// data key of its own; body sees, and digests, the plaintext.
	sealed := s.blobs.SealPart(body, size)
	err := s.bucket.Put(context.WithoutCancel(ctx), key, sealed.Body, sealed.Size)
	switch {
	case errors.Is(err, errOverflow):
		return nil, fmt.Errorf("%w: more bytes than the %d that fit", ErrTooLarge, room)
	case errors.Is(err, storage.ErrSizeMismatch) && body.err != nil:
		return nil, fmt.Errorf("upload: the body ended early after %d of %d bytes, which are not kept: %w", body.n, size, body.err)
	case err != nil:
		return nil, fmt.Errorf("upload: storing a part: %w", blob.Classify(err))
	}
	cut := body.err != nil
	switch {
	case w.SHA256 != nil && !bytes.Equal(body.hash.Sum(nil), w.SHA256):
		s.dropPart(ctx, key)
		if cut {
			return nil, fmt.Errorf("upload: the body ended early after %d bytes: %w", body.n, body.err)
		}
		return nil, fmt.Errorf("%w: the bytes have SHA-256 %x", ErrChecksumMismatch, body.hash.Sum(nil))
	case body.n == 0:
		s.dropPart(ctx, key)
		if cut {
			return nil, fmt.Errorf("upload: the body ended before its first byte: %w", body.err)
		}
		return nil, nil
	case w.Size >= 0 && body.n != w.Size && !cut:
		s.dropPart(ctx, key)
		return nil, fmt.Errorf("%w: the body has %d bytes, Content-Length says %d", ErrInvalid, body.n, w.Size)
	}
	if cut {
		s.log.LogAttrs(ctx, slog.LevelInfo, "upload body cut short; keeping the bytes that arrived",
			slog.Int64("bytes", body.n), slog.String("error", body.err.Error()))
	}
	p := &meta.Part{Seq: seq, StorageKey: key, Size: body.n, KeyID: sealed.KeyID, WrappedKey: sealed.WrappedKey}
	if body.digest != nil {
		if p.Digest, err = s.blobs.SaveDigest(blobParts([]meta.Part{*p})[0], body.digest); err != nil {
			s.dropPart(ctx, key)
			return nil, fmt.Errorf("upload: saving the digest: %w", err)
		}
	}
	return p, nil
}

// resumeDigest returns the digest of the bytes of parts, resumed from the
// state saved with the last one (sealed under its data key when it is
// encrypted: [blob.Service.SaveDigest]), or nil when a part was written
// without one (before it was kept) or its state does not open: the digest
// is then computed at assembly, by reading the parts.
func (s *Service) resumeDigest(parts []meta.Part) *blob.Digest {
	if len(parts) == 0 {
		return blob.NewDigest()
	}
	last := parts[len(parts)-1:]
	d, err := s.blobs.ResumeDigest(blobParts(last)[0], last[0].Digest)
	if err != nil {
		return nil
	}
	return d
}

// finish assembles the parts of u, with last, into the blob, and marks
// the upload finished.
func (s *Service) finish(ctx context.Context, l *lease, u meta.Upload, parts []meta.Part, last *meta.Part, length int64) (Info, error) {
	var extra []string
	if last != nil {
		parts = append(parts, *last)
		extra = []string{last.StorageKey}
	}
	if err := s.fence(ctx, l, u); err != nil {
		for _, k := range extra {
			s.dropPart(ctx, k)
		}
		return info(u), err
	}
	// Assembly runs to its end even if the client leaves: a retried last
	// write then finds the upload finished. It is bounded by the request
	// timeout plus a second per MiB.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout+time.Duration(length>>20)*time.Second)
	defer cancel()
	d, err := s.digest(actx, parts)
	if err == nil && d.Size() != length {
		err = fmt.Errorf("upload: the parts hold %d bytes, the upload %d", d.Size(), length)
	}
	var b blob.Blob
	if err == nil {
		b, err = s.blobs.Assemble(actx, blob.Assembly{ID: u.BlobID, ContentType: u.ContentType, Parts: blobParts(parts), Digest: d})
	}
	if errors.Is(err, blob.ErrExists) {
		// Another writer took the id: nothing of this upload stays.
		now := s.now()
		if _, derr := s.store.DeleteUpload(actx, u.ID, l.owner, now, now); derr != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "removing an upload whose id was taken", slog.String("error", derr.Error()))
		}
		for _, k := range extra {
			s.dropPart(ctx, k)
		}
		return info(u), err
	}
	if err != nil {
		for _, k := range extra {
			s.dropPart(ctx, k)
		}
		return info(u), fmt.Errorf("upload: assembling: %w", err)
	}
	ok, err := l.finish(actx, length, extra)
	if err != nil || !ok {
		// The blob exists; the parts stay recorded until the upload
		// expires and the collector removes them.
		s.log.LogAttrs(ctx, slog.LevelWarn, "upload stored as a blob but not marked finished",
			slog.Bool("lease_held", ok), slog.Any("error", err))
	}
	u.Finished, u.Offset, u.Length = true, length, length
	inf := info(u)
	inf.Blob = &b
	return inf, nil
}

// dropPart deletes the bytes of a part that was never committed; when that
// fails it records them for the collector.
func (s *Service) dropPart(ctx context.Context, key string) {
	ctx, cancel := s.detached(ctx)
	defer cancel()
	if err := s.bucket.Delete(ctx, key); err == nil || errors.Is(err, storage.ErrNotFound) {
		return
	}
	if err := s.garbage.AddGarbage(ctx, meta.Garbage{Backend: s.bucket.Name(), StorageKey: key, NotBefore: s.now()}); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "orphaned upload part", slog.String("storage_key", key), slog.String("error", err.Error()))
	}
}

func (s *Service) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return s.bounded(context.WithoutCancel(ctx))
}

// bounded returns ctx bounded by the service's timeout: for one database
// call.
func (s *Service) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.Timeout)
}

// lease is a held lock of one upload, renewed in the background until
// released.
type lease struct {
	s     *Service
	id    string
	owner string
	stop  chan struct{}
	done  sync.WaitGroup
	once  sync.Once
	ctx   context.Context
	// mu guards until, the expiry this lease last set in the database
	// (only its owner changes it while the owner is unchanged).
	mu    sync.Mutex
	until time.Time
	// finished is set when finishing the upload gave up the lease.
	finished bool
}

// lock takes the lease of upload id, or the lease of a writer whose
// process has ended (see owner.go), or fails with [ErrLocked].
func (s *Service) lock(ctx context.Context, id string) (*lease, error) {
	owner := newOwner()
	until, err := s.take(ctx, id, owner)
	if err != nil {
		return nil, err
	}
	l := &lease{s: s, id: id, owner: owner, stop: make(chan struct{}), ctx: context.WithoutCancel(ctx), until: until}
	l.done.Add(1)
	go l.renew()
	return l, nil
}

// take takes or renews the lease of upload id for owner, for a full term,
// taking it from a writer whose process has ended (see owner.go), or fails
// with [ErrLocked] while another owner's lease runs. It returns when the
// lease it took runs out.
func (s *Service) take(ctx context.Context, id, owner string) (time.Time, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	now := s.now()
	until := now.Add(s.cfg.Lease)
	ok, err := s.store.LeaseUpload(ctx, id, owner, now, until)
	if err == nil && !ok {
		ok, err = s.takeOver(ctx, id, owner, now, until)
	}
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return time.Time{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	case err != nil:
		return time.Time{}, fmt.Errorf("upload: locking: %w", blob.Classify(err))
	case !ok:
		return time.Time{}, fmt.Errorf("%w: %q", ErrLocked, id)
	}
	return until, nil
}

// fence is the check before a write assembles upload u, as read under l:
// l's lease may have lapsed while the bytes arrived (a paused process) and
// another write may have moved the upload on meanwhile. It fails with
// [ErrLocked] if another owner holds the lease or the upload is no longer
// as u. A lease l still holds for half a term or more is kept as it is (no
// other owner can have changed its expiry, so reading the owner tells);
// a shorter one is renewed first, the upload read after.
func (s *Service) fence(ctx context.Context, l *lease, u meta.Upload) error {
	ctx, cancel := s.detached(ctx)
	defer cancel()
	cur, err := s.store.GetUpload(ctx, u.ID)
	if err == nil && (cur.LeaseOwner != l.owner || l.expiry().Sub(s.now()) < s.cfg.Lease/2) {
		until, terr := s.take(ctx, u.ID, l.owner)
		if terr != nil {
			return terr
		}
		l.renewed(until)
		cur, err = s.store.GetUpload(ctx, u.ID)
	}
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return fmt.Errorf("%w: %q", ErrNotFound, u.ID)
	case err != nil:
		return fmt.Errorf("upload: reading state: %w", blob.Classify(err))
	case cur.Offset != u.Offset || cur.Length != u.Length || cur.Finished:
		return fmt.Errorf("%w: the upload changed while the bytes were stored", ErrLocked)
	}
	return nil
}

// takeOver takes the lease of upload id for owner when its holder's
// process has ended: it releases the dead holder's lease (only if that
// holder still has it) and leases afresh, which another writer may win.
func (s *Service) takeOver(ctx context.Context, id, owner string, now, until time.Time) (bool, error) {
	u, err := s.store.GetUpload(ctx, id)
	if err != nil || !ownerGone(u.LeaseOwner) {
		return false, err
	}
	if err := s.store.ReleaseUpload(ctx, id, u.LeaseOwner); err != nil {
		return false, err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "taking the lease of an upload whose writer's process has ended", slog.String("upload_id", id))
	return s.store.LeaseUpload(ctx, id, owner, now, until)
}

func (l *lease) renew() {
	defer l.done.Done()
	t := time.NewTicker(l.s.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := l.s.detached(l.ctx)
			now := l.s.now()
			until := now.Add(l.s.cfg.Lease)
			ok, err := l.s.store.LeaseUpload(ctx, l.id, l.owner, now, until)
			cancel()
			if err == nil && ok {
				l.renewed(until)
			}
			if err != nil || !ok {
				// The commit is fenced by the owner: losing the lease
				// makes it fail, never corrupt.
				l.s.log.LogAttrs(l.ctx, slog.LevelWarn, "upload lease not renewed", slog.Bool("held", ok), slog.Any("error", err))
			}
		}
	}
}

// renewed records that the lease now runs until until.
func (l *lease) renewed(until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.until = until
}

// expiry is when the lease runs out, as it last set it.
func (l *lease) expiry() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until
}

// finish marks the upload of l finished ([meta.UploadStore.FinishUpload])
// at length, giving up l with it, and records that it did so that release
// has nothing to give up. Renewal stops first, so that it cannot take the
// lease again after the finish gave it up.
func (l *lease) finish(ctx context.Context, length int64, extra []string) (bool, error) {
	l.stopRenewing()
	ok, err := l.s.store.FinishUpload(ctx, l.id, l.owner, length, extra, l.s.now())
	l.finished = err == nil && ok
	return ok, err
}

// stopRenewing stops the renewal of l, once.
func (l *lease) stopRenewing() {
	l.once.Do(func() {
		close(l.stop)
		l.done.Wait()
	})
}

// release stops renewing the lease and gives it up, unless finishing the
// upload did.
func (l *lease) release() {
	l.stopRenewing()
	if l.finished {
		return
	}
	ctx, cancel := l.s.detached(l.ctx)
	defer cancel()
	if err := l.s.store.ReleaseUpload(ctx, l.id, l.owner); err != nil {
		l.s.log.LogAttrs(ctx, slog.LevelWarn, "upload lease not released; it expires", slog.String("error", err.Error()))
	}
}

// errOverflow is a body with more bytes than fit in the upload.
var errOverflow = errors.New("upload: body overflows the upload")

// partReader reads a write's body for the backend: it counts the bytes,
// adds them to the upload's digest and to the checksum of the write, when
// there are any, fails with errOverflow past room, and turns a failing body
// or an ended request context into the end of the part (err records why),
// so that the bytes that arrived are stored.
type partReader struct {
	ctx    context.Context
	r      io.Reader
	room   int64
	hash   hash.Hash    // the write's SHA-256, when the client sent one
	digest *blob.Digest // the upload's digest, when it is kept
	n      int64
	err    error
}

func (p *partReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, io.EOF
	}
	if err := p.ctx.Err(); err != nil {
		p.err = err
		return 0, io.EOF
	}
	if int64(len(b)) > p.room-p.n+1 {
		b = b[:p.room-p.n+1]
	}
	n, err := p.r.Read(b)
	if p.n+int64(n) > p.room {
		return 0, errOverflow
	}
	p.n += int64(n)
	if p.hash != nil {
		p.hash.Write(b[:n])
	}
	if p.digest != nil {
		p.digest.Write(b[:n])
	}
	switch {
	case err == io.EOF:
		return n, io.EOF
	case err != nil:
		p.err = err
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	}
	return n, nil
}

// digest returns the digest of the bytes of parts: resumed from the state
// saved with the last part, or, for an upload whose parts were written
// before the digest was kept, computed by reading the parts, one at a time,
// checking each one's size.
func (s *Service) digest(ctx context.Context, parts []meta.Part) (*blob.Digest, error) {
	if d := s.resumeDigest(parts); d != nil {
		return d, nil
	}
	d := blob.NewDigest()
	for _, p := range blobParts(parts) {
		rc, err := s.blobs.OpenPart(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("upload: opening part %q: %w", p.Key, blob.Classify(err))
		}
		n, err := io.Copy(d, rc)
		rc.Close()
		switch {
		case err != nil:
			return nil, fmt.Errorf("upload: reading part %q: %w", p.Key, blob.Classify(err))
		case n != p.Size:
			return nil, fmt.Errorf("upload: part %q has %d bytes, want %d", p.Key, n, p.Size)
		}
	}
	return d, nil
}

// blobParts returns parts as the blob service assembles and reads them.
func blobParts(parts []meta.Part) []blob.Part {
	out := make([]blob.Part, len(parts))
	for i, p := range parts {
		out[i] = blob.Part{Key: p.StorageKey, Size: p.Size, KeyID: p.KeyID, WrappedKey: p.WrappedKey}
	}
	return out
}

func info(u meta.Upload) Info {
	return Info{
		ID: u.ID, BlobID: u.BlobID, ContentType: u.ContentType, Length: u.Length, Offset: u.Offset,
		Metadata: u.Metadata, ExpiresAt: u.ExpiresAt, Finished: u.Finished,
	}
}

// newID returns 32 random hex digits: upload ids and lease owners.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validID reports whether id could be an upload id.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}
