// Package blob is the Simple Drive service: it stores client blobs under
// client-chosen ids and serves them back, keeping metadata and bytes
// consistent.
//
// # Write protocol
//
// A metadata row exists only for bytes that are completely stored. Create
// streams the bytes to the backend under a fresh, never-reused key while
// hashing them, then inserts the metadata row with INSERT ... ON CONFLICT (id)
// DO NOTHING (through a [meta.Store]). The database is the arbiter: of concurrent creates of one id,
// from one process or from replicas sharing PostgreSQL, exactly one inserts
// its row; every loser, and every create that fails after its bytes were
// stored, deletes its own bytes. The one exception is an insert whose
// outcome is unknown (the connection to PostgreSQL failed after the
// statement was sent): the row is read back, and if that cannot tell, the
// bytes are kept, since the row may have been committed. A crash between the two steps likewise leaves only unreferenced
// bytes, never a visible half-blob or metadata without bytes.
//
// With [Options.InlineMax] set, a blob no larger is kept in its record
// instead (see [meta.InlineBackend]): the insert alone stores it, so it
// has no bytes on a backend to leave behind or delete.
//
// # Reads
//
// Get reads the metadata row, then the bytes under its key, and verifies
// their length and checksum as they stream: the CRC-32C recorded beside the
// SHA-256 when the blob was written (hardware-accelerated, several times
// cheaper than SHA-256), or the SHA-256 for blobs written before the CRC-32C
// was kept. A whole read holds back its last bytes until the checksum
// matches, so corrupt bytes never reach a reader whole. Metadata without
// bytes is an integrity fault ([ErrDataMissing]), never reported as not
// found.
//
// # Deletes
//
// Delete removes the metadata row, which is the commit point, and records
// the bytes' key for the collector in the same transaction. The bytes stay
// for a grace period, so a read already streaming the blob finishes whole;
// the id can be created again at once.
package blob

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/simpledrive/simpledrive/internal/blobcache"
	"github.com/simpledrive/simpledrive/internal/crypt"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// Errors returned by the [Service]; the HTTP layer maps these, and only
// these, to statuses.
var (
	// ErrInvalidID means the id breaks the rules of [ValidateID].
	ErrInvalidID = errors.New("blob: invalid id")
	// ErrExists means a blob with the id is already stored.
	ErrExists = errors.New("blob: id already exists")
	// ErrNotFound means no blob has the id.
	ErrNotFound = errors.New("blob: not found")
	// ErrDataMissing means metadata exists but its bytes cannot be found.
	ErrDataMissing = errors.New("blob: metadata without data")
	// ErrCorrupt means the stored bytes do not match the recorded size or
	// checksum.
	ErrCorrupt = errors.New("blob: data does not match its checksum")
	// ErrUnavailable means the storage backend or the metadata database
	// cannot be reached now; the same call may succeed later.
	ErrUnavailable = errors.New("blob: storage unavailable")
	// ErrInsufficientStorage means the backend or the database is full.
	ErrInsufficientStorage = errors.New("blob: insufficient storage")
	// ErrDigestMismatch means an upload's bytes do not have the SHA-256 its
	// client announced; nothing was stored.
	ErrDigestMismatch = errors.New("blob: digest mismatch")
	// ErrKeyMissing means a blob's bytes are encrypted under a master key
	// that is not configured (ENCRYPTION_KEYS): they are refused, never
	// returned undecrypted.
	ErrKeyMissing = errors.New("blob: encryption key not configured")
	// ErrBusy means storing the bytes needed more memory than the
	// backend's budget had free (MAX_INFLIGHT_BYTES); nothing was stored,
	// and the same call may succeed later.
	ErrBusy = errors.New("blob: memory budget exhausted")
)

// DefaultContentType is the media type of blobs stored without one.
const DefaultContentType = "application/octet-stream"

// MaxIDLen is the longest valid id, in bytes.
const MaxIDLen = 1024

