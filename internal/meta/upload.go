package meta

import (
	"context"
	"fmt"
	"time"
)

// LimitError is the refusal of [UploadStore.CreateUploadWithin]: Creator,
// or every creator together when Creator is "", holds Limit open uploads.
type LimitError struct {
	Creator string
	Limit   int
}

func (e *LimitError) Error() string {
	if e.Creator == "" {
		return fmt.Sprintf("meta: the server holds %d open uploads, the limit", e.Limit)
	}
	return fmt.Sprintf("meta: creator %q holds %d open uploads, the limit", e.Creator, e.Limit)
}

// Upload is the state of one resumable upload: what the client declared
// at creation and how far its bytes have come. The bytes of a tus upload
// received so far are [Part]s in the storage backend, in order; those of
// an S3 multipart upload are [MultipartPart]s, numbered by the client.
type Upload struct {
	// ID is the upload's id, made by the server (the last segment of its
	// URL, or S3's uploadId).
	ID string
	// Kind is the protocol the upload belongs to, [KindTus] or
	// [KindMultipart]; each protocol finds only its own uploads. Empty
	// means [KindTus] in CreateUpload.
	Kind string
	// BlobID is the id of the blob the upload becomes.
	BlobID string
	// ContentType is the media type the blob is to be stored with.
	ContentType string
	// Length is the blob's size, or -1 while the client defers it.
	Length int64
	// Offset is how many bytes are stored, in the committed parts.
	Offset int64
	// Metadata is the Upload-Metadata header as the client sent it (tus),
	// or the checksum algorithm the client declared for its parts (S3
	// multipart: "" or "CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256").
	Metadata string
	// Backend names the storage backend that holds the parts.
	Backend string
	// Creator names the principal that created the upload (an API key's
	// id, or "operator"); open uploads are counted by creator.
	Creator string
	// Finished is set once the upload has become its blob; the record then
	// stays, without parts, until it expires, so that a client asking for
	// the offset learns that it is complete.
	Finished bool
	// CreatedAt is when the upload was created, in UTC, to the microsecond.
	CreatedAt time.Time
	// ExpiresAt is when an unfinished upload is abandoned and collected.
	ExpiresAt time.Time
	// LeaseOwner is the owner of the upload's lease, "" when it was never
	// taken or was released; the lease may have expired. [UploadStore]
	// sets it on reading; CreateUpload takes the owner apart.
	LeaseOwner string
}

// The kinds of upload.
const (
	KindTus       = "tus"
	KindMultipart = "s3"
)

// Part is the bytes of one write of an upload, stored under a key of their
// own.
type Part struct {
	// Seq orders the parts of an upload, from 0.
	Seq int
	// StorageKey is the key of the bytes in the upload's backend.
	StorageKey string
	// Size is the number of bytes.
	Size int64
	// Digest is the saved state of the digest of the upload's bytes up to
	// the end of this part, opaque to the store; nil for parts written
	// before it was kept.
	Digest []byte
	// KeyID and WrappedKey are the master key's id and the wrapped data
	// key that sealed the bytes (package crypt), both empty for bytes in
	// clear.
	KeyID, WrappedKey string
}

// UploadStore keeps the state of resumable uploads.
//
// Every write that changes an upload's bytes is fenced twice: by the lease
// of the writer (whose owner is a random token of the request holding it)
// and by the offset the writer started from. A writer whose lease expired,
// or who lost a race, changes nothing, so two writers can never interleave
// their bytes, even when a lease outlives a paused process.
type UploadStore interface {
	// CreateUpload records u, leased to owner until leaseUntil (owner ""
	// creates it unleased). The id is fresh: a duplicate is an error.
	CreateUpload(ctx context.Context, u Upload, owner string, leaseUntil time.Time) error

	// GetUpload returns the upload id, or an error wrapping [ErrNotFound].
	GetUpload(ctx context.Context, id string) (Upload, error)

	// CreateUploadWithin records u unleased, like CreateUpload, unless at
	// u.CreatedAt u.Creator already holds perCreator open (not finished,
	// not expired) uploads (when perCreator > 0 and u.Creator is not ""),
	// or every creator together holds total (when total > 0): then it
	// records nothing and returns a [*LimitError]. Counting and inserting
	// are atomic, across replicas too: concurrent creations never pass a
	// bound. The cost of the counts is bounded by the bounds.
	CreateUploadWithin(ctx context.Context, u Upload, perCreator, total int) error

	// LeaseUpload takes or renews the lease of upload id for owner until
	// until, and reports whether owner now holds it: it does unless another
	// owner's lease runs past now. A missing upload gives [ErrNotFound].
	LeaseUpload(ctx context.Context, id, owner string, now, until time.Time) (bool, error)

	// ReleaseUpload gives up owner's lease of upload id; a lease owner
	// does not hold (any more) is not an error.
	ReleaseUpload(ctx context.Context, id, owner string) error

	// UploadParts returns the committed parts of upload id, in order.
	UploadParts(ctx context.Context, id string) ([]Part, error)

	// AppendPart commits p as the next part of upload id, raising its
	// offset from offset to offset+p.Size and its expiry to expiresAt,
	// when owner holds the lease and the offset is still offset; it
	// reports whether it did. length, when not negative, also sets a
	// deferred length (it must not be below the new offset). A p without
	// a StorageKey records no part: a write that only declares the length.
	AppendPart(ctx context.Context, id, owner string, offset, length int64, p Part, expiresAt time.Time) (bool, error)

	// FinishUpload marks upload id finished at offset length when owner
	// holds the lease, releasing it, and, in the same transaction, forgets
	// its parts and records their keys, with extra (parts never committed),
	// as [Garbage] due at notBefore. It reports whether it did.
	FinishUpload(ctx context.Context, id, owner string, length int64, extra []string, notBefore time.Time) (bool, error)

	// DeleteUpload removes upload id and its parts when owner holds the
	// lease (or nobody does), recording the parts' keys as [Garbage] due
	// at notBefore in the same transaction. A missing upload gives
	// [ErrNotFound]; a lease held by another owner gives false.
	DeleteUpload(ctx context.Context, id, owner string, now, notBefore time.Time) (bool, error)

	// ExpireUploads removes up to limit uploads whose expiry is not after
	// now and whose lease has run out, with their parts, recording the
	// parts' keys as [Garbage] due at now; it returns how many it removed.
	ExpireUploads(ctx context.Context, now time.Time, limit int) (int, error)
}
