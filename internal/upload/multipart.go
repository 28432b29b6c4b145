package upload

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/bytewise"
	"github.com/simpledrive/simpledrive/internal/meta"
)

// S3 multipart uploads (DESIGN section 9) are uploads of their own kind
// ([meta.KindMultipart]) in the same table as tus uploads: created,
// expired and collected alike, counted against the same open-upload
// limits. Their parts are numbered by the client and arrive in any order,
// in parallel, on any replica: each UploadPart stores its bytes under a
// fresh key, hashing them (MD5, the part's ETag), then commits the part in
// one transaction ([meta.MultipartStore.PutPart]), which replaces a part
// of the same number. No lease is taken for a part.
//
// Completion takes the upload's lease, which fences out parts from then
// on: a part either committed before and is seen, or is refused
// ([ErrLocked]). It checks the client's list against the committed parts
// ([ErrInvalidPart], [ErrInvalidPartOrder], [ErrEntityTooSmall]), reads
// the listed parts once, one open at a time, for the blob's SHA-256 and
// CRC-32C (parts sent in parallel cannot carry a digest from one to the
// next, as tus writes do), then has the backend compose them under the
// blob's key ([blob.Service.Assemble]: a link or in-medium copy where the
// backend can, else a stream through a fixed buffer): a new blob, or,
// when the key has one, a replacement by compare-and-swap, so a reader
// sees the old or the new object whole. The blob's S3 ETag is the MD5 of
// the parts' MD5s, "-" and their number.
// Only then is the upload finished and its parts recorded as garbage.

// Limits of S3 multipart uploads, as S3 sets them.
const (
	// MinPartSize is the smallest part but the last of a completed upload.
	MinPartSize = 5 << 20
	// MaxPartSize is the largest part.
	MaxPartSize = 5 << 30
	// MaxPartNumber is the highest part number.
	MaxPartNumber = 10000
)

// Errors of multipart completion, S3's errors of the same names.
var (
	// ErrInvalidPart means a listed part was not uploaded or its ETag
	// (or checksum) differs from the one uploaded.
	ErrInvalidPart = errors.New("upload: invalid part")
	// ErrInvalidPartOrder means the listed parts are not in ascending
	// order of number.
	ErrInvalidPartOrder = errors.New("upload: parts not in ascending order")
	// ErrEntityTooSmall means a listed part but the last is smaller than
	// [MinPartSize].
	ErrEntityTooSmall = errors.New("upload: part too small")
)

// Multipart keeps S3 multipart uploads over a [Service]'s backend, blob
// service and configuration. It is safe for concurrent use.
type Multipart struct {
	s     *Service
	store meta.MultipartStore
}

// NewMultipart returns the multipart uploads of s, whose state store must
// be store.
func NewMultipart(store meta.MultipartStore, s *Service) *Multipart {
	return &Multipart{s: s, store: store}
}

// MultipartNew describes a multipart upload to create.
type MultipartNew struct {
	// Key is the blob id it becomes.
	Key string
	// ContentType is the blob's media type; empty means the default.
	ContentType string
	// ChecksumAlgorithm is the algorithm of the checksums its parts carry
	// (x-amz-checksum-algorithm), or "".
	ChecksumAlgorithm string
	// Creator names who creates it, for [Config.MaxOpenPerCreator].
	Creator string
}

// Create records a new multipart upload of n.Key and returns it. A key that
// has a blob is accepted: completing the upload replaces it.
func (m *Multipart) Create(ctx context.Context, n MultipartNew) (meta.Upload, error) {
	if err := blob.ValidateID(n.Key); err != nil {
		return meta.Upload{}, err
	}
	now := m.s.now().UTC().Truncate(time.Microsecond)
	u := meta.Upload{
		ID: newID(), Kind: meta.KindMultipart, BlobID: n.Key, ContentType: cmp.Or(n.ContentType, blob.DefaultContentType),
		Length: -1, Metadata: n.ChecksumAlgorithm, Backend: m.s.bucket.Name(), Creator: n.Creator,
		CreatedAt: now, ExpiresAt: now.Add(m.s.cfg.Expiry),
	}
	if err := m.s.record(ctx, u); err != nil {
		return meta.Upload{}, err
	}
	return u, nil
}