// Blob describes a stored blob.
type Blob struct {
	// ID is the client's id, exactly as sent.
	ID string
	// Size is the number of bytes.
	Size int64
	// SHA256 is the lowercase hex SHA-256 of the bytes.
	SHA256 string
	// CRC32C is the CRC-32C (Castagnoli) of the bytes, when HasCRC32C:
	// blobs stored before it was kept have none until fsck --deep
	// --repair records it.
	CRC32C    uint32
	HasCRC32C bool
	// ContentType is the media type the blob was stored with.
	ContentType string
	// MD5 is the S3 ETag of a blob written by the S3 front door (see
	// [meta.Record]); empty for the others.
	MD5 string
	// S3Headers are the headers the S3 front door stored with the blob
	// (see [meta.Record]); empty for none.
	S3Headers string
	// CreatedAt is when the blob was stored, in UTC, to the microsecond.
	CreatedAt time.Time
}

// Options tunes a [Service].
type Options struct {
	// Timeout bounds the service's own work: each metadata query a call
	// makes, and the work a create does after its client may have left
	// (the metadata insert, reading its outcome back, deleting bytes after
	// a failure), which runs to completion regardless of the request's
	// context. It never bounds the bytes a Store reads or a reader yields:
	// a transfer takes as long as its client does. The server sets it to
	// REQUEST_TIMEOUT.
	Timeout time.Duration
	// DeleteGrace is how long the bytes of a deleted blob are kept, so
	// reads that began before the delete finish whole.
	DeleteGrace time.Duration
	// ReadBackends are backends besides the one new blobs go to whose
	// blobs the service reads (and whose garbage it collects): blobs
	// stored before a change of backend, or being migrated.
	ReadBackends []*storage.Bucket
	// OrphanGrace is how old unreferenced bytes must be before the
	// periodic collector ([Service.CollectEvery]) removes them; zero
	// leaves them alone. See [GCOptions.OlderThan].
	OrphanGrace time.Duration
	// Observer, when not nil, is told of every blob created and deleted.
	Observer Observer
	// Keys, when not nil, encrypts the bytes of every blob stored from
	// now on under a data key of its own, wrapped by Keys' current master
	// key (ENCRYPTION_KEYS, DESIGN section 10), and is where the master
	// keys of encrypted blobs are found when they are read. Blobs stored
	// in clear stay readable.
	Keys crypt.KeyProvider
	// InlineMax, when positive, is the size up to which a blob's bytes
	// are kept in its metadata record rather than on the backend
	// (INLINE_MAX_BYTES); see [meta.InlineBackend]. Blobs kept so before
	// are read whatever it is.
	InlineMax int64
	// ReadCacheBytes, when positive, bounds the bytes of the small blobs
	// whose verified bytes the service keeps in memory to serve whole
	// reads without the backend (READ_CACHE_BYTES); see readcache.go.
	ReadCacheBytes int64
}

// Observer is told of the blobs a [Service] creates and deletes, with
// their sizes. Implementations must be safe for concurrent use and quick.
type Observer interface {
	BlobCreated(size int64)
	BlobDeleted(size int64)
}

// Service stores and serves blobs. It is safe for concurrent use.
type Service struct {
	meta    meta.Store
	cached  meta.CachedGetter          // meta, if it is one; nil if not
	backend *storage.Bucket            // where new blobs go
	buckets map[string]*storage.Bucket // every backend read, by name, backend included
	opts    Options
	log     *slog.Logger
	mem     storage.Memory   // where the heads of uploads are reserved; nil: nowhere
	cache   *blobcache.Cache // verified bytes of small blobs; nil: none
	// keys counts the keys made for new bytes, from a random start, when
	// the backend groups Puts by directory (nil otherwise); see
	// shardedKey.
	keys *atomic.Uint64
}

