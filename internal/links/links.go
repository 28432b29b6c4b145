// Package links signs and verifies the links that let anyone read one blob
// without a token until they expire (DESIGN section 7).
//
// A link is the blob's alt=media URL plus two query parameters: expires
// (Unix seconds) and sig, the unpadded base64url HMAC-SHA256 of
//
//	"simpledrive-link-v1\n" + method class + "\n" + id + "\n" + expires + "\n" + sha256 + "\n" + created
//
// where the method class is "GET" (a link serves GET and HEAD, nothing
// else), sha256 is the blob's lowercase hex digest and created its
// creation time in Unix microseconds. Binding the blob's digest and
// creation time means a blob deleted and created again under the same id,
// even with the same bytes, is not reachable through an old link.
// Signatures are compared in constant time.
//
// # Key
//
// The key is SIGNING_KEY, or, by default, derived from the operator's
// token with HKDF-SHA256, so replicas that share the token agree on links
// without more configuration. Changing either invalidates every link.
package links

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// ErrInvalid means a link's signature does not verify: it was tampered
// with, made for another blob or method, or has expired.
var ErrInvalid = errors.New("links: invalid signature")

// DefaultMaxExpiry is the longest a link may live unless configured
// (LINK_MAX_EXPIRY).
const DefaultMaxExpiry = 7 * 24 * time.Hour

// Signer makes and checks links. It is safe for concurrent use.
type Signer struct {
	key []byte
	max time.Duration
}

// DeriveKey derives the signing key from the operator's API token, for
// deployments without SIGNING_KEY.
func DeriveKey(token string) []byte {
	key, err := hkdf.Key(sha256.New, []byte(token), []byte("simpledrive"), "simpledrive signed links v1", 32)
	if err != nil {
		panic(err) // only for key lengths HKDF cannot produce
	}
	return key
}

// NewSigner returns a Signer with key whose links live at most maxExpiry.
func NewSigner(key []byte, maxExpiry time.Duration) *Signer {
	return &Signer{key: key, max: maxExpiry}
}

// MaxExpiry is the longest a link may live.
func (s *Signer) MaxExpiry() time.Duration { return s.max }

// Blob is what a link is bound to: one version of one blob.
type Blob struct {
	// ID is the blob's id.
	ID string
	// SHA256 is its lowercase hex digest.
	SHA256 string
	// CreatedAt is its creation time.
	CreatedAt time.Time
}

// Sign returns the query (alt=media&expires=...&sig=...) of a link to b
// that expires at expires.
func (s *Signer) Sign(b Blob, expires time.Time) url.Values {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return url.Values{"alt": {"media"}, "expires": {exp}, "sig": {s.sig("GET", b, exp)}}
}

// Present reports whether q carries a link's parameters.
func Present(q url.Values) bool {
	return q.Has("sig") || q.Has("expires")
}

// MethodClass returns the class a request method is signed as, or "" for
// methods no link serves.
func MethodClass(method string) string {
	switch method {
	case "GET", "HEAD":
		return "GET"
	}
	return ""
}

// Verify checks the link parameters in q for a request of method to b at
// now, returning an error wrapping [ErrInvalid] unless they sign exactly
// that, unexpired.
func (s *Signer) Verify(method string, b Blob, q url.Values, now time.Time) error {
	class := MethodClass(method)
	if class == "" {
		return fmt.Errorf("%w: links serve GET and HEAD only", ErrInvalid)
	}
	if len(q["expires"]) != 1 || len(q["sig"]) != 1 {
		return fmt.Errorf("%w: want exactly one expires and one sig", ErrInvalid)
	}
	exp := q.Get("expires")
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || strconv.FormatInt(unix, 10) != exp {
		return fmt.Errorf("%w: expires is not a Unix time", ErrInvalid)
	}
	got, err := base64.RawURLEncoding.DecodeString(q.Get("sig"))
	if err != nil {
		return fmt.Errorf("%w: sig is not base64url", ErrInvalid)
	}
	want, _ := base64.RawURLEncoding.DecodeString(s.sig(class, b, exp))
	if !hmac.Equal(got, want) {
		return fmt.Errorf("%w: the signature does not match", ErrInvalid)
	}
	if !now.Before(time.Unix(unix, 0)) {
		return fmt.Errorf("%w: the link expired", ErrInvalid)
	}
	return nil
}

func (s *Signer) sig(class string, b Blob, expires string) string {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "simpledrive-link-v1\n%s\n%s\n%s\n%s\n%d", class, b.ID, expires, b.SHA256, b.CreatedAt.UnixMicro())
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
