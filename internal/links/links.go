// Package links signs and verifies the links that let anyone read one blob
// without a token until they expire (DESIGN section 7).
//
// A link is the blob's alt=media URL plus three query parameters: expires
// (Unix seconds), v (the version of the blob it was made for: its creation
// time in Unix microseconds) and sig, the unpadded base64url HMAC-SHA256 of
//
//	"simpledrive-link-v2\n" + method class + "\n" + id + "\n" + expires + "\n" + v
//
// where the method class is "GET" (a link serves GET and HEAD, nothing
// else). Everything signed is in the request, so [Signer.Verify] checks the
// signature and the expiry before anything is looked up: a forged link
// costs no lookup. The version is then compared with the blob the request
// opens, so a blob deleted and created again under the same id, even with
// the same bytes, is not reachable through an old link. Signatures are
// compared in constant time.
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
	// CreatedAt is its creation time; its Unix microseconds are the
	// version the link names.
	CreatedAt time.Time
}

// Version is the version of a blob created at created, as links name it.
func Version(created time.Time) int64 { return created.UnixMicro() }

// Sign returns the query (alt=media&expires=...&v=...&sig=...) of a link
// to b that expires at expires.
func (s *Signer) Sign(b Blob, expires time.Time) url.Values {
	exp := strconv.FormatInt(expires.Unix(), 10)
	v := strconv.FormatInt(Version(b.CreatedAt), 10)
	return url.Values{"alt": {"media"}, "expires": {exp}, "v": {v}, "sig": {s.sig("GET", b.ID, exp, v)}}
}

// Present reports whether q carries a link's parameters.
func Present(q url.Values) bool {
	return q.Has("sig") || q.Has("expires") || q.Has("v")
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

// Verified is what a valid link grants.
type Verified struct {
	// Version is the version of the blob the link was made for.
	Version int64
	// Expires is when the link stops working.
	Expires time.Time
}

// Verify checks the link parameters in q for a request of method to the
// blob id at now, from q alone, returning an error wrapping [ErrInvalid]
// unless they sign exactly that, unexpired.
func (s *Signer) Verify(method, id string, q url.Values, now time.Time) (Verified, error) {
	class := MethodClass(method)
	if class == "" {
		return Verified{}, fmt.Errorf("%w: links serve GET and HEAD only", ErrInvalid)
	}
	if len(q["expires"]) != 1 || len(q["sig"]) != 1 || len(q["v"]) != 1 {
		return Verified{}, fmt.Errorf("%w: want exactly one expires, v and sig", ErrInvalid)
	}
	exp, v := q.Get("expires"), q.Get("v")
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || strconv.FormatInt(unix, 10) != exp {
		return Verified{}, fmt.Errorf("%w: expires is not a Unix time", ErrInvalid)
	}
	version, err := strconv.ParseInt(v, 10, 64)
	if err != nil || strconv.FormatInt(version, 10) != v {
		return Verified{}, fmt.Errorf("%w: v is not a version", ErrInvalid)
	}
	got, err := base64.RawURLEncoding.DecodeString(q.Get("sig"))
	if err != nil {
		return Verified{}, fmt.Errorf("%w: sig is not base64url", ErrInvalid)
	}
	want, _ := base64.RawURLEncoding.DecodeString(s.sig(class, id, exp, v))
	if !hmac.Equal(got, want) {
		return Verified{}, fmt.Errorf("%w: the signature does not match", ErrInvalid)
	}
	expires := time.Unix(unix, 0)
	if !now.Before(expires) {
		return Verified{}, fmt.Errorf("%w: the link expired", ErrInvalid)
	}
	return Verified{Version: version, Expires: expires}, nil
}

func (s *Signer) sig(class, id, expires, version string) string {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "simpledrive-link-v2\n%s\n%s\n%s\n%s", class, id, expires, version)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