// SetMemory makes s reserve from m the memory it holds to read the head
// of an upload that may be kept in its record ([Options.InlineMax]): m is
// the budget the backend's buffers share (MAX_INFLIGHT_BYTES). Call it
// before s is used; without it, s reserves nothing. A whole read of a
// local file reserves its large copy block there too (see fileVerifier).
func (s *Service) SetMemory(m storage.Memory) { s.mem = m }

// New returns a Service keeping metadata in m and the bytes of new blobs
// in backend, whose name is recorded in each metadata row. It reads blobs
// from backend and from opts.ReadBackends, each by the name in the row.
func New(m meta.Store, backend *storage.Bucket, opts Options, log *slog.Logger) *Service {
	buckets := map[string]*storage.Bucket{backend.Name(): backend}
	for _, b := range opts.ReadBackends {
		if _, ok := buckets[b.Name()]; !ok {
			buckets[b.Name()] = b
		}
	}
	cached, _ := m.(meta.CachedGetter)
	s := &Service{meta: m, cached: cached, backend: backend, buckets: buckets, opts: opts, log: log,
		cache: blobcache.New(opts.ReadCacheBytes)}
	if backend.GroupsByDir() {
		var start [8]byte
		rand.Read(start[:])
		s.keys = new(atomic.Uint64)
		s.keys.Store(binary.LittleEndian.Uint64(start[:]))
	}
	return s
}

// bucket returns the backend that holds the bytes of rec, not inline;
// lookup has checked that the service has it.
func (s *Service) bucket(rec meta.Record) *storage.Bucket { return s.buckets[rec.Backend] }

// ValidateID returns an error wrapping [ErrInvalidID] unless id is 1 to
// [MaxIDLen] bytes of valid UTF-8 without control characters.
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidID)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidID, MaxIDLen)
	}
	for i, r := range id {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(id[i:]); size == 1 {
				return fmt.Errorf("%w: invalid UTF-8 at byte %d", ErrInvalidID, i)
			}
		}
		if r < 0x20 || 0x7f <= r && r <= 0x9f {
			return fmt.Errorf("%w: control character U+%04X at byte %d", ErrInvalidID, r, i)
		}
	}
	return nil
}

// Upload is a blob to store.
type Upload struct {
	// ID is the client's id. It may be empty when LateID is set.
	ID string
	// LateID, used when ID is empty, returns the id once Body has been
	// read to io.EOF: for a request whose id may arrive after its bytes,
	// such as a JSON body whose "data" member comes before its "id". Store
	// then skips the early check that the id is free (the metadata insert
	// still decides: a taken id gives [ErrExists], after the bytes are
	// stored and deleted again) and stores the bytes under a key made from
	// random bytes instead of the id's hash. The id LateID returns is
	// checked with [ValidateID]; an invalid one fails the Store, and the
	// bytes are deleted.
	LateID func() string
	// Body yields the bytes.
	Body io.Reader
	// Size is the number of bytes Body yields; -1 means unknown (a
	// chunked upload): Body is read to its end.
	Size int64
	// ContentType is the media type; empty means [DefaultContentType].
	ContentType string
	// SHA256, when not nil, is the digest the client announced: bytes
	// with another digest are not stored ([ErrDigestMismatch]).
	SHA256 []byte
	// AtMost, when Size is unknown, is an upper bound of the bytes Body
	// yields (a JSON body's Content-Length bounds its decoded data), or 0
	// when none is known. It lets a small upload skip the early check that
	// its id is free (see [Service.Store]).
	AtMost int64
	// Check, when not nil, is called once Body has been read to its end
	// and the bytes are stored, before the blob is recorded: an error
	// refuses the upload (its bytes are deleted, and the error is
	// returned), and md5 is recorded as the blob's [Blob.MD5]. The S3
	// front door verifies its clients' checksums (computed as the bytes
	// stream, some announced in a trailer after them) and names the ETag
	// this way.
	Check func() (md5 string, err error)
	// S3Headers are recorded as the blob's [Blob.S3Headers].
	S3Headers string
}

