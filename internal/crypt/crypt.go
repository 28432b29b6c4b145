// Package crypt is envelope encryption of stored bytes: pure streaming
// functions that the blob and upload services apply to what they hand to a
// storage backend. It does no I/O of its own.
//
// # Envelope
//
// Every blob gets a [DataKey] of its own: a random 256-bit AES key and a
// random 7-byte nonce prefix. The data key is wrapped (AES-256-GCM, random
// 96-bit nonce, the master key's id as additional data) by a [MasterKey]
// and the wrapped form is kept with the blob's metadata, beside the master
// key's id. Rotating master keys rewraps data keys ([Rewrap]); no stored
// byte is rewritten. A [KeyProvider] names the master keys; [ParseKeyring]
// builds one from the ENCRYPTION_KEYS syntax.
//
// # Segments
//
// The content is sealed in segments of [SegmentSize] plaintext bytes (the
// last one shorter, and an empty content is one empty segment), each with
// AES-256-GCM and a 16-byte tag, under the nonce of the STREAM construction
// (Hoang, Reyhanitabar, Rogaway, Vizár, 2015):
//
//	nonce = prefix (7 bytes) || segment index (4 bytes, big endian) || last (1 byte: 1 for the final segment, else 0)
//
// The stored bytes are the sealed segments one after the other, nothing
// else ([CiphertextSize]). Because a segment authenticates only under its
// own index and position, a flipped bit, a truncated or extended stream,
// reordered segments and segments spliced from another blob (even one under
// the same key, since its prefix differs) all fail authentication
// ([ErrAuthentication]).
//
// # Guarantees of the readers
//
// [DataKey.DecryptReader] and [DataKey.DecryptRange] release no byte of a
// segment before that segment authenticated, and the final segment of what
// they read only once its input ended where it must; each holds one segment
// in memory. [SegmentRange] maps a plaintext range onto the segments that
// hold it, so a range read fetches and opens only those.
//
// # Key material
//
// Keys are held in types whose String, GoString and Format print no key
// byte, whatever the verb (so neither fmt nor log/slog shows one); raw key
// bytes are zeroed once an AES cipher holds them; no error of this package
// carries key material.
package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

// SegmentSize is the number of plaintext bytes in every segment but the last.
const SegmentSize = 64 << 10

// Overhead is the number of bytes a segment adds to its plaintext (the GCM tag).
const Overhead = 16

// sealedSize is the stored size of a full segment.
const sealedSize = SegmentSize + Overhead

// maxSegments is the number of segments the 32-bit index can name.
const maxSegments = 1 << 32

// MaxPlaintextSize is the longest content one stream can seal (256 TiB).
const MaxPlaintextSize = maxSegments * SegmentSize

// Sizes of the key parts.
const (
	keySize    = 32
	prefixSize = 7
	nonceSize  = prefixSize + 4 + 1
)

// Errors of the package. Callers test with errors.Is.
var (
	// ErrAuthentication means stored bytes failed authentication: they were
	// altered, truncated, extended, reordered or come from another blob, or
	// they are read under the wrong key or size.
	ErrAuthentication = errors.New("crypt: stored bytes failed authentication")
	// ErrUnknownKey means a master key id is not in the configuration.
	ErrUnknownKey = errors.New("crypt: unknown master key")
	// ErrTooLarge means a content is longer than [MaxPlaintextSize].
	ErrTooLarge = errors.New("crypt: content too large")
)

// segments returns the number of segments a content of size bytes is sealed in.
func segments(size int64) int64 {
	if size <= 0 {
		return 1
	}
	return (size + SegmentSize - 1) / SegmentSize
}

// CiphertextSize returns the number of stored bytes for a content of
// plaintextSize bytes: the content plus [Overhead] per segment.
func CiphertextSize(plaintextSize int64) int64 {
	return plaintextSize + segments(plaintextSize)*Overhead
}

// Range is the part of a sealed stream that a plaintext range needs: the
// stored bytes to fetch (whole segments) and how to cut the plaintext out
// of them.
type Range struct {
	// CipherOffset and CipherLength locate the stored bytes to fetch.
	CipherOffset, CipherLength int64
	// first is the index of the first segment fetched.
	first int64
	// Skip is the number of plaintext bytes of the first segment before the range.
	Skip int64
	// Length is the length of the plaintext range.
	Length int64
	// size is the plaintext size of the whole stream.
	size int64
}

