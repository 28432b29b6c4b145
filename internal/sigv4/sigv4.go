// Package sigv4 signs HTTP requests with AWS Signature Version 4 and
// verifies requests signed that way, following the rules of Amazon S3 and
// S3-compatible services.
//
// The package is pure: it computes canonical requests, strings to sign and
// signatures from a request and a clock reading, and never touches the
// network. The signer and the verifier build canonical requests with
// separate code, so that one misreading of the specification cannot hide
// in both; each is tested on the published AWS test vectors and against
// the AWS SDK for Go v2 (its signer, and for the verifier its S3 client).
//
// # S3 rules
//
// S3 differs from the generic SigV4 services in ways that break signatures
// when ignored:
//
//   - The canonical URI is the decoded path encoded once, every byte outside
//     the RFC 3986 unreserved set escaped except '/'. It is never normalised:
//     "//", "/./" and "/../" are signed as they are.
//   - x-amz-content-sha256 is always sent and signed; its value is the hex
//     SHA-256 of the body or [UnsignedPayload] for streamed bodies.
//   - A session token is sent as x-amz-security-token and signed.
//
// # Wire and signature agree
//
// [Signer.Sign] rewrites URL.RawPath and URL.RawQuery to their canonical
// forms and sets Request.Host, so the bytes net/http sends are exactly the
// bytes that were signed. A '+' in a query string is a literal plus
// (RFC 3986), not a space; write spaces as %20.
//
// # Verifying
//
// [Verifier.Verify] accepts a request as S3 does, and refuses it with S3's
// error code ([Error]) otherwise:
//
//   - It is signed in the Authorization header or in a presigned query
//     string, never both; a request with neither is left to the caller
//     ([ErrAnonymous]).
//   - The credential scope names the verifier's region and service and
//     the day of the request time. A header-signed request is dated by
//     X-Amz-Date (or Date) within MaxSkew of the clock; a presigned one
//     lives at most seven days (X-Amz-Expires), is refused once expired,
//     and is not valid yet when dated more than MaxSkew ahead.
//   - Host, every x-amz-* header present, and Date when it dates the
//     request are covered by the signature. Other headers are
//     authenticated only when [Verified.SignedHeaders] lists them.
//   - Session tokens are refused (InvalidToken): the verifier issues none.
//
// The payload is checked as it streams, in every mode of S3: a hex
// SHA-256, UNSIGNED-PAYLOAD, and aws-chunked bodies with signed chunks
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), with signed chunks and a signed
// trailer (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER), or with unsigned
// chunks and trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER, what the AWS
// SDKs send over HTTPS by default). [Verified.Body] returns io.EOF only
// once every byte, every chunk signature and the trailer have been
// checked; any failure is a read error instead. A chunk's bytes pass
// through before its signature can be checked, but the failure comes
// before the first byte of the next chunk: a caller commits what it read
// only after io.EOF. The decoder holds one fixed buffer whatever chunk
// sizes the client claims. A trailer holds exactly the headers named in
// X-Amz-Trailer. In the unsigned modes nothing authenticates the bytes
// or the trailer: the caller checks the trailing checksum against the
// bytes it read.
//
// # Secrets
//
// [Credentials] print without their secret parts, so a logged configuration
// never leaks a key. Verification errors never contain a secret.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Constants of the AWS Signature Version 4 protocol.
const (
	// Algorithm names the signing algorithm in Authorization headers and
	// presigned URLs.
	Algorithm = "AWS4-HMAC-SHA256"
	// UnsignedPayload is the payload hash of a request whose body is not
	// part of the signature (S3 only), for bodies streamed without hashing
	// them first.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// EmptyPayloadHash is the hex SHA-256 of an empty body.
	EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	// TimeFormat is the layout of X-Amz-Date values.
	TimeFormat = "20060102T150405Z"
	// dateFormat is the layout of the date in a credential scope.
	dateFormat = "20060102"
)

// Header and query parameter names the signer sets.
const (
	headerDate          = "X-Amz-Date"
	headerContentSHA256 = "X-Amz-Content-Sha256"
	headerSecurityToken = "X-Amz-Security-Token"
	headerAuthorization = "Authorization"
)

// maxPresignExpiry is the longest validity SigV4 allows a presigned URL.
const maxPresignExpiry = 7 * 24 * time.Hour

// Credentials are the keys a request is signed with.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken is set for temporary credentials only.
	SessionToken string
}