// earlyCheckMin is the smallest upload whose id [Service.Store] checks
// before storing its bytes. A smaller one lets the metadata insert answer:
// storing and deleting a few KiB for the rare taken id costs less than a
// query on every create.
const earlyCheckMin = 64 << 10

// mayBeLarge reports whether u may hold earlyCheckMin bytes or more.
func (u Upload) mayBeLarge() bool {
	bound := u.Size
	if bound < 0 && u.AtMost > 0 {
		bound = u.AtMost
	}
	return bound < 0 || bound >= earlyCheckMin
}

// Create stores size bytes read from data under id, with no media type of
// its own: [Service.Store] of the simplest upload.
func (s *Service) Create(ctx context.Context, id string, data io.Reader, size int64) (Blob, error) {
	return s.Store(ctx, Upload{ID: id, Body: data, Size: size})
}

// Store stores u by the write protocol. It returns [ErrExists] when the id
// is taken, even when another process takes it while the bytes are being
// stored. An upload that may hold 64 KiB or more is refused before any of
// its bytes is read when its id is already taken; of a smaller one, the
// metadata insert's conflict decides, and its bytes are deleted again.
func (s *Service) Store(ctx context.Context, u Upload) (Blob, error) {
	late := u.ID == "" && u.LateID != nil
	key := func() string { return newKey(u.ID, s.keys) }
	switch {
	case late:
		key = func() string { return newLateKey(s.keys) }
	case u.mayBeLarge():
		if ok, err := s.Exists(ctx, u.ID); err != nil {
			return Blob{}, err
		} else if ok {
			return Blob{}, fmt.Errorf("%w: %q", ErrExists, u.ID)
		}
	default:
		if err := ValidateID(u.ID); err != nil {
			return Blob{}, err
		}
	}

	rec, release, err := s.storeBytes(ctx, u, key)
	if err != nil {
		return Blob{}, err
	}
	defer release()
	return s.insert(ctx, rec)
}

// insert commits rec, whose bytes are stored, as the blob of its id: the
// last step of the write protocol. A taken id gives [ErrExists] and the
// bytes are deleted.
func (s *Service) insert(ctx context.Context, rec meta.Record) (Blob, error) {
	inserted, err := s.commit(ctx, rec, func(ctx context.Context) (bool, error) { return s.meta.Insert(ctx, rec) })
	if err != nil {
		return Blob{}, err
	}
	if !inserted {
		return Blob{}, fmt.Errorf("%w: %q", ErrExists, rec.ID)
	}
	if s.opts.Observer != nil {
		s.opts.Observer.BlobCreated(rec.Size)
	}
	return toBlob(rec), nil
}

// storeBytes stores u's bytes, in their record when they fit (see
// [Service.readHead]) or else streamed to the backend under the key that
// key makes (only then: an inline record takes a key of its own), hashing
// them, and returns the record that describes them, with release, which
// returns the memory the record's bytes hold to the budget: call it once
// the record is committed. On failure nothing is left stored. A late id is
// asked for once the body has been read.
func (s *Service) storeBytes(ctx context.Context, u Upload, key func() string) (rec meta.Record, release func(), err error) {
	hd, err := s.readHead(ctx, u)
	if err != nil {
		return meta.Record{}, nil, err
	}
	h := NewDigest()
	var sealing sealed
	var k string
	if hd.inline {
		h.Write(hd.data)
	} else {
		var body io.Reader
		var size int64
		body, size, sealing = s.seal(io.TeeReader(hd.body, h), u.Size)
		k = key()
		if err := s.backend.Put(ctx, k, body, size); err != nil {
			hd.release()
			return meta.Record{}, nil, fmt.Errorf("blob: storing bytes: %w", Classify(err))
		}
	}
	rec = s.record(u.ID, u.ContentType, k, h)
	rec.S3Headers = u.S3Headers
	rec.KeyID, rec.WrappedKey = sealing.keyID, sealing.wrapped
	if hd.inline {
		rec = s.inline(rec, hd.data)
	}
	fail := func(err error) (meta.Record, func(), error) {
		s.deleteBytes(ctx, rec)
		hd.release()
		return meta.Record{}, nil, err
	}
	if u.ID == "" && u.LateID != nil {
		rec.ID = u.LateID()
		if err := ValidateID(rec.ID); err != nil {
			return fail(err)
		}
	}
	if u.SHA256 != nil && rec.SHA256 != hex.EncodeToString(u.SHA256) {
		return fail(fmt.Errorf("%w: the bytes have SHA-256 %s, the client announced %x", ErrDigestMismatch, rec.SHA256, u.SHA256))
	}
	if u.Check != nil {
		if rec.MD5, err = u.Check(); err != nil {
			return fail(err)
		}
	}
	return rec, hd.release, nil
}

