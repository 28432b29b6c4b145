// Package meta is the contract between the services and the database that
// holds blob metadata: one interface per role ([RecordStore] for blob
// records, [GarbageStore], [LeaseStore], [UploadStore], [MultipartStore],
// [Everyday]; [Store] is all of them), the values they keep, and the
// sentinel errors implementations
// wrap. The services reach SQL only through it, so their protocols can be
// tested against stores that fail on purpose, and every implementation
// passes each role's conformance suite (package metatest).
//
// # Guarantees
//
// A RecordStore is the arbiter of ids: of concurrent inserts of one id,
// from one process or from replicas sharing a database, exactly one
// succeeds. Ids compare bytewise, and listings are in bytewise order on
// every engine.
package meta

import (
	"context"
	"errors"
	"time"
)

// Record is the metadata of one stored blob.
type Record struct {
	// ID is the client's id, exactly as sent.
	ID string
	// Size is the number of bytes.
	Size int64
	// SHA256 is the lowercase hex SHA-256 of the bytes.
	SHA256 string
	// CRC32C is the CRC-32C (Castagnoli) of the bytes, when HasCRC32C:
	// records written before it was kept have none.
	CRC32C    uint32
	HasCRC32C bool
	// ContentType is the media type the blob was stored with.
	ContentType string
	// MD5 is the blob's S3 ETag, when it was written by the S3 front door
	// (DESIGN section 9): the lowercase hex MD5 of the bytes, or for a
	// multipart upload the hex MD5 of its parts' MD5s, "-" and the
	// number of parts. Empty for blobs written by the other protocols.
	MD5 string
	// S3Headers are the headers an S3 PutObject stored with the blob
	// (x-amz-meta-*, Cache-Control, Content-Disposition,
	// Content-Encoding, Content-Language, Expires), as a JSON object of
	// header names to values, returned on every GET and HEAD; empty for
	// none.
	S3Headers string
	// Backend names the storage backend that holds the bytes.
	Backend string
	// StorageKey is the key of the bytes in that backend: unique to this
	// version of the blob, on [InlineBackend] too, where no backend holds
	// bytes under it.
	StorageKey string
	// CreatedAt is when the blob was stored, in UTC, to the microsecond.
	CreatedAt time.Time
	// KeyID names the master key that wraps WrappedKey when the bytes are
	// encrypted at rest (ENCRYPTION_KEYS); empty when they are in clear.
	KeyID string
	// WrappedKey is the data key that sealed the bytes, wrapped under the
	// master key KeyID (package crypt), as bytes in a string (so records
	// stay comparable); empty when they are in clear.
	WrappedKey string
	// Data is the blob's bytes themselves when Backend is [InlineBackend]
	// (INLINE_MAX_BYTES): [RecordStore.Get] returns them, listings leave
	// them out. Empty for every other record.
	Data string
}

// InlineBackend is the Backend of a record that holds its blob's bytes in
// its Data, in the metadata database, rather than on a storage backend.
// Such a record's bytes are never garbage: a write that drops them (Delete,
// Move, Replace) records nothing for a collector. No STORAGE_BACKEND has
// this name.
const InlineBackend = "inline"

// Garbage is a storage key whose bytes no record references any more, to be
// deleted from its backend once its grace period has passed.
type Garbage struct {
	// Backend names the storage backend that holds the bytes.
	Backend string
	// StorageKey is the key of the bytes in that backend.
	StorageKey string
	// NotBefore is when the bytes may be deleted: until then a read that
	// began before the record went away may still be streaming them.
	NotBefore time.Time
}

// ListQuery selects the records of one page of a listing.
type ListQuery struct {
	// Prefix is what every id starts with.
	Prefix string
	// StartAfter, when set, is below every id listed.
	StartAfter string
	// StartAt, when set, is at or below every id listed.
	StartAt string
	// Delimiter, when set, folds folders: of the ids that hold Delimiter
	// after Prefix, the ones that agree up to and including its first
	// occurrence (a "folder") are returned as one record, the folder's
	// first, and the listing goes on after the folder's last id, in one
	// index seek. Delimiter must be valid UTF-8 that does not end in
	// U+10FFFF.
	Delimiter string
	// Limit is the most records returned; it must be positive.
	Limit int
}

