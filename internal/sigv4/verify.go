package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Verifier checks SigV4-signed S3 requests: the Authorization header form
// and presigned URLs, with every payload mode of S3 (see the package
// documentation). Its methods are safe for concurrent use as long as its
// fields are not changed.
type Verifier struct {
	// Region is the only region accepted in credential scopes, for example
	// "us-east-1"; any other gets AuthorizationHeaderMalformed (or
	// AuthorizationQueryParametersError for presigned URLs).
	Region string
	// Service is the signing service name, "s3" for S3.
	Service string
	// MaxSkew is the largest difference allowed between the request's time
	// and the server's clock; zero means 15 minutes.
	MaxSkew time.Duration
	// Now reads the clock; nil means time.Now.
	Now func() time.Time
	// Secret returns the secret access key of accessKeyID, or an error
	// wrapping [ErrUnknownKey] when there is no such key. Other errors are
	// returned by [Verifier.Verify] wrapped, as server failures.
	Secret func(ctx context.Context, accessKeyID string) (secret string, err error)
}

// ErrUnknownKey is returned by [Verifier.Secret] for an access key id it
// does not know; [Verifier.Verify] turns it into InvalidAccessKeyId.
var ErrUnknownKey = errors.New("sigv4: unknown access key id")

// ErrAnonymous is returned by [Verifier.Verify] for a request that carries
// neither an Authorization header nor an X-Amz-Algorithm query parameter,
// so the caller decides what anonymous requests may do.
var ErrAnonymous = errors.New("sigv4: anonymous request")

// Error is a refusal, with the S3 error code, message and HTTP status to
// answer it with. Messages never contain secrets.
type Error struct {
	Code    string
	Message string
	Status  int
}

// Error returns the code and the message.
func (e *Error) Error() string { return "sigv4: " + e.Code + ": " + e.Message }