// record describes the bytes of blob id stored under key, whose digest is
// h.
func (s *Service) record(id, contentType, key string, h *Digest) meta.Record {
	return meta.Record{
		ID:          id,
		Size:        h.n,
		SHA256:      hex.EncodeToString(h.sha.Sum(nil)),
		CRC32C:      h.crc,
		HasCRC32C:   true,
		ContentType: cmp.Or(contentType, DefaultContentType),
		Backend:     s.backend.Name(),
		StorageKey:  key,
		CreatedAt:   time.Now().UTC().Truncate(time.Microsecond),
	}
}

// commit runs write, the metadata write that makes the bytes of rec
// the blob's, and reports whether it did. Once the bytes are stored the
// write decides, so it runs to completion even if the client leaves: its
// outcome must be known. An outcome the database leaves unknown is settled
// by reading the row of id back, as is the outcome of a write refused for
// an unavailable database. When the write fails or does nothing, the bytes
// are deleted, except when its outcome stays unknown: the row may exist,
// and deleting them could leave metadata without bytes (at worst they are
// unreferenced).
func (s *Service) commit(ctx context.Context, rec meta.Record, write func(context.Context) (bool, error)) (bool, error) {
	wctx, cancel := s.detached(ctx)
	defer cancel()
	done, err := write(wctx)
	// A write refused for an unavailable database is settled the same way:
	// on which side of its commit a lost connection fell cannot always be
	// told from the error (TestOutage once saw a row land after its insert
	// answered unavailable), and unreferenced bytes cost only space, which
	// the collector reclaims.
	if errors.Is(err, meta.ErrOutcomeUnknown) || errors.Is(err, meta.ErrUnavailable) {
		committed, known := s.settle(ctx, rec.ID, rec.StorageKey)
		if !known {
			s.log.LogAttrs(ctx, slog.LevelWarn, "metadata write outcome unknown; keeping the bytes",
				slog.String("storage_key", rec.StorageKey), slog.String("error", err.Error()))
			return false, fmt.Errorf("blob: recording metadata: %w", Classify(err))
		}
		done, err = committed, nil
	}
	if err != nil {
		s.deleteBytes(ctx, rec)
		return false, fmt.Errorf("blob: recording metadata: %w", Classify(err))
	}
	if !done {
		s.deleteBytes(ctx, rec)
	}
	return done, nil
}

// detached returns a context that ignores the cancellation of ctx, bounded
// by the service's timeout: for work whose outcome must be known whether or
// not the client waits for it.
func (s *Service) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.opts.Timeout)
}

// bounded returns ctx bounded by the service's timeout: for one metadata
// query.
func (s *Service) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.Timeout)
}