// Store is every role of the metadata database, as one SQL store plays
// them all; consumers take the narrowest role they need. Implementations
// are safe for concurrent use.
type Store interface {
	RecordStore
	GarbageStore
	LeaseStore
	MultipartStore
	Everyday
}

// CachedGetter is a [RecordStore] that can answer some Gets from memory,
// at once: GetCached returns the record of id, as Get would return it now,
// when it can do so without waiting on anything (ok false: call Get).
type CachedGetter interface {
	GetCached(id string) (r Record, ok bool)
}

// RecordStore keeps the records of blobs: the service's creates, reads,
// deletes and listings, fsck's repairs and migration's moves. A write that
// drops a record's bytes (Delete, Move) records them as [Garbage] in the
// same transaction, unless the record held them itself ([InlineBackend]).
type RecordStore interface {
	// Insert records r unless a record with r.ID exists, and reports
	// whether it did. An error wrapping [ErrOutcomeUnknown] means the
	// insert may or may not have been committed: only a later
	// [RecordStore.Get] can tell.
	Insert(ctx context.Context, r Record) (inserted bool, err error)

	// Get returns the record of id, or an error wrapping [ErrNotFound].
	Get(ctx context.Context, id string) (Record, error)

	// Delete removes the record of id and, in the same transaction, records
	// its storage key as [Garbage] not to be collected before notBefore. It
	// returns the removed record (without its Data), or an error wrapping
	// [ErrNotFound].
	Delete(ctx context.Context, id string, notBefore time.Time) (Record, error)

	// List returns up to q.Limit records matching q, in bytewise order of
	// id, without their Data. Fewer than q.Limit records means the listing is complete. One
	// call is one statement whose cost grows with q.Limit, not with the
	// number of ids a folder of q.Delimiter holds.
	List(ctx context.Context, q ListQuery) ([]Record, error)

	// Move points the record of id at toKey in toBackend, only if it
	// still references from's bytes (from.Backend, from.StorageKey): a
	// compare-and-swap in one statement, so a blob deleted or created
	// again meanwhile is never touched. The record keeps no Data after it
	// (toBackend is never [InlineBackend]). In the same transaction it records
	// from's key as [Garbage] not to be collected before notBefore. It
	// reports whether it moved the record.
	Move(ctx context.Context, id string, from Record, toBackend, toKey string, notBefore time.Time) (bool, error)

	// DeleteStale removes the record of id only if it still references
	// storageKey, without recording garbage (the bytes are gone), and
	// reports whether it did. fsck --repair uses it, so that a blob deleted
	// and created again meanwhile is never removed.
	DeleteStale(ctx context.Context, id, storageKey string) (bool, error)

	// Rewrap records each rewrapping's data key, in one transaction: each
	// one only if its record still references the same bytes
	// (From.Backend, From.StorageKey) under the same wrapped key
	// (From.KeyID, From.WrappedKey), a compare-and-swap per row, by which
	// master keys rotate without rewriting bytes. It reports, in order,
	// which it did.
	Rewrap(ctx context.Context, rs []Rewrapping[Record]) ([]bool, error)

	// PartKeys returns up to limit parts of unfinished uploads (tus parts,
	// then S3 multipart parts) that are encrypted under a master key other
	// than keyID, in that order, from the first after after (the zero
	// PartKey starts).
	PartKeys(ctx context.Context, keyID string, after PartKey, limit int) ([]PartKey, error)

	// RewrapParts is [RecordStore.Rewrap] for parts, one transaction for
	// each table: each only if the part still has From's storage key and
	// wrapped key.
	RewrapParts(ctx context.Context, rs []Rewrapping[PartKey]) ([]bool, error)

	// KeyIDs returns the master key ids the records and the parts of
	// unfinished uploads reference, each once, in ascending order.
	KeyIDs(ctx context.Context) ([]string, error)

	// SetCRC32C records crc as the CRC-32C of the record of id only if it
	// still references storageKey and has none, and reports whether it
	// did. fsck --repair uses it for records written before the CRC-32C
	// was kept.
	SetCRC32C(ctx context.Context, id, storageKey string, crc uint32) (bool, error)
}