func newError(status int, code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

// Verified describes a request whose signature holds.
type Verified struct {
	// AccessKeyID is the key that signed the request.
	AccessKeyID string
	// Presigned is true for a request authenticated in its query string.
	Presigned bool
	// SignedHeaders lists, lower-cased, the headers the signature covers.
	// Every x-amz-* header present is among them, as are Host and, when
	// the request time came from it, Date; any other header is not
	// authenticated unless listed.
	SignedHeaders []string
	// PayloadHash is the x-amz-content-sha256 value the request was
	// signed with (UNSIGNED-PAYLOAD for presigned URLs without it).
	PayloadHash string
	// Body is the decoded payload: aws-chunked framing removed. Its bytes
	// pass through as they arrive, hashed on the way; whatever fails (a
	// payload hash, a chunk or trailer signature, the framing, a short
	// body) makes a Read return an [*Error] instead of io.EOF, so io.EOF
	// means every byte and the trailer were verified. Other errors of the
	// request body (a dropped connection, a size limit) come through as
	// they are. A caller commits what it read only after io.EOF. Body
	// holds a fixed amount of memory whatever the client claims. Closing
	// it closes the request body.
	Body io.ReadCloser
	// DecodedLength is the payload's length: X-Amz-Decoded-Content-Length
	// for aws-chunked bodies, else the request's Content-Length; -1 when
	// unknown.
	DecodedLength int64
	// Trailer returns, once Body has returned io.EOF, the trailing
	// headers of an aws-chunked body (such as x-amz-checksum-crc32c),
	// their signature checked when the mode signs them. It returns nil
	// before that and for requests without a trailer.
	Trailer func() http.Header
}

// Payload hash values of aws-chunked uploads with a trailer, besides
// [StreamingPayload] (see the package documentation).
const (
	// StreamingPayloadTrailer marks signed chunks and a signed trailer.
	StreamingPayloadTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	// StreamingUnsignedPayloadTrailer marks unsigned chunks and trailer,
	// what the AWS SDKs send over HTTPS by default.
	StreamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// maxPresignSeconds is the longest X-Amz-Expires, seven days.
const maxPresignSeconds = 7 * 24 * 60 * 60

// defaultMaxSkew is the clock skew S3 tolerates.
const defaultMaxSkew = 15 * time.Minute

// authRequest is what a request claims about its signature.
type authRequest struct {
	presigned     bool
	accessKey     string
	scopeDate     string // yyyymmdd
	region        string
	service       string
	terminal      string
	t             time.Time // the signing time
	dateHeader    string    // "x-amz-date" or "date": where t came from (header auth)
	expires       int64     // seconds, presigned only
	signedHeaders []string
	signature     string
	query         []qparam // the parameters to canonicalise (no X-Amz-Signature)
}

// Verify checks the signature of r. It returns (nil, [ErrAnonymous]) for a
// request without SigV4 authentication, an [*Error] with the S3 code for a
// refusal, and another error when [Verifier.Secret] fails. On success the
// caller reads the payload from [Verified.Body], never from r.Body.
func (v *Verifier) Verify(r *http.Request) (*Verified, error) {
	a, err := v.parse(r)
	if err != nil {
		return nil, err
	}
	payloadHash, err := requestPayloadHash(r, a.presigned)
	if err != nil {
		return nil, err
	}
	key, err := v.authenticate(r, a, payloadHash)
	if err != nil {
		return nil, err
	}
	vd := &Verified{
		AccessKeyID:   a.accessKey,
		Presigned:     a.presigned,
		SignedHeaders: a.signedHeaders,
		PayloadHash:   payloadHash,
	}
	if err := v.attachBody(vd, r, a, key, payloadHash); err != nil {
		return nil, err
	}
	return vd, nil
}

// parse finds the authentication form of r and reads its parameters.
func (v *Verifier) parse(r *http.Request) (*authRequest, error) {
	auths := r.Header.Values("Authorization")
	params := parseQueryParams(r.URL.RawQuery)
	presigned := false
	for _, p := range params {
		if p.key == "X-Amz-Algorithm" {
			presigned = true
		}
	}
	switch {
	case len(auths) > 0 && presigned:
		return nil, newError(http.StatusBadRequest, "InvalidArgument",
			"Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified")
	case len(auths) > 1:
		return nil, newError(http.StatusBadRequest, "InvalidArgument", "Only one Authorization header is allowed")
	case len(auths) == 1:
		return v.parseHeader(r, auths[0], params)
	case presigned:
		return v.parsePresigned(params)
	}
	return nil, ErrAnonymous
}

// parseHeader reads the Authorization header form:
// "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
func (v *Verifier) parseHeader(r *http.Request, auth string, params []qparam) (*authRequest, error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(auth), " ")
	if alg != Algorithm {
		return nil, newError(http.StatusBadRequest, "InvalidArgument", "Unsupported Authorization Type")
	}
	malformed := func(format string, args ...any) error {
		return newError(http.StatusBadRequest, "AuthorizationHeaderMalformed",
			"The authorization header is malformed; "+format, args...)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, malformed("the authorization component %q is malformed.", strings.TrimSpace(part))
		}
		if _, dup := fields[k]; dup {
			return nil, malformed("the authorization component %q is repeated.", k)
		}
		fields[k] = val
	}
	cred, okC := fields["Credential"]
	signed, okH := fields["SignedHeaders"]
	sig, okS := fields["Signature"]
	if !okC || !okH || !okS || len(fields) != 3 {
		return nil, malformed("the authorization header requires three components: Credential, SignedHeaders, and Signature.")
	}
	a := &authRequest{signature: sig, query: params}
	if !a.setCredential(cred) {
		return nil, malformed("the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
	}
	if msg := v.checkScope(a); msg != "" {
		return nil, malformed("%s", msg)
	}
	if !a.setSignedHeaders(signed) {
		return nil, malformed("the SignedHeaders component is malformed; it must list lower-case header names separated by ';' and include host.")
	}
	if x := r.Header.Get("X-Amz-Date"); x != "" {
		t, err := time.Parse(TimeFormat, x)
		if err != nil {
			return nil, newError(http.StatusForbidden, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
		}
		a.t, a.dateHeader = t, "x-amz-date"
	} else if d := r.Header.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return nil, newError(http.StatusForbidden, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
		}
		a.t, a.dateHeader = t.UTC(), "date"
	} else {
		return nil, newError(http.StatusForbidden, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
	}
	if a.scopeDate != a.t.Format(dateFormat) {
		return nil, malformed("Invalid credential date %q. This date is not the same as X-Amz-Date: %q.", a.scopeDate, a.t.Format(dateFormat))
	}
	return a, nil
}

// parsePresigned reads the X-Amz-* query parameters of a presigned URL.
func (v *Verifier) parsePresigned(params []qparam) (*authRequest, error) {
	bad := func(format string, args ...any) error {
		return newError(http.StatusBadRequest, "AuthorizationQueryParametersError", format, args...)
	}
	names := []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Expires"}
	values := map[string]string{}
	a := &authRequest{presigned: true}
	for _, p := range params {
		for _, n := range names {
			if p.key != n {
				continue
			}
			if _, dup := values[n]; dup {
				return nil, bad("%s must appear once.", n)
			}
			values[n] = p.value
		}
		if p.key != "X-Amz-Signature" {
			a.query = append(a.query, p)
		}
	}
	for _, n := range names {
		if _, ok := values[n]; !ok {
			return nil, bad("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
		}
	}
	if values["X-Amz-Algorithm"] != Algorithm {
		return nil, bad("X-Amz-Algorithm only supports \"%s\"", Algorithm)
	}
	if !a.setCredential(values["X-Amz-Credential"]) {
		return nil, bad("Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
	}
	if msg := v.checkScope(a); msg != "" {
		return nil, bad("Error parsing the X-Amz-Credential parameter; %s", msg)
	}
	t, err := time.Parse(TimeFormat, values["X-Amz-Date"])
	if err != nil {
		return nil, bad("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	a.t = t
	if a.scopeDate != t.Format(dateFormat) {
		return nil, bad("Invalid credential date %q. This date is not the same as X-Amz-Date: %q.", a.scopeDate, t.Format(dateFormat))
	}
	exp, err := strconv.ParseInt(values["X-Amz-Expires"], 10, 64)
	switch {
	case err != nil && !strings.HasPrefix(values["X-Amz-Expires"], "-"):
		return nil, bad("X-Amz-Expires should be a number")
	case err != nil || exp < 0:
		return nil, bad("X-Amz-Expires must be non-negative")
	case exp > maxPresignSeconds:
		return nil, bad("X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	a.expires = exp
	if !a.setSignedHeaders(values["X-Amz-SignedHeaders"]) {
		return nil, bad("X-Amz-SignedHeaders must list lower-case header names separated by ';' and include host.")
	}
	a.signature = values["X-Amz-Signature"]
	return a, nil
}

// setCredential splits "AKID/yyyymmdd/region/service/aws4_request".
func (a *authRequest) setCredential(cred string) bool {
	parts := strings.Split(cred, "/")
	if len(parts) < 5 {
		return false
	}
	n := len(parts)
	a.accessKey = strings.Join(parts[:n-4], "/")
	a.scopeDate, a.region, a.service, a.terminal = parts[n-4], parts[n-3], parts[n-2], parts[n-1]
	if a.accessKey == "" || len(a.scopeDate) != 8 {
		return false
	}
	_, err := time.Parse(dateFormat, a.scopeDate)
	return err == nil
}

// checkScope returns why the credential scope of a is not this verifier's,
// or "".
func (v *Verifier) checkScope(a *authRequest) string {
	switch {
	case a.region != v.Region:
		return fmt.Sprintf("the region '%s' is wrong; expecting '%s'", a.region, v.Region)
	case a.service != v.Service:
		return fmt.Sprintf("incorrect service \"%s\". This endpoint belongs to \"%s\".", a.service, v.Service)
	case a.terminal != "aws4_request":
		return fmt.Sprintf("incorrect terminal \"%s\". This endpoint uses \"aws4_request\".", a.terminal)
	}
	return ""
}

// setSignedHeaders reads a ';'-separated list of lower-case header names,
// which must include host.
func (a *authRequest) setSignedHeaders(list string) bool {
	names := strings.Split(list, ";")
	host := false
	for _, n := range names {
		if n == "" || n != strings.ToLower(n) || strings.ContainsAny(n, " \t:") {
			return false
		}
		host = host || n == "host"
	}
	a.signedHeaders = names
	return host
}

// requestPayloadHash returns the payload hash r was signed with and checks
// it is one S3 knows.
func requestPayloadHash(r *http.Request, presigned bool) (string, error) {
	h := r.Header.Values("X-Amz-Content-Sha256")
	switch {
	case len(h) > 1:
		return "", newError(http.StatusBadRequest, "InvalidArgument", "x-amz-content-sha256 must appear once")
	case len(h) == 0 && presigned:
		return UnsignedPayload, nil
	case len(h) == 0:
		return "", newError(http.StatusBadRequest, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
	}
	switch h[0] {
	case UnsignedPayload:
		return h[0], nil
	case StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer:
		if presigned {
			return "", newError(http.StatusBadRequest, "InvalidArgument", "streaming payloads cannot be presigned")
		}
		return h[0], nil
	}
	if len(h[0]) == sha256.Size*2 {
		if _, err := hex.DecodeString(h[0]); err == nil {
			return h[0], nil
		}
	}
	return "", newError(http.StatusBadRequest, "InvalidArgument",
		"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
}

// authenticate checks the time, the signed headers and the signature of r
// under the claims a and payloadHash, and returns the signing key.
func (v *Verifier) authenticate(r *http.Request, a *authRequest, payloadHash string) ([]byte, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.MaxSkew
	if skew == 0 {
		skew = defaultMaxSkew
	}
	t := now()
	if a.presigned {
		if a.t.After(t.Add(skew)) {
			return nil, newError(http.StatusForbidden, "AccessDenied", "Request is not valid yet")
		}
		if t.After(a.t.Add(time.Duration(a.expires) * time.Second)) {
			return nil, newError(http.StatusForbidden, "AccessDenied", "Request has expired")
		}
	} else if d := t.Sub(a.t); d > skew || d < -skew {
		return nil, newError(http.StatusForbidden, "RequestTimeTooSkewed",
			"The difference between the request time and the current time is too large.")
	}
	if name := unsignedHeader(r, a); name != "" {
		return nil, newError(http.StatusForbidden, "AccessDenied",
			"There were headers present in the request which were not signed: %s", name)
	}
	if r.Header.Get("X-Amz-Security-Token") != "" || queryHas(a.query, "X-Amz-Security-Token") {
		return nil, newError(http.StatusBadRequest, "InvalidToken", "The provided token is malformed or otherwise invalid.")
	}
	secret, err := v.Secret(r.Context(), a.accessKey)
	if errors.Is(err, ErrUnknownKey) {
		return nil, newError(http.StatusForbidden, "InvalidAccessKeyId",
			"The AWS Access Key Id you provided does not exist in our records.")
	}
	if err != nil {
		return nil, fmt.Errorf("sigv4: looking up the access key: %w", err)
	}
	key := deriveSigningKey(secret, a.scopeDate, a.region, a.service)
	if !signatureMatches(key, a.stringToSign(canonicalRequestOf(r, a, payloadHash)), a.signature) &&
		!matchesWithoutDefaultPort(r, a, key, payloadHash) {
		return nil, newError(http.StatusForbidden, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	}
	return key, nil
}

// matchesWithoutDefaultPort reports whether the signature of r holds for
// its Host without a ":80" or ":443" suffix. Signers (the AWS SDKs among
// them) sign the host without the scheme's default port, while some
// clients, net/http's among them, send the port that a presigned URL
// names.
func matchesWithoutDefaultPort(r *http.Request, a *authRequest, key []byte, payloadHash string) bool {
	host, cut := strings.CutSuffix(r.Host, ":80")
	if !cut {
		host, cut = strings.CutSuffix(r.Host, ":443")
	}
	if !cut {
		return false
	}
	stripped := new(http.Request)
	*stripped = *r
	stripped.Host = host
	return signatureMatches(key, a.stringToSign(canonicalRequestOf(stripped, a, payloadHash)), a.signature)
}

// unsignedHeader returns the name of a header that must be signed and is
// not: every x-amz-* header, and Date when it gave the request time.
func unsignedHeader(r *http.Request, a *authRequest) string {
	signed := make(map[string]bool, len(a.signedHeaders))
	for _, n := range a.signedHeaders {
		signed[n] = true
	}
	for name := range r.Header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-amz-") && !signed[lower] {
			return lower
		}
	}
	if a.dateHeader != "" && !signed[a.dateHeader] {
		return a.dateHeader
	}
	return ""
}

func queryHas(params []qparam, key string) bool {
	for _, p := range params {
		if p.key == key {
			return true
		}
	}
	return false
}

// scope is the credential scope a claims.
func (a *authRequest) scope() string {
	return a.scopeDate + "/" + a.region + "/" + a.service + "/" + a.terminal
}

// stringToSign is the string to sign of a request whose canonical request
// is creq.
func (a *authRequest) stringToSign(creq string) string {
	sum := sha256.Sum256([]byte(creq))
	return Algorithm + "\n" + a.t.Format(TimeFormat) + "\n" + a.scope() + "\n" + hex.EncodeToString(sum[:])
}

// deriveSigningKey derives the SigV4 signing key of a day, region and
// service from a secret.
func deriveSigningKey(secret, day, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), day)
	for _, s := range []string{region, service, "aws4_request"} {
		k = hmacSHA256(k, s)
	}
	return k
}

// signatureMatches reports, in constant time, whether sig is the hex
// HMAC-SHA256 of sts under key.
func signatureMatches(key []byte, sts, sig string) bool {
	want := hmacSHA256(key, sts)
	got, err := hex.DecodeString(sig)
	return err == nil && hmac.Equal(want, got)
}