// settle reads back the row of id after an insert whose outcome is unknown.
// known is false when the row cannot be read or is absent: on PostgreSQL a
// commit may still land after the connection was lost.
func (s *Service) settle(ctx context.Context, id, key string) (committed, known bool) {
	// A context of its own: the insert's may be what expired.
	ctx, cancel := s.detached(ctx)
	defer cancel()
	rec, err := s.meta.Get(ctx, id)
	if err != nil {
		return false, false
	}
	return rec.StorageKey == key, true
}

// deleteBytes removes the bytes of rec, of a create that did not
// complete, from the backend (inline bytes went with rec). It runs even
// when ctx is cancelled, since cancellation is a common reason to be here;
// a failure leaves unreferenced bytes, which is logged (the collector
// removes them later).
func (s *Service) deleteBytes(ctx context.Context, rec meta.Record) {
	if rec.Backend == meta.InlineBackend {
		return
	}
	ctx, cancel := s.detached(ctx)
	defer cancel()
	if err := s.backend.Delete(ctx, rec.StorageKey); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "orphaned blob bytes after a failed create",
			slog.String("storage_key", rec.StorageKey), slog.String("error", err.Error()))
	}
}

// Stat returns the metadata of id, or [ErrNotFound].
func (s *Service) Stat(ctx context.Context, id string) (Blob, error) {
	rec, err := s.lookup(ctx, id)
	return toBlob(rec), err
}

// Exists reports whether a blob with id is stored.
func (s *Service) Exists(ctx context.Context, id string) (bool, error) {
	_, err := s.lookup(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case errors.Is(err, ErrDataMissing):
		return true, nil // the id is taken, whatever became of its bytes
	}
	return err == nil, err
}

// Get returns the metadata of id and a reader of its bytes, which the caller
// must close: [Handle.Reader] after [Service.Open].
func (s *Service) Get(ctx context.Context, id string) (Blob, io.ReadCloser, error) {
	h, err := s.Open(ctx, id)
	if err != nil {
		return Blob{}, nil, err
	}
	rc, err := h.Reader(ctx)
	return h.Blob, rc, err
}

// Handle is a blob whose metadata has been read: enough to answer from
// metadata alone (conditional requests, HEAD) and then, when the bytes are
// needed, to open them without reading the metadata again.
type Handle struct {
	Blob
	rec meta.Record
	svc *Service
}

// Open reads the metadata of id: [ErrNotFound] when no blob has it,
// [ErrDataMissing] when its bytes are on a backend this server does not
// read.
func (s *Service) Open(ctx context.Context, id string) (Handle, error) {
	rec, err := s.lookup(ctx, id)
	if err != nil {
		return Handle{}, err
	}
	return Handle{Blob: toBlob(rec), rec: rec, svc: s}, nil
}

// Reader opens the blob's bytes, which the caller must close. It verifies
// them against the recorded size and checksum (the CRC-32C, or the SHA-256
// when the blob has no CRC-32C) and holds back the last bytes until they
// match: the Read that reaches the end returns them only with a checksum
// that matches, and otherwise returns no bytes and [ErrCorrupt]. A reader
// of it therefore never receives a corrupt blob whole. It holds no buffer
// of its own. The bytes of an encrypted blob are instead authenticated
// segment by segment, which replaces the checksum: no byte of a segment is
// returned before it authenticated, the last only once the stored bytes
// ended where they must, and a failure is [ErrCorrupt]; a blob whose
// master key is not configured is refused with [ErrKeyMissing]. The
// reader of a local file, and of an encrypted blob on any backend, is an
// [io.WriterTo] that writes it out a block at a time, checked before it
// is written (see fileVerifier and sealedWhole).
func (h Handle) Reader(ctx context.Context) (io.ReadCloser, error) {
	if h.rec.KeyID != "" {
		return h.svc.openSealed(ctx, h.rec, 0, h.Size, true)
	}
	if h.rec.Backend == meta.InlineBackend {
		return newVerifier(inlineReader(h.rec), h.rec, h.svc.log), nil
	}
	if rc := h.cached(ctx, 0, h.Size); rc != nil {
		return rc, nil
	}
	rc, err := h.svc.bucket(h.rec).Get(ctx, h.rec.StorageKey)
	if err != nil {
		return nil, h.svc.readError(ctx, h.rec, err)
	}
	v := newVerifier(rc, h.rec, h.svc.log)
	h.capture(v)
	if _, ok := rc.(*os.File); ok {
		return &fileVerifier{v, h.svc.mem}, nil
	}
	return v, nil
}