// Get returns the open multipart upload id of key: [ErrNotFound] when
// there is none (never created, of another key or protocol, finished,
// aborted or expired). An upload id therefore reaches only uploads of the
// key the request names, which the request's access decision covers.
func (m *Multipart) Get(ctx context.Context, id, key string) (meta.Upload, error) {
	u, err := m.s.store.GetUpload(ctx, id)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return meta.Upload{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	case err != nil:
		return meta.Upload{}, fmt.Errorf("upload: reading state: %w", blob.Classify(err))
	case u.Kind != meta.KindMultipart || u.BlobID != key || u.Finished || !m.s.now().Before(u.ExpiresAt):
		return meta.Upload{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return u, nil
}

// PartWrite is the bytes of one UploadPart.
type PartWrite struct {
	// Number is the part number, 1 to [MaxPartNumber].
	Number int
	// Body yields Size bytes.
	Body io.Reader
	Size int64
	// Check is called once Body has been read to its end and the bytes
	// are stored. It returns their lowercase hex MD5 (the part's ETag,
	// which the caller computes as Body streams, with the checksums it
	// verifies) and the checksum to record with the part
	// ([meta.MultipartPart.Checksum]); an error refuses the part, and
	// nothing of it stays.
	Check func() (md5, checksum string, err error)
}

// PutPart stores w as part w.Number of upload id of key, replacing a part
// of that number, and returns it. It fails with [ErrNotFound] when the
// upload is not open, [ErrLocked] while it is being completed, and
// [ErrTooLarge] past [MaxPartSize] or the upload's size limit.
func (m *Multipart) PutPart(ctx context.Context, id, key string, w PartWrite) (meta.MultipartPart, error) {
	if w.Number < 1 || w.Number > MaxPartNumber {
		return meta.MultipartPart{}, fmt.Errorf("%w: part number %d is not 1 to %d", ErrInvalid, w.Number, MaxPartNumber)
	}
	u, err := m.Get(ctx, id, key)
	if err != nil {
		return meta.MultipartPart{}, err
	}
	if w.Size > MaxPartSize || u.Offset+w.Size > m.s.cfg.MaxSize {
		return meta.MultipartPart{}, fmt.Errorf("%w: a part of %d bytes, the upload holding %d of at most %d", ErrTooLarge, w.Size, u.Offset, m.s.cfg.MaxSize)
	}
	p := meta.MultipartPart{Number: w.Number, StorageKey: fmt.Sprintf("s3mp/%s-%05d-%s", id, w.Number, newID()[:16])} // flat, as tus parts
	sealed := m.s.blobs.SealPart(w.Body, w.Size)
	p.KeyID, p.WrappedKey = sealed.KeyID, sealed.WrappedKey
	if err := m.s.bucket.Put(ctx, p.StorageKey, sealed.Body, sealed.Size); err != nil {
		return meta.MultipartPart{}, fmt.Errorf("upload: storing a part: %w", blob.Classify(err))
	}
	if p.MD5, p.Checksum, err = w.Check(); err != nil {
		m.s.dropPart(ctx, p.StorageKey)
		return meta.MultipartPart{}, err
	}
	now := m.s.now().UTC().Truncate(time.Microsecond)
	p.Size, p.CreatedAt = w.Size, now
	dctx, cancel := m.s.detached(ctx)
	defer cancel()
	ok, err := m.store.PutPart(dctx, id, p, now, now.Add(m.s.cfg.Expiry), now)
	if err != nil || !ok {
		m.s.dropPart(ctx, p.StorageKey)
	}
	switch {
	case err != nil:
		return meta.MultipartPart{}, fmt.Errorf("upload: committing a part: %w", blob.Classify(err))
	case !ok:
		if _, err := m.Get(ctx, id, key); err != nil {
			return meta.MultipartPart{}, err
		}
		return meta.MultipartPart{}, fmt.Errorf("%w: the upload %q is being completed", ErrLocked, id)
	}
	return p, nil
}

// Parts returns up to limit parts of upload id of key numbered above
// after, in order, with the upload.
func (m *Multipart) Parts(ctx context.Context, id, key string, after, limit int) (meta.Upload, []meta.MultipartPart, error) {
	u, err := m.Get(ctx, id, key)
	if err != nil {
		return meta.Upload{}, nil, err
	}
	qctx, cancel := m.s.bounded(ctx)
	defer cancel()
	parts, err := m.store.MultipartParts(qctx, id, after, limit)
	if err != nil {
		return meta.Upload{}, nil, fmt.Errorf("upload: reading parts: %w", blob.Classify(err))
	}
	return u, parts, nil
}

// Abort removes upload id of key and its parts. A completion in progress
// makes it fail with [ErrLocked].
func (m *Multipart) Abort(ctx context.Context, id, key string) error {
	if _, err := m.Get(ctx, id, key); err != nil {
		return err
	}
	ctx, cancel := m.s.bounded(ctx)
	defer cancel()
	now := m.s.now()
	ok, err := m.store.DeleteUpload(ctx, id, newID(), now, now)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	case err != nil:
		return fmt.Errorf("upload: aborting: %w", blob.Classify(err))
	case !ok:
		return fmt.Errorf("%w: %q", ErrLocked, id)
	}
	return nil
}

// CompletedPart is one part of CompleteMultipartUpload's list.
type CompletedPart struct {
	Number int
	// ETag is the part's ETag as the client sends it, quoted or not.
	ETag string
	// Checksum, when set, is the part's checksum as the client sends it
	// ("<ALGORITHM>:<base64>"); it must be the one uploaded.
	Checksum string
}

// Complete makes upload id of key the blob key from the listed parts,
// replacing the key's blob when replace is set and the key has one (when
// it is not set, a blob of the key answers [blob.ErrExists]). It returns
// the blob, whose MD5 is its S3 ETag. A blob created or replaced by another
// writer meanwhile answers [blob.ErrExists] or
// [blob.ErrPreconditionFailed]: one writer wins, the other changes nothing.
func (m *Multipart) Complete(ctx context.Context, id, key string, list []CompletedPart, replace bool) (blob.Blob, error) {
	if _, err := m.Get(ctx, id, key); err != nil {
		if b, ok := m.completed(ctx, id, key, list); ok {
			return b, nil
		}
		return blob.Blob{}, err
	}
	l, err := m.s.lock(ctx, id)
	if err != nil {
		return blob.Blob{}, err
	}
	defer l.release()
	u, err := m.Get(ctx, id, key) // again, under the lock
	if err != nil {
		return blob.Blob{}, err
	}
	qctx, cancel := m.s.bounded(ctx)
	stored, err := m.store.MultipartParts(qctx, id, 0, MaxPartNumber)
	cancel()
	if err != nil {
		return blob.Blob{}, fmt.Errorf("upload: reading parts: %w", blob.Classify(err))
	}
	parts, etag, size, err := m.choose(stored, list)
	if err != nil {
		return blob.Blob{}, err
	}
	// Assembly runs to its end even if the client leaves, bounded by the
	// request timeout plus a second per MiB.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.s.cfg.Timeout+time.Duration(size>>20)*time.Second)
	defer cancel()
	// Parts arrive in parallel: their digest cannot be carried from one
	// to the next, as a tus upload's is, so it is computed here, by
	// reading them; the backend then composes them without the bytes
	// passing through here where it can.
	d, err := m.s.digest(actx, parts)
	if err != nil {
		return blob.Blob{}, err
	}
	b, err := m.s.blobs.Assemble(actx, blob.Assembly{ID: key, ContentType: u.ContentType, Parts: blobParts(parts), Digest: d, MD5: etag, Replace: replace})
	if err != nil {
		return blob.Blob{}, err
	}
	if ok, err := l.finish(actx, size, nil); err != nil || !ok {
		// The blob exists; the parts stay recorded until the upload
		// expires and the collector removes them.
		m.s.log.LogAttrs(ctx, slog.LevelWarn, "multipart upload stored as a blob but not marked finished",
			slog.Bool("lease_held", ok), slog.Any("error", err))
	}
	return b, nil
}

// completed returns the blob at key when upload id was completed and that
// blob is what completing it with list makes: its ETag is the one list's
// part ETags give, and its size the upload's. A client that retries a
// Complete whose answer it lost thus gets the same answer again, as from
// S3, until the finished upload expires.
func (m *Multipart) completed(ctx context.Context, id, key string, list []CompletedPart) (blob.Blob, bool) {
	u, err := m.s.store.GetUpload(ctx, id)
	if err != nil || u.Kind != meta.KindMultipart || u.BlobID != key || !u.Finished || !m.s.now().Before(u.ExpiresAt) {
		return blob.Blob{}, false
	}
	sums := md5.New()
	for i, c := range list {
		sum, err := hex.DecodeString(strings.Trim(c.ETag, `"`))
		if err != nil || len(sum) != md5.Size || i > 0 && c.Number <= list[i-1].Number {
			return blob.Blob{}, false
		}
		sums.Write(sum)
	}
	b, err := m.s.blobs.Stat(ctx, key)
	if err != nil || b.Size != u.Length || b.MD5 != hex.EncodeToString(sums.Sum(nil))+"-"+strconv.Itoa(len(list)) {
		return blob.Blob{}, false
	}
	return b, true
}

// choose returns the stored parts list names, in its order, with the S3
// ETag of their concatenation and its size, or the error S3 gives a list
// that does not match them.
func (m *Multipart) choose(stored []meta.MultipartPart, list []CompletedPart) ([]meta.Part, string, int64, error) {
	if len(list) == 0 {
		return nil, "", 0, fmt.Errorf("%w: no parts listed", ErrInvalid)
	}
	for i := 1; i < len(list); i++ {
		if list[i].Number <= list[i-1].Number {
			return nil, "", 0, fmt.Errorf("%w: part %d after part %d", ErrInvalidPartOrder, list[i].Number, list[i-1].Number)
		}
	}
	byNumber := make(map[int]meta.MultipartPart, len(stored))
	for _, p := range stored {
		byNumber[p.Number] = p
	}
	parts := make([]meta.Part, len(list))
	sums := md5.New()
	var size int64
	for i, c := range list {
		p, ok := byNumber[c.Number]
		if !ok || !strings.EqualFold(strings.Trim(c.ETag, `"`), p.MD5) || c.Checksum != "" && c.Checksum != p.Checksum {
			return nil, "", 0, fmt.Errorf("%w: part %d was not uploaded with ETag %s", ErrInvalidPart, c.Number, c.ETag)
		}
		if p.Size < MinPartSize && i < len(list)-1 {
			return nil, "", 0, fmt.Errorf("%w: part %d has %d bytes, less than %d", ErrEntityTooSmall, c.Number, p.Size, MinPartSize)
		}
		sum, _ := hex.DecodeString(p.MD5)
		sums.Write(sum)
		size += p.Size
		parts[i] = meta.Part{Seq: p.Number, StorageKey: p.StorageKey, Size: p.Size, KeyID: p.KeyID, WrappedKey: p.WrappedKey}
	}
	if size > m.s.cfg.MaxSize {
		return nil, "", 0, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, size, m.s.cfg.MaxSize)
	}
	return parts, hex.EncodeToString(sums.Sum(nil)) + "-" + strconv.Itoa(len(list)), size, nil
}