// String returns the access key id with the secret parts redacted.
func (c Credentials) String() string {
	s := "sigv4.Credentials{AccessKeyID: " + strconv.Quote(c.AccessKeyID) + ", SecretAccessKey: <redacted>"
	if c.SessionToken != "" {
		s += ", SessionToken: <redacted>"
	}
	return s + "}"
}

// GoString is [Credentials.String], so %#v redacts secrets too.
func (c Credentials) GoString() string { return c.String() }

// Signer signs requests for one set of credentials, region and service. Its
// methods are safe for concurrent use as long as its fields are not changed.
type Signer struct {
	Credentials Credentials
	// Region is the signing region, for example "us-east-1".
	Region string
	// Service is the signing service name, "s3" for S3.
	Service string
}

// PayloadHash returns the hex SHA-256 of body, the payload hash of a request
// whose body is signed.
func PayloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Sign signs req in its Authorization header as of t, with the S3 rules of
// the package documentation. payloadHash is [PayloadHash] of the body,
// [EmptyPayloadHash] or [UnsignedPayload]. Sign sets X-Amz-Date,
// X-Amz-Content-Sha256, X-Amz-Security-Token (with a session token) and
// Authorization, and makes req's Host, RawPath and RawQuery canonical.
func (s *Signer) Sign(req *http.Request, payloadHash string, t time.Time) error {
	_, err := s.sign(req, payloadHash, t, true)
	return err
}

// signature is the result of signing, kept for tests to compare each step.
type signature struct {
	canonicalRequest string
	stringToSign     string
	signature        string
}

// sign signs req in its Authorization header; withContentHash sets
// x-amz-content-sha256, which S3 requires and generic services do not.
func (s *Signer) sign(req *http.Request, payloadHash string, t time.Time, withContentHash bool) (signature, error) {
	if payloadHash == "" {
		return signature{}, errors.New("sigv4: empty payload hash")
	}
	t = t.UTC()
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	req.Header.Del(headerAuthorization)
	req.Header.Set(headerDate, t.Format(TimeFormat))
	if withContentHash {
		req.Header.Set(headerContentSHA256, payloadHash)
	}
	if s.Credentials.SessionToken != "" {
		req.Header.Set(headerSecurityToken, s.Credentials.SessionToken)
	}
	c := canonicalize(req, parseQuery(req.URL.RawQuery), payloadHash)
	sig := s.signString(t, c.request)
	req.Header.Set(headerAuthorization, Algorithm+" Credential="+s.Credentials.AccessKeyID+"/"+s.scope(t)+
		", SignedHeaders="+c.signedHeaders+", Signature="+sig.signature)
	applyCanonical(req, c)
	return sig, nil
}

// Presign returns a URL for req, signed in its query string as of t and
// valid for expires (at most seven days). The headers of req, Host included,
// are signed and must be sent with the URL. S3 takes [UnsignedPayload] as
// payloadHash. req is not modified.
func (s *Signer) Presign(req *http.Request, payloadHash string, expires time.Duration, t time.Time) (string, error) {
	u, _, err := s.presign(req, payloadHash, expires, t)
	return u, err
}

func (s *Signer) presign(req *http.Request, payloadHash string, expires time.Duration, t time.Time) (string, signature, error) {
	if expires <= 0 || expires > maxPresignExpiry || expires%time.Second != 0 {
		return "", signature{}, errors.New("sigv4: presign expiry must be whole seconds between 1s and 7 days")
	}
	if payloadHash == "" {
		return "", signature{}, errors.New("sigv4: empty payload hash")
	}
	t = t.UTC()
	r := req.Clone(req.Context())
	_, signedHeaders := canonicalHeaders(r)
	query := append(parseQuery(r.URL.RawQuery),
		param{"X-Amz-Algorithm", Algorithm},
		param{"X-Amz-Credential", s.Credentials.AccessKeyID + "/" + s.scope(t)},
		param{"X-Amz-Date", t.Format(TimeFormat)},
		param{"X-Amz-Expires", strconv.FormatInt(int64(expires/time.Second), 10)},
		param{"X-Amz-SignedHeaders", signedHeaders},
	)
	if s.Credentials.SessionToken != "" {
		query = append(query, param{"X-Amz-Security-Token", s.Credentials.SessionToken})
	}
	c := canonicalize(r, query, payloadHash)
	sig := s.signString(t, c.request)
	c.query += "&X-Amz-Signature=" + sig.signature
	applyCanonical(r, c)
	if r.URL.Host == "" {
		r.URL.Host = c.host
	}
	return r.URL.String(), sig, nil
}