// RangeReader opens length bytes of the blob from offset on, which the
// caller must close; the range must lie within the blob. A part of a blob
// cannot be checked against its SHA-256, so the reader checks only its
// length: fewer bytes than asked for fail with [ErrCorrupt]. Of an
// encrypted blob it fetches only the segments that hold the range, and
// authenticates each as [Handle.Reader] does. When the backend tells the
// size of the stored object as it opens it (a local file's), a size other
// than the blob's fails at once with [ErrCorrupt], before any byte is
// read; the reader is then an [io.WriterTo] when the backend's is, which
// hands a local file to a network connection's sendfile (the length is
// still checked, once the bytes are sent).
func (h Handle) RangeReader(ctx context.Context, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length < 0 || offset+length > h.Size {
		return nil, fmt.Errorf("blob: range %d+%d outside a blob of %d bytes", offset, length, h.Size)
	}
	if h.rec.KeyID != "" {
		return h.svc.openSealed(ctx, h.rec, offset, length, false)
	}
	if h.rec.Backend == meta.InlineBackend {
		return newLengthChecker(inlineRange(h.rec, offset, length), length, h.rec.StorageKey, h.svc.log), nil
	}
	if rc := h.cached(ctx, offset, length); rc != nil {
		return rc, nil
	}
	rc, err := h.svc.bucket(h.rec).GetRange(ctx, h.rec.StorageKey, offset, length)
	if err != nil {
		return nil, h.svc.readError(ctx, h.rec, err)
	}
	sized, ok := rc.(storage.Sized)
	if !ok {
		return newLengthChecker(struct{ io.ReadCloser }{rc}, length, h.rec.StorageKey, h.svc.log), nil
	}
	if size := sized.Size(); size != h.Size {
		rc.Close()
		h.svc.log.LogAttrs(ctx, slog.LevelError, "integrity fault: stored bytes do not match metadata",
			slog.String("storage_key", h.rec.StorageKey), slog.String("detail", fmt.Sprintf("%d bytes, want %d", size, h.Size)))
		return nil, fmt.Errorf("%w: %d bytes stored, want %d", ErrCorrupt, size, h.Size)
	}
	return newLengthChecker(rc, length, h.rec.StorageKey, h.svc.log), nil
}

// readError classifies the failure to open the bytes of rec; missing bytes
// are an integrity fault, logged loudly.
func (s *Service) readError(ctx context.Context, rec meta.Record, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		s.log.LogAttrs(ctx, slog.LevelError, "integrity fault: metadata without bytes",
			slog.String("storage_key", rec.StorageKey), slog.String("error", err.Error()))
		return fmt.Errorf("%w: %w", ErrDataMissing, err)
	}
	return fmt.Errorf("blob: reading bytes: %w", Classify(err))
}

// Delete removes the blob of id, or returns [ErrNotFound]. Its bytes are
// recorded for collection after the grace period rather than deleted now.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	rec, err := s.meta.Delete(ctx, id, time.Now().Add(s.opts.DeleteGrace))
	if errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("blob: deleting metadata: %w", Classify(err))
	}
	if s.opts.Observer != nil {
		s.opts.Observer.BlobDeleted(rec.Size)
	}
	return nil
}

