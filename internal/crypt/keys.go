package crypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
)

// KeyProvider is where master keys come from: the environment and a file
// ([ParseKeyring], [ReadKeyringFile]) today, a KMS or Vault later, without
// touching the services. Implementations are safe for concurrent use.
type KeyProvider interface {
	// Current returns the master key new data keys are wrapped under.
	Current() *MasterKey
	// Key returns the master key named id, or an error wrapping
	// [ErrUnknownKey] that names id.
	Key(id string) (*MasterKey, error)
}

// MasterKey is a named AES-256-GCM key that wraps data keys. It is safe for
// concurrent use and prints its id only.
type MasterKey struct {
	id   string
	aead cipher.AEAD // GCM with random nonces
}

// wrapVersion is the first byte of a wrapped data key: the version of the
// wrapping and of the segment format the data key seals.
const wrapVersion = 1

// WrappedSize is the length of a wrapped data key: the version byte, the
// 12-byte random nonce, the sealed key and prefix, and the 16-byte tag.
const WrappedSize = 1 + 12 + keySize + prefixSize + Overhead

// newMasterKey builds the master key id from raw, which it zeroes.
func newMasterKey(id string, raw []byte) (*MasterKey, error) {
	defer clear(raw)
	if len(raw) != keySize {
		return nil, fmt.Errorf("crypt: master key %q has %d bytes, want %d", id, len(raw), keySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("crypt: master key %q: %w", id, err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("crypt: master key %q: %w", id, err)
	}
	return &MasterKey{id: id, aead: aead}, nil
}

// ID returns the master key's id, which is stored beside every data key it
// wraps.
func (m *MasterKey) ID() string { return m.id }

// additional is the additional data of a wrapping: the format and the
// master key's id, so a wrapped key relabelled with another id fails.
func (m *MasterKey) additional() []byte {
	return append([]byte("simpledrive crypt data key v1\x00"), m.id...)
}

// NewDataKey returns a fresh random data key and its wrapped form
// ([WrappedSize] bytes) under m, to store with the blob's metadata.
func (m *MasterKey) NewDataKey() (*DataKey, []byte) {
	raw := make([]byte, keySize+prefixSize)
	rand.Read(raw)
	wrapped := m.wrap(raw)
	k, err := newDataKey(raw)
	if err != nil {
		panic(err) // unreachable: raw has the right length
	}
	return k, wrapped
}

func (m *MasterKey) wrap(raw []byte) []byte {
	return m.aead.Seal([]byte{wrapVersion}, nil, raw, m.additional())
}

// unwrapRaw returns the raw data key wrapped in wrapped; the caller zeroes it.
func (m *MasterKey) unwrapRaw(wrapped []byte) ([]byte, error) {
	if len(wrapped) != WrappedSize || wrapped[0] != wrapVersion {
		return nil, fmt.Errorf("%w: not a wrapped data key of version %d", ErrAuthentication, wrapVersion)
	}
	raw, err := m.aead.Open(nil, nil, wrapped[1:], m.additional())
	if err != nil {
		return nil, fmt.Errorf("%w: data key does not open under master key %q", ErrAuthentication, m.id)
	}
	return raw, nil
}

// Unwrap returns the data key wrapped under m. A wrapped key altered, or
// wrapped under another master key, gives an error wrapping
// [ErrAuthentication].
func (m *MasterKey) Unwrap(wrapped []byte) (*DataKey, error) {
	raw, err := m.unwrapRaw(wrapped)
	if err != nil {
		return nil, err
	}
	return newDataKey(raw)
}

// Rewrap returns the data key wrapped under from wrapped under to instead:
// the same data key, so the bytes it sealed need no change.
func Rewrap(from, to *MasterKey, wrapped []byte) ([]byte, error) {
	raw, err := from.unwrapRaw(wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	return to.wrap(raw), nil
}

// String returns a description naming the id only.
func (m MasterKey) String() string { return fmt.Sprintf("crypt.MasterKey(%q, redacted)", m.id) }

// GoString returns a description naming the id only.
func (m MasterKey) GoString() string { return m.String() }

// Format prints a description naming the id only, whatever the verb.
func (m MasterKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(m.String())) }

// Keyring is a [KeyProvider] over a fixed list of master keys, the first
// one current.
type Keyring struct {
	keys []*MasterKey
}

var _ KeyProvider = (*Keyring)(nil)

// ParseKeyring parses the ENCRYPTION_KEYS syntax: entries "id:key"
// separated by commas or white space, each key the standard base64 of 32
// bytes, each id 1 to 64 ASCII letters, digits, '.', '_' or '-', no id
// twice, at least one entry. The first entry is the current key. It keeps
// no reference to spec, which the caller may zero; its errors name ids and
// entry positions, never key material.
func ParseKeyring(spec []byte) (*Keyring, error) {
	fields := bytes.FieldsFunc(spec, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	if len(fields) == 0 {
		return nil, fmt.Errorf("crypt: no master keys")
	}
	ring := &Keyring{}
	for i, f := range fields {
		rawID, b64, ok := bytes.Cut(f, []byte(":"))
		if !ok {
			return nil, fmt.Errorf("crypt: entry %d is not id:base64-key", i+1)
		}
		id := string(rawID)
		if !validID(id) {
			return nil, fmt.Errorf("crypt: entry %d: id must be 1 to 64 letters, digits, '.', '_' or '-'", i+1)
		}
		if _, err := ring.Key(id); err == nil {
			return nil, fmt.Errorf("crypt: master key %q is listed twice", id)
		}
		raw := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
		n, err := base64.StdEncoding.Decode(raw, b64)
		if err != nil {
			clear(raw)
			return nil, fmt.Errorf("crypt: master key %q is not standard base64", id)
		}
		clear(raw[n:])
		k, err := newMasterKey(id, raw[:n])
		if err != nil {
			return nil, err
		}
		ring.keys = append(ring.keys, k)
	}
	return ring, nil
}

// ReadKeyringFile parses the file at path (ENCRYPTION_KEYS_FILE) as
// [ParseKeyring] does, and zeroes what it read.
func ReadKeyringFile(path string) (*Keyring, error) {
	spec, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("crypt: reading master keys: %w", err)
	}
	defer clear(spec)
	return ParseKeyring(spec)
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Current returns the first key of the list.
func (r *Keyring) Current() *MasterKey { return r.keys[0] }

// Key returns the key named id, or an error wrapping [ErrUnknownKey].
func (r *Keyring) Key(id string) (*MasterKey, error) {
	for _, k := range r.keys {
		if k.id == id {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownKey, id)
}