// SegmentRange returns the [Range] of stored bytes that hold plaintext bytes
// [offset, offset+length) of a content of plaintextSize bytes. A range
// reaching past the end is cut at the end. It panics unless 0 <= offset <=
// plaintextSize and length >= 0, which callers check first. A range of no
// bytes needs no stored bytes.
func SegmentRange(offset, length, plaintextSize int64) Range {
	if offset < 0 || length < 0 || offset > plaintextSize {
		panic(fmt.Sprintf("crypt: range %d+%d outside a content of %d bytes", offset, length, plaintextSize))
	}
	length = min(length, plaintextSize-offset)
	if length == 0 {
		return Range{size: plaintextSize}
	}
	first := offset / SegmentSize
	last := (offset + length - 1) / SegmentSize
	end := min(CiphertextSize(plaintextSize), (last+1)*sealedSize)
	return Range{
		CipherOffset: first * sealedSize,
		CipherLength: end - first*sealedSize,
		first:        first,
		Skip:         offset - first*SegmentSize,
		Length:       length,
		size:         plaintextSize,
	}
}

// DataKey is the key of one blob's content: an AES-256-GCM key and the
// STREAM nonce prefix. It is made by [NewDataKey] or [MasterKey.Unwrap],
// is safe for concurrent use, and prints no key material.
type DataKey struct {
	aead   cipher.AEAD
	prefix [prefixSize]byte
}

// newDataKey builds a DataKey from raw, the key followed by the nonce
// prefix, and zeroes raw.
func newDataKey(raw []byte) (*DataKey, error) {
	defer clear(raw)
	if len(raw) != keySize+prefixSize {
		return nil, fmt.Errorf("crypt: data key of %d bytes, want %d", len(raw), keySize+prefixSize)
	}
	block, err := aes.NewCipher(raw[:keySize])
	if err != nil {
		return nil, fmt.Errorf("crypt: data key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("crypt: data key: %w", err)
	}
	k := &DataKey{aead: aead}
	copy(k.prefix[:], raw[keySize:])
	return k, nil
}

// nonce writes the nonce of segment index into n.
func (k *DataKey) nonce(n *[nonceSize]byte, index int64, last bool) {
	copy(n[:prefixSize], k.prefix[:])
	binary.BigEndian.PutUint32(n[prefixSize:], uint32(index))
	n[nonceSize-1] = 0
	if last {
		n[nonceSize-1] = 1
	}
}

// String returns a description without key material.
func (k DataKey) String() string { return "crypt.DataKey(redacted)" }

// GoString returns a description without key material.
func (k DataKey) GoString() string { return k.String() }

// Format prints a description without key material, whatever the verb.
func (k DataKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// stateFlag is the last nonce byte of a sealed state: never 0 or 1, the
// flags of segments, so no state shares a nonce with a segment.
const stateFlag = 2

// stateNonceSize is the number of random nonce bytes stored before a
// sealed state.
const stateNonceSize = 4

// SealState seals state, a small secret that goes with the content k
// seals (such as the saved state of a hash of it, which holds plaintext
// bytes), with AES-256-GCM under k for the additional data ad, which must
// be given again to open it. The nonce is k's prefix, 4 random bytes
// (stored in front of the result) and a flag no segment has, so it never
// repeats one of k's segments; seal few states under one data key (a
// 32-bit random part repeats after about 2^16 of them).
func (k *DataKey) SealState(state, ad []byte) []byte {
	var nonce [nonceSize]byte
	copy(nonce[:prefixSize], k.prefix[:])
	rand.Read(nonce[prefixSize : prefixSize+stateNonceSize])
	nonce[nonceSize-1] = stateFlag
	out := append(make([]byte, 0, stateNonceSize+len(state)+Overhead), nonce[prefixSize:prefixSize+stateNonceSize]...)
	return k.aead.Seal(out, nonce[:], state, stateAdditional(ad))
}

// OpenState returns the state [DataKey.SealState] sealed under k for ad,
// or an error wrapping [ErrAuthentication] when sealed was altered or was
// sealed under another key or additional data.
func (k *DataKey) OpenState(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < stateNonceSize+Overhead {
		return nil, fmt.Errorf("%w: sealed state of %d bytes", ErrAuthentication, len(sealed))
	}
	var nonce [nonceSize]byte
	copy(nonce[:prefixSize], k.prefix[:])
	copy(nonce[prefixSize:], sealed[:stateNonceSize])
	nonce[nonceSize-1] = stateFlag
	state, err := k.aead.Open(nil, nonce[:], sealed[stateNonceSize:], stateAdditional(ad))
	if err != nil {
		return nil, fmt.Errorf("%w: sealed state", ErrAuthentication)
	}
	return state, nil
}

// stateAdditional is the additional data of a sealed state: the format and ad.
func stateAdditional(ad []byte) []byte {
	return append([]byte("simpledrive crypt state v1\x00"), ad...)
}