// lookup reads the metadata record of id.
func (s *Service) lookup(ctx context.Context, id string) (meta.Record, error) {
	if err := ValidateID(id); err != nil {
		return meta.Record{}, err
	}
	rec, ok := meta.Record{}, false
	if s.cached != nil {
		// Without the query's timeout, which costs more than the answer.
		rec, ok = s.cached.GetCached(id)
	}
	if !ok {
		var err error
		if rec, err = s.query(ctx, id); err != nil {
			return meta.Record{}, err
		}
	}
	if _, ok := s.buckets[rec.Backend]; !ok && rec.Backend != meta.InlineBackend {
		return rec, fmt.Errorf("%w: stored on backend %q, which this server does not read (STORAGE_BACKEND=%s; see READ_BACKENDS)",
			ErrDataMissing, rec.Backend, s.backend.Name())
	}
	return rec, nil
}

// query reads the record of id from the store, within the service's
// timeout.
func (s *Service) query(ctx context.Context, id string) (meta.Record, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	rec, err := s.meta.Get(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return meta.Record{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return meta.Record{}, fmt.Errorf("blob: reading metadata: %w", Classify(err))
	}
	return rec, nil
}

func toBlob(r meta.Record) Blob {
	return Blob{ID: r.ID, Size: r.Size, SHA256: r.SHA256, CRC32C: r.CRC32C, HasCRC32C: r.HasCRC32C,
		ContentType: r.ContentType, MD5: r.MD5, S3Headers: r.S3Headers, CreatedAt: r.CreatedAt}
}

// Classify wraps the errors of the layers below (package storage's and
// package meta's sentinels) with the service's own, so that callers need to
// know only this package's errors. Services built on this one (resumable
// uploads) classify theirs with it too.
func Classify(err error) error {
	switch {
	case errors.Is(err, storage.ErrUnavailable), errors.Is(err, meta.ErrUnavailable):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, storage.ErrInsufficientStorage), errors.Is(err, meta.ErrInsufficientStorage):
		return fmt.Errorf("%w: %w", ErrInsufficientStorage, err)
	case errors.Is(err, storage.ErrBusy):
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return err
}

// newKey returns a fresh storage key for id: the hex SHA-256 of the id,
// sharded one level deep, plus a random suffix so that no two uploads, even
// of one id, share a key.
func newKey(id string, turn *atomic.Uint64) string {
	sum := sha256.Sum256([]byte(id))
	return shardedKey(sum[:], turn)
}

// newLateKey returns a fresh storage key for bytes stored before their id
// is known (see [Upload.LateID]): newKey's shape, with 32 random bytes in
// place of the id's hash.
func newLateKey(turn *atomic.Uint64) string {
	var r [sha256.Size]byte
	rand.Read(r[:])
	return shardedKey(r[:], turn)
}

// keysPerDir is how many consecutive keys share their directory when
// the backend groups Puts by directory: about as many as the creates a
// busy server has in flight at once (32 clients in the benchmarks), so
// that those meet in one or two directories.
const keysPerDir = 32

// shardedKey returns the key of the 32-byte value v: its hex, under a
// directory named by two hex digits, plus a random suffix. One level of
// 256 directories, rather than two of 65,536, lets a file-system backend
// create and sync each directory once early on, instead of on most
// creates of its first million blobs (keys of the two-level layout,
// ab/cd/..., stay valid). The directory is v's first byte, unless turn
// is given (the service's, when its backend groups Puts by directory, see
// [storage.Bucket.GroupsByDir]): then it is the next of the 256 in turn
// every keysPerDir keys, so creates made at once share their directory's
// sync (on local files, 32 at once into 256 hashed directories almost
// never met, and each paid a sync of its own), and the directories still
// fill evenly. Nothing reads a key's directory back as a hash.
func shardedKey(v []byte, turn *atomic.Uint64) string {
	h := hex.EncodeToString(v)
	var suffix [8]byte
	rand.Read(suffix[:])
	dir := v[0]
	if turn != nil {
		dir = byte(turn.Add(1) / keysPerDir)
	}
	return fmt.Sprintf("%02x/%s-%x", dir, h, suffix)
}
