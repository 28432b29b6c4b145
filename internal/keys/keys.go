// Package keys manages Simple Drive's API keys (DESIGN section 8): bearer
// tokens with scopes, an optional id prefix they are confined to and an
// optional expiry, kept in the metadata database so that every replica
// sees the same keys.
//
// # Tokens
//
// A key is shown once, at creation, as the token sd_<key id>_<secret>: the
// key id is 20 lowercase hex digits (never an underscore), the secret 32
// random bytes in unpadded base64url. The database keeps the SHA-256 of the
// secret, never the secret. A token is checked by looking its key up by id,
// then comparing the SHA-256 of the presented secret with the stored one in
// constant time.
//
// No slow password hash (bcrypt, scrypt, Argon2) is needed: those make
// guessing a low-entropy password from its leaked hash expensive, but a
// secret of 256 uniformly random bits cannot be guessed from its SHA-256
// (2^255 trials on average, whatever each costs). A slow hash would only
// cost milliseconds of CPU on every request, which an attacker with
// invalid tokens could turn against the server.
//
// # Cache and revocation
//
// A [Keyring] keeps each key it looked up for at most its cache TTL
// (five seconds or less), measured from the moment the lookup began, so a
// key revoked on any replica is refused by every replica within that TTL
// without a query per request. Expiry is checked on every request against
// the clock. The time a key was last used is written at most once a minute
// per key and per replica, in the background, off the request's path.
//
// # Store
//
// [Store] is the contract with the database; package sqlkeys implements it
// over SQLite and PostgreSQL, and package keystest is the conformance suite
// every implementation passes.
package keys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scope is a set of rights, as a bit set.
type Scope uint8

// The scopes. [All] holds every one: the operator's API_TOKEN has it.
const (
	// Read allows GET and HEAD of blobs, listings and signed links.
	Read Scope = 1 << iota
	// Write allows creating blobs: POST, PUT and tus uploads.
	Write
	// Delete allows DELETE of blobs.
	Delete
	// Admin allows managing keys (/v1/keys).
	Admin

	All = Read | Write | Delete | Admin
)

var scopeNames = []struct {
	s    Scope
	name string
}{{Read, "read"}, {Write, "write"}, {Delete, "delete"}, {Admin, "admin"}}

// Has reports whether s holds every right of want.
func (s Scope) Has(want Scope) bool { return s&want == want }

// Names returns the names of the scopes in s, in the order read, write,
// delete, admin.
func (s Scope) Names() []string {
	names := []string{}
	for _, n := range scopeNames {
		if s.Has(n.s) {
			names = append(names, n.name)
		}
	}
	return names
}

// String returns the names of s separated by spaces.
func (s Scope) String() string { return strings.Join(s.Names(), " ") }

// ParseScopes returns the scope named by names (read, write, delete,
// admin). An unknown name, or none at all, is an error wrapping
// [ErrInvalid].
func ParseScopes(names []string) (Scope, error) {
	var s Scope
	for _, name := range names {
		i := slices.IndexFunc(scopeNames, func(n struct {
			s    Scope
			name string
		}) bool {
			return n.name == name
		})
		if i < 0 {
			return 0, fmt.Errorf("%w: unknown scope %q; valid: read, write, delete, admin", ErrInvalid, name)
		}
		s |= scopeNames[i].s
	}
	if s == 0 {
		return 0, fmt.Errorf("%w: a key needs at least one scope", ErrInvalid)
	}
	return s, nil
}

// Key is one API key as stored: never its secret.
type Key struct {
	// ID identifies the key; it is the middle part of its token and is
	// safe to log.
	ID string
	// Name is the operator's label for the key.
	Name string
	// SecretHash is the SHA-256 of the token's secret.
	SecretHash [32]byte
	// Scopes are the key's rights.
	Scopes Scope
	// Prefix, when not empty, confines the key to blob ids starting with
	// it.
	Prefix string
	// CreatedAt is when the key was made, in UTC, to the microsecond.
	CreatedAt time.Time
	// ExpiresAt, when not zero, is when the key stops working.
	ExpiresAt time.Time
	// RevokedAt, when not zero, is when the key was revoked.
	RevokedAt time.Time
	// LastUsedAt, when not zero, is about when the key was last used: it
	// is written at most once a minute.
	LastUsedAt time.Time
	// S3Sealed, when not empty, is the key's S3 secret access key, sealed
	// (see [Keyring.S3Secret]); empty for a key without S3 credentials.
	S3Sealed string
}

// Active reports whether k is neither revoked nor expired at now.
func (k Key) Active(now time.Time) bool {
	return k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

// Store keeps API keys. Implementations are safe for concurrent use.
type Store interface {
	// Insert records k. A key with k.ID already recorded is an error
	// wrapping [ErrExists].
	Insert(ctx context.Context, k Key) error

	// Get returns the key with id, revoked and expired ones included, or
	// an error wrapping [ErrNotFound].
	Get(ctx context.Context, id string) (Key, error)

	// List returns every key, revoked and expired ones included, oldest
	// first (ties by id).
	List(ctx context.Context) ([]Key, error)

	// Revoke marks the key with id revoked at at, unless it already is
	// (the first revocation time stays). A missing key is an error
	// wrapping [ErrNotFound].
	Revoke(ctx context.Context, id string, at time.Time) error

	// Touch records that the key with id was used at at, unless a later
	// use is already recorded. A missing key is not an error.
	Touch(ctx context.Context, id string, at time.Time) error
}

// Sentinel errors. Stores and the [Keyring] wrap them; callers test with
// errors.Is.
var (
	// ErrNotFound means no key has the id.
	ErrNotFound = errors.New("keys: no such key")
	// ErrExists means a key with the id is already recorded.
	ErrExists = errors.New("keys: key id taken")
	// ErrInvalid means a key's specification is invalid (scopes, name,
	// prefix, expiry).
	ErrInvalid = errors.New("keys: invalid key")
	// ErrInvalidToken means a token is not the token of an active key:
	// malformed, unknown, wrong secret, revoked or expired.
	ErrInvalidToken = errors.New("keys: invalid token")
	// ErrUnavailable means the database cannot be reached now; the same
	// call may succeed later.
	ErrUnavailable = errors.New("keys: database unavailable")
)