// MultipartListing selects one page of ListMultipartUploads.
type MultipartListing struct {
	// Prefix is what every key starts with; Delimiter folds the keys
	// that hold it after Prefix into folders, as S3's CommonPrefixes.
	Prefix, Delimiter string
	// Within, when it starts with Prefix and is longer, narrows the
	// listing to keys starting with it (a confinement), folders still
	// one level below Prefix.
	Within string
	// KeyMarker and UploadIDMarker: the page starts after them (after
	// every upload of KeyMarker when UploadIDMarker is empty, after its
	// whole folder when KeyMarker is one).
	KeyMarker, UploadIDMarker string
	// Limit is the most uploads and folders together, at least 1.
	Limit int
}

// MultipartPage is one page of open multipart uploads, by key then id.
type MultipartPage struct {
	Uploads  []meta.Upload
	Prefixes []string
	// Truncated says more follow.
	Truncated bool
}

// List returns one page of open multipart uploads: one index range scan,
// and one more per folder.
func (m *Multipart) List(ctx context.Context, o MultipartListing) (MultipartPage, error) {
	scan := o.Prefix
	if len(o.Within) > len(o.Prefix) {
		scan = o.Within
	}
	q := meta.MultipartQuery{Prefix: scan, AfterKey: o.KeyMarker, AfterUploadID: o.UploadIDMarker, Now: m.s.now()}
	if f, ok := blob.FolderOf(o.KeyMarker, o.Prefix, o.Delimiter); ok && f == o.KeyMarker {
		q.AfterKey, q.AfterUploadID = "", ""
		q.StartAt, _ = bytewise.PrefixEnd(f)
	}
	var page MultipartPage
	n := 0
	for {
		want := o.Limit - n + 1
		q.Limit = want
		qctx, cancel := m.s.bounded(ctx)
		ups, err := m.store.ListMultipart(qctx, q)
		cancel()
		if err != nil {
			return MultipartPage{}, fmt.Errorf("upload: listing multipart uploads: %w", blob.Classify(err))
		}
		folded := false
		for _, u := range ups {
			if n == o.Limit {
				page.Truncated = true
				return page, nil
			}
			n++
			if f, ok := blob.FolderOf(u.BlobID, o.Prefix, o.Delimiter); ok {
				// Go on after the folder, with a query of its own.
				page.Prefixes = append(page.Prefixes, f)
				end, _ := bytewise.PrefixEnd(f)
				q = meta.MultipartQuery{Prefix: scan, StartAt: end, Now: q.Now}
				folded = true
				break
			}
			page.Uploads = append(page.Uploads, u)
			q.AfterKey, q.AfterUploadID = u.BlobID, u.ID
		}
		if !folded && len(ups) < want {
			return page, nil
		}
	}
}