// SignChunk returns the signature of one chunk of an aws-chunked upload
// (Content-Encoding: aws-chunked, payload hash
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD) signed as of t. previous is the
// signature of the preceding chunk, or of the request for the first chunk.
// The last chunk is empty.
func (s *Signer) SignChunk(t time.Time, previous string, chunk []byte) string {
	t = t.UTC()
	sts := strings.Join([]string{
		Algorithm + "-PAYLOAD", t.Format(TimeFormat), s.scope(t), previous, EmptyPayloadHash, PayloadHash(chunk),
	}, "\n")
	return hex.EncodeToString(hmacSHA256(s.signingKey(t), sts))
}

// scope returns the credential scope of a signature made at t.
func (s *Signer) scope(t time.Time) string {
	return t.Format(dateFormat) + "/" + s.Region + "/" + s.Service + "/aws4_request"
}

// signString hashes the canonical request into the string to sign and
// signs that.
func (s *Signer) signString(t time.Time, canonicalRequest string) signature {
	sts := strings.Join([]string{
		Algorithm, t.Format(TimeFormat), s.scope(t), PayloadHash([]byte(canonicalRequest)),
	}, "\n")
	return signature{
		canonicalRequest: canonicalRequest,
		stringToSign:     sts,
		signature:        hex.EncodeToString(hmacSHA256(s.signingKey(t), sts)),
	}
}

// signingKey derives the key for the day of t, region and service.
func (s *Signer) signingKey(t time.Time) []byte {
	k := hmacSHA256([]byte("AWS4"+s.Credentials.SecretAccessKey), t.Format(dateFormat))
	k = hmacSHA256(k, s.Region)
	k = hmacSHA256(k, s.Service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// canonical is a canonicalised request.
type canonical struct {
	host          string
	uri           string // the escaped path, also sent on the wire
	query         string // the canonical query string, also sent on the wire
	signedHeaders string
	request       string
}

// canonicalize builds the canonical request of req with the given query
// parameters (decoded) and payload hash.
func canonicalize(req *http.Request, query []param, payloadHash string) canonical {
	headers, signed := canonicalHeaders(req)
	c := canonical{
		host:          requestHost(req),
		uri:           EscapePath(req.URL.Path),
		query:         encodeQuery(query),
		signedHeaders: signed,
	}
	if c.uri == "" {
		c.uri = "/"
	}
	c.request = strings.Join([]string{req.Method, c.uri, c.query, headers, signed, payloadHash}, "\n")
	return c
}

// applyCanonical makes req carry, on the wire, what c signed.
func applyCanonical(req *http.Request, c canonical) {
	req.Host = c.host
	if req.URL.Path != "" {
		req.URL.RawPath = c.uri
	}
	req.URL.RawQuery = c.query
}

// ignoredHeaders are never signed: proxies and transports may change them.
// Content-Length is signed from Request.ContentLength instead.
var ignoredHeaders = map[string]bool{
	"authorization":     true,
	"user-agent":        true,
	"x-amzn-trace-id":   true,
	"expect":            true,
	"transfer-encoding": true,
	"content-length":    true,
	"host":              true,
}

// canonicalHeaders returns the canonical headers block (each line ending in
// a newline) and the signed headers list of req.
func canonicalHeaders(req *http.Request) (block, signed string) {
	values := map[string][]string{"host": {requestHost(req)}}
	if req.ContentLength > 0 {
		values["content-length"] = []string{strconv.FormatInt(req.ContentLength, 10)}
	}
	for name, vs := range req.Header {
		lower := strings.ToLower(name)
		if ignoredHeaders[lower] {
			continue
		}
		values[lower] = append(values[lower], vs...)
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range values[name] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(trimAll(v))
		}
		b.WriteByte('\n')
	}
	return b.String(), strings.Join(names, ";")
}

// requestHost returns the host req is sent to, without the scheme's default
// port (net/http sends it that way).
func requestHost(req *http.Request) string {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	scheme := strings.ToLower(req.URL.Scheme)
	if scheme == "http" && strings.HasSuffix(host, ":80") {
		return strings.TrimSuffix(host, ":80")
	}
	if scheme == "https" && strings.HasSuffix(host, ":443") {
		return strings.TrimSuffix(host, ":443")
	}
	return host
}

// trimAll trims spaces and tabs at both ends of a header value (as net/http
// does on the wire) and folds each run of inner spaces into one, as the
// SigV4 specification and the AWS SDKs do.
func trimAll(v string) string {
	v = strings.Trim(v, " \t")
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' && i > 0 && v[i-1] == ' ' {
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