// GarbageStore keeps the storage keys whose bytes are to be deleted, and
// tells the collector which keys anything still references.
type GarbageStore interface {
	// AddGarbage records keys whose bytes are to be collected.
	AddGarbage(ctx context.Context, g Garbage) error

	// DueGarbage returns up to limit recorded keys of backend whose
	// NotBefore is not after now, oldest first.
	DueGarbage(ctx context.Context, backend string, now time.Time, limit int) ([]Garbage, error)

	// ForgetGarbage removes a recorded key once its bytes are gone. A key
	// not recorded is not an error.
	ForgetGarbage(ctx context.Context, backend, storageKey string) error

	// Referenced reports which of keys, all storage keys of backend, are
	// referenced by anything the store knows: a record, a recorded
	// [Garbage] key (its own collector removes it once due), and the
	// parts of uploads. The map holds true for each referenced key and
	// nothing else. One call is one round trip, whatever the number of
	// keys (up to [MaxReferencedKeys]).
	Referenced(ctx context.Context, backend string, keys []string) (map[string]bool, error)
}

// LeaseStore keeps named leases, by which replicas sharing a database take
// turns (the garbage collector's runs).
type LeaseStore interface {
	// AcquireLease takes or renews the lease called name for holder until
	// expires, and reports whether holder has it: true when the lease was
	// free, had expired by now, or was holder's already. Of concurrent
	// calls by different holders, at most one gets a live lease.
	AcquireLease(ctx context.Context, name, holder string, now, expires time.Time) (bool, error)

	// ReleaseLease gives up the lease called name if holder has it.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Everyday is what a [Store] does for the everyday operations of DESIGN
// section 12: replace, rename and usage.
type Everyday interface {
	// Replace switches the record of old.ID to r (same id) only if it
	// still references old's bytes (old.Backend, old.StorageKey): a
	// compare-and-swap in one statement. In the same transaction it
	// records old's key as [Garbage] not to be collected before
	// notBefore. It reports whether it switched the record; an error
	// wrapping [ErrOutcomeUnknown] means it may have.
	Replace(ctx context.Context, old, r Record, notBefore time.Time) (bool, error)

	// Rename gives the record of from the id to, in one transaction,
	// keeping everything else (the bytes do not move). It returns the
	// renamed record, an error wrapping [ErrNotFound] when from has no
	// record, or one wrapping [ErrExists] when to has one.
	Rename(ctx context.Context, from, to string) (Record, error)

	// Usage counts the records and unfinished uploads whose ids start
	// with prefix, and every recorded [Garbage] key.
	Usage(ctx context.Context, prefix string) (Usage, error)
}

// Usage is what a [Store] holds, as [Everyday.Usage] counts it.
type Usage struct {
	// Blobs and Bytes count the records under the prefix and their sizes.
	Blobs, Bytes int64
	// Uploads and UploadBytes count the unfinished uploads under the
	// prefix and the bytes they have received.
	Uploads, UploadBytes int64
	// GarbageKeys counts the keys awaiting collection, whatever their id
	// was: garbage no longer knows it.
	GarbageKeys int64
}

// MaxReferencedKeys is the most keys one [GarbageStore.Referenced] call
// takes.
const MaxReferencedKeys = 1000

// Sentinel errors. Stores wrap them; callers test with errors.Is.
var (
	// ErrNotFound means no record has the id.
	ErrNotFound = errors.New("meta: no such record")
	// ErrExists means a record has the id already.
	ErrExists = errors.New("meta: record exists")
	// ErrUnavailable means the database cannot be reached now; the same
	// call may succeed later.
	ErrUnavailable = errors.New("meta: database unavailable")
	// ErrInsufficientStorage means the database's disk or quota is full.
	ErrInsufficientStorage = errors.New("meta: database disk full")
	// ErrOutcomeUnknown means a write may or may not have been committed
	// (the connection failed after the statement was sent).
	ErrOutcomeUnknown = errors.New("meta: outcome of the write unknown")
)

// Rewrapping is a data key wrapped anew: From, a record or a [PartKey] as
// it was read, and its data key wrapped under the master key ToKeyID.
type Rewrapping[T Record | PartKey] struct {
	From             T
	ToKeyID, Wrapped string
}

// PartKey is the wrapped data key of one encrypted part of an unfinished
// upload.
type PartKey struct {
	// Multipart is true for an S3 multipart part (Seq its part number),
	// false for a tus part.
	Multipart bool
	UploadID  string
	Seq       int
	// StorageKey, KeyID and WrappedKey are the part's.
	StorageKey, KeyID, WrappedKey string
}
