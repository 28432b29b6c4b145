package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

const (
	tokenPrefix = "sd_"
	idBytes     = 10 // 20 hex digits
	secretBytes = 32 // 256 bits
)

// newID returns a fresh random key id.
func newID() string {
	b := make([]byte, idBytes)
	rand.Read(b) // never fails (crypto/rand panics if the OS cannot give randomness)
	return hex.EncodeToString(b)
}

// newSecret returns a fresh 256-bit secret.
func newSecret() []byte {
	b := make([]byte, secretBytes)
	rand.Read(b)
	return b
}

// formatToken returns the token of key id with secret.
func formatToken(id string, secret []byte) string {
	return tokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret)
}

// parseToken splits a token into its key id and secret; ok is false when
// token does not have the form of a key's token.
func parseToken(token string) (id string, secret []byte, ok bool) {
	rest, found := strings.CutPrefix(token, tokenPrefix)
	if !found {
		return "", nil, false
	}
	id, enc, found := strings.Cut(rest, "_")
	if !found || !ValidID(id) || len(enc) != base64.RawURLEncoding.EncodedLen(secretBytes) {
		return "", nil, false
	}
	secret, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return "", nil, false
	}
	return id, secret, true
}

// IsToken reports whether token has the form of a key's token,
// sd_<key id>_<secret>; it does not say whether the key exists.
func IsToken(token string) bool {
	_, _, ok := parseToken(token)
	return ok
}

// ValidID reports whether id has the form of a key id: 20 lowercase hex
// digits.
func ValidID(id string) bool {
	if len(id) != 2*idBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// hashSecret returns the SHA-256 a Key keeps of its secret.
func hashSecret(secret []byte) [32]byte { return sha256.Sum256(secret) }
