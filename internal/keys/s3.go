package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// S3 credentials (DESIGN section 9). A key made with [Spec.S3] also signs
// S3 requests: its access key id is its key id, and its secret access key
// is 30 random bytes (240 bits) in unpadded base64url, shown once at
// creation. AWS Signature V4 needs the secret itself to check a signature,
// so it cannot be kept only as a hash: it is sealed with AES-256-GCM under
// the keyring's S3 key ([Options.S3Key], which the server derives from
// its signing key), the key id bound in as additional data, and stored
// sealed ([Key.S3Sealed]). The database alone never reveals it.

const s3SecretBytes = 30

// ErrNoS3Key means S3 credentials were asked for on a keyring without an
// S3 key ([Options.S3Key]).
var ErrNoS3Key = errors.New("keys: S3 credentials are not enabled")

// Secrets are the secrets of a key just made: known only then.
type Secrets struct {
	// Token is the bearer token, sd_<key id>_<secret>.
	Token string
	// S3SecretAccessKey is the secret access key of a key made with
	// [Spec.S3]; its access key id is the key's id.
	S3SecretAccessKey string
}

// aead returns the cipher sealing S3 secrets, or [ErrNoS3Key].
func (k *Keyring) aead() (cipher.AEAD, error) {
	if len(k.s3Key) != 32 {
		return nil, ErrNoS3Key
	}
	b, err := aes.NewCipher(k.s3Key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// sealS3 returns a fresh S3 secret access key for the key id and its
// sealed form.
func (k *Keyring) sealS3(id string) (secret, sealed string, err error) {
	a, err := k.aead()
	if err != nil {
		return "", "", err
	}
	raw := make([]byte, s3SecretBytes)
	rand.Read(raw)
	secret = base64.RawURLEncoding.EncodeToString(raw)
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(secret)+a.Overhead())
	rand.Read(nonce)
	return secret, base64.RawStdEncoding.EncodeToString(a.Seal(nonce, nonce, []byte(secret), []byte(id))), nil
}

// openS3 returns the S3 secret access key sealed in key.
func (k *Keyring) openS3(key Key) (string, error) {
	a, err := k.aead()
	if err != nil {
		return "", err
	}
	b, err := base64.RawStdEncoding.DecodeString(key.S3Sealed)
	if err != nil || len(b) < a.NonceSize() {
		return "", fmt.Errorf("keys: key %s: malformed sealed S3 secret", key.ID)
	}
	secret, err := a.Open(nil, b[:a.NonceSize()], b[a.NonceSize():], []byte(key.ID))
	if err != nil {
		return "", fmt.Errorf("keys: key %s: its S3 secret does not open with this server's key (was SIGNING_KEY changed?)", key.ID)
	}
	return string(secret), nil
}

// S3Secret returns the principal of the key whose S3 access key id is id
// and its S3 secret access key, for verifying a signature. A key that
// does not exist, has no S3 credentials, is revoked or has expired gives
// an error wrapping [ErrInvalidToken]; a store that cannot be reached,
// one wrapping [ErrUnavailable]. Lookups share [Keyring.Authenticate]'s
// cache, so a revocation reaches S3 requests within the cache TTL too.
func (k *Keyring) S3Secret(ctx context.Context, id string) (Principal, string, error) {
	if !ValidID(id) {
		return Principal{}, "", ErrInvalidToken
	}
	key, found, err := k.lookup(ctx, id)
	if err != nil {
		return Principal{}, "", err
	}
	now := k.now()
	if !found || key.S3Sealed == "" || !key.Active(now) {
		return Principal{}, "", ErrInvalidToken
	}
	secret, err := k.openS3(key)
	if err != nil {
		k.log.Warn("an S3 key's secret does not open", "key_id", id, "error", err.Error())
		return Principal{}, "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	k.used(id, now)
	return Principal{KeyID: key.ID, Scopes: key.Scopes, Prefix: key.Prefix, ExpiresAt: key.ExpiresAt}, secret, nil
}
