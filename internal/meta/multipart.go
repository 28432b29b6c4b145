package meta

import (
	"context"
	"time"
)

// MultipartPart is one part of an S3 multipart upload: the bytes of one
// UploadPart, stored under a key of their own. Parts arrive in any order,
// in parallel, on any replica; a part sent again under its number replaces
// the earlier one.
type MultipartPart struct {
	// Number is the client's part number, 1 to 10,000.
	Number int
	// StorageKey is the key of the bytes in the upload's backend.
	StorageKey string
	// Size is the number of bytes.
	Size int64
	// MD5 is the lowercase hex MD5 of the bytes: the part's ETag.
	MD5 string
	// Checksum is the checksum the client sent with the part, verified,
	// as "<ALGORITHM>:<base64>" (S3's x-amz-checksum-<algorithm>), or "".
	Checksum string
	// CreatedAt is when the part was stored, in UTC, to the microsecond.
	CreatedAt time.Time
	// KeyID and WrappedKey are the master key's id and the wrapped data
	// key that sealed the bytes (package crypt), both empty for bytes in
	// clear.
	KeyID, WrappedKey string
}

// MultipartQuery selects one page of open S3 multipart uploads, in order
// of blob id (bytewise), then of upload id.
type MultipartQuery struct {
	// Prefix is what every blob id starts with.
	Prefix string
	// StartAt, when set, is at or below every blob id listed.
	StartAt string
	// AfterKey and AfterUploadID, when AfterKey is set, are below every
	// upload listed: the uploads of blob id AfterKey whose ids are above
	// AfterUploadID (none when AfterUploadID is empty), then those of the
	// blob ids above it.
	AfterKey, AfterUploadID string
	// Now excludes the uploads expired by then.
	Now time.Time
	// Limit is the most uploads returned; it must be positive.
	Limit int
}

// MultipartStore keeps the parts of S3 multipart uploads, whose state is
// an [Upload] of [KindMultipart] in the [UploadStore]: created,
// leased (while it is being completed), finished and deleted as tus
// uploads are, its parts recorded as [Garbage] when it is finished,
// deleted or expired, and referenced until then
// ([GarbageStore.Referenced]).
type MultipartStore interface {
	UploadStore

	// PutPart commits p as part p.Number of the multipart upload id,
	// raising its expiry to expiresAt and its offset (the bytes its
	// parts hold) by p.Size, only while the upload is unfinished,
	// unexpired at now and not leased (a lease is taken to complete it):
	// a part committed is one its completion sees. A part of the same
	// number is replaced, its key recorded as [Garbage] due at notBefore,
	// in the same transaction. It reports whether it committed p.
	PutPart(ctx context.Context, id string, p MultipartPart, now, expiresAt, notBefore time.Time) (bool, error)

	// MultipartParts returns up to limit parts of upload id numbered above
	// after, in order of number.
	MultipartParts(ctx context.Context, id string, after, limit int) ([]MultipartPart, error)

	// ListMultipart returns up to q.Limit unfinished, unexpired uploads
	// of [KindMultipart] matching q, in order of blob id (bytewise), then
	// of upload id. One call is one index range scan.
	ListMultipart(ctx context.Context, q MultipartQuery) ([]Upload, error)
}
