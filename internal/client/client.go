// Package client is a Go client of the Simple Drive HTTP API, over
// net/http: raw and JSON uploads, ranged downloads, metadata, listing,
// deletes, signed links, API keys, and resumable tus 1.0.0 uploads
// ([Client.Upload]).
//
// # Errors
//
// A response with an error status becomes an [*Error] carrying the
// problem document's status, code and detail; [Retryable] tells the errors
// a caller may retry (network failures, 503, 429) from the others. A 504
// (the server's own work ran out of REQUEST_TIMEOUT) is not retried: the
// same request would take as long again.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one Simple Drive server. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client of the server at baseURL (such as
// http://localhost:8080) authenticating with token. hc nil means
// [http.DefaultClient].
func New(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: server URL must be http:// or https:// with a host, got %q", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: u, token: token, http: hc}, nil
}

// BaseURL returns the server's URL, without a final slash.
func (c *Client) BaseURL() string { return c.base.String() }

// Blob is the blob object of the API.
type Blob struct {
	ID          string    `json:"id"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	ContentType string    `json:"content_type"`
	CreatedAt   time.Time `json:"created_at"`
}

// Error is an error response of the server: its status and the code,
// title and detail of its problem document.
type Error struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string {
	detail := e.Detail
	if detail == "" {
		detail = e.Title
	}
	if detail == "" {
		detail = http.StatusText(e.Status)
	}
	if e.Code == "" {
		return fmt.Sprintf("%s (HTTP %d)", detail, e.Status)
	}
	return fmt.Sprintf("%s (%s, HTTP %d)", detail, e.Code, e.Status)
}

// StatusOf returns the HTTP status of an [*Error] in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Retryable reports whether err is worth retrying as it is: a network
// failure, a response cut short, or a 408, 423 (an upload still held by
// a write the server has not yet seen end), 429, 502 or 503. Not a 504:
// a deadline met once is met again.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		switch e.Status {
		case http.StatusRequestTimeout, http.StatusLocked, http.StatusTooManyRequests, http.StatusBadGateway,
			http.StatusServiceUnavailable:
			return true
		}
		return false
	}
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, errShortBody) || strings.Contains(err.Error(), "connection reset")
}

// Unreachable reports whether err means the server could not be reached
// or is unavailable (503).
func Unreachable(err error) bool {
	if s := StatusOf(err); s != 0 {
		return s == http.StatusServiceUnavailable || s == http.StatusBadGateway || s == http.StatusGatewayTimeout
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

var errShortBody = errors.New("client: response body shorter than its Content-Length")

// blobPath returns the path of id's blob: the id percent-encoded whole
// (slashes as %2F), which the server decodes back.
func blobPath(id string) string { return "/v1/blobs/" + url.PathEscape(id) }

// newRequest makes an authenticated request of path (which may carry a
// query) relative to the server's URL, or of an absolute URL.
func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	target := path
	if !strings.HasPrefix(path, "http://") && !strings.HasPrefix(path, "https://") {
		target = c.base.String() + path
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// do sends req and returns the response when its status is one of ok;
// any other becomes an [*Error] (and the body is closed).
func (c *Client) do(req *http.Request, ok ...int) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	for _, s := range ok {
		if resp.StatusCode == s {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	return nil, readError(resp)
}

// readError decodes the problem document of an error response.
func readError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(body, e) != nil || e.Status == 0 {
		e.Status = resp.StatusCode
		e.Detail = strings.TrimSpace(string(body))
		if len(e.Detail) > 200 {
			e.Detail = e.Detail[:200]
		}
	}
	e.Status = resp.StatusCode
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// doJSON sends req and decodes a JSON answer of status ok into out.
func (c *Client) doJSON(req *http.Request, ok int, out any) error {
	resp, err := c.do(req, ok)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: decoding the answer of %s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// Put stores size bytes of body under id by a raw PUT (size -1: chunked),
// with contentType ("" for the server's default). A non-nil sum is sent
// as the Content-Digest, which the server verifies.
func (c *Client) Put(ctx context.Context, id string, body io.Reader, size int64, contentType string, sum []byte) (Blob, error) {
	return c.put(ctx, id, body, size, contentType, sum, "")
}

// put is [Client.Put], replacing the blob stored under id when ifMatch
// (an entity tag, or *) is not empty.
func (c *Client) put(ctx context.Context, id string, body io.Reader, size int64, contentType string, sum []byte, ifMatch string) (Blob, error) {
	req, err := c.newRequest(ctx, http.MethodPut, blobPath(id), body)
	if err != nil {
		return Blob{}, err
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if sum != nil {
		req.Header.Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum)+":")
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	var b Blob
	return b, c.doJSON(req, http.StatusCreated, &b)
}

// Stat returns the blob object of id (GET ?meta=1).
func (c *Client) Stat(ctx context.Context, id string) (Blob, error) {
	req, err := c.newRequest(ctx, http.MethodGet, blobPath(id)+"?meta=1", nil)
	if err != nil {
		return Blob{}, err
	}
	var b Blob
	return b, c.doJSON(req, http.StatusOK, &b)
}

// Delete removes the blob id.
func (c *Client) Delete(ctx context.Context, id string) error {
	req, err := c.newRequest(ctx, http.MethodDelete, blobPath(id), nil)
	if err != nil {
		return err
	}
	return c.doJSON(req, http.StatusNoContent, nil)
}

// Download is an open download of a blob's bytes.
type Download struct {
	io.ReadCloser
	// Offset is where the body starts in the blob: the offset asked for,
	// or 0 when the server sent the whole blob (the blob changed, so
	// If-Range did not match).
	Offset int64
	// Size is the whole blob's size.
	Size int64
	// ETag is the blob's entity tag (its SHA-256, quoted).
	ETag string
}

// Open starts reading the bytes of id from offset on (GET ?alt=media with
// a Range). ifRange, when not empty, is the ETag the bytes before offset
// belong to: if the blob no longer has it the server sends the whole blob
// and Offset is 0. An offset at the end of the blob gives an empty body.
// The body fails with an error if it ends before its Content-Length.
func (c *Client) Open(ctx context.Context, id string, offset int64, ifRange string) (*Download, error) {
	req, err := c.newRequest(ctx, http.MethodGet, blobPath(id)+"?alt=media", nil)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		if ifRange != "" {
			req.Header.Set("If-Range", ifRange)
		}
	}
	resp, err := c.do(req, http.StatusOK, http.StatusPartialContent, http.StatusRequestedRangeNotSatisfiable)
	if err != nil {
		return nil, err
	}
	d := &Download{ETag: resp.Header.Get("ETag")}
	switch resp.StatusCode {
	case http.StatusOK:
		d.Size = resp.ContentLength
	case http.StatusPartialContent:
		var end int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/%d", &d.Offset, &end, &d.Size); err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("client: bad Content-Range %q", resp.Header.Get("Content-Range"))
		}
	case http.StatusRequestedRangeNotSatisfiable:
		// Past the end: fine when the offset is exactly the size.
		var size int64
		_, serr := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes */%d", &size)
		if serr != nil || size != offset {
			err := readError(resp)
			resp.Body.Close()
			return nil, err
		}
		resp.Body.Close()
		d.Offset, d.Size, d.ReadCloser = offset, size, io.NopCloser(strings.NewReader(""))
		return d, nil
	}
	d.ReadCloser = &exactBody{rc: resp.Body, left: resp.ContentLength}
	return d, nil
}

// exactBody fails a body that ends before its Content-Length: net/http
// reports that as io.ErrUnexpectedEOF already, but a cut connection may
// surface as a plain EOF through some proxies.
type exactBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *exactBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		err = errShortBody
	}
	return n, err
}

func (b *exactBody) Close() error { return b.rc.Close() }

// ListOptions selects a page of a listing.
type ListOptions struct {
	Prefix, Delimiter, Cursor string
	Limit                     int
}

// Page is one page of a listing.
type Page struct {
	Blobs      []Blob   `json:"blobs"`
	Prefixes   []string `json:"prefixes"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// List returns one page of the blobs matching o.
func (c *Client) List(ctx context.Context, o ListOptions) (Page, error) {
	q := url.Values{}
	if o.Prefix != "" {
		q.Set("prefix", o.Prefix)
	}
	if o.Delimiter != "" {
		q.Set("delimiter", o.Delimiter)
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	path := "/v1/blobs"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	req, err := c.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return Page{}, err
	}
	var p Page
	return p, c.doJSON(req, http.StatusOK, &p)
}

// Link returns an absolute signed URL that lets anyone GET id without a
// token for expiresIn (POST /v1/links).
func (c *Client) Link(ctx context.Context, id string, expiresIn time.Duration) (string, error) {
	body, _ := json.Marshal(map[string]any{"id": id, "expires_in": int64(expiresIn / time.Second)})
	req, err := c.newRequest(ctx, http.MethodPost, "/v1/links", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	var out struct {
		URL string `json:"url"`
	}
	if err := c.doJSON(req, http.StatusCreated, &out); err != nil {
		return "", err
	}
	u, err := c.base.Parse(out.URL)
	if err != nil {
		return "", fmt.Errorf("client: the server's link %q: %w", out.URL, err)
	}
	return u.String(), nil
}

// Key is an API key (DESIGN section 8). Token is set only in the answer
// of [Client.CreateKey].
type Key struct {
	KeyID     string     `json:"key_id"`
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	Prefix    string     `json:"prefix,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	LastUsed  *time.Time `json:"last_used_at,omitempty"`
	Token     string     `json:"token,omitempty"`
	// S3 says whether the key has S3 credentials: S3AccessKeyID (the key
	// id) and S3SecretAccessKey, which only the answer to its creation
	// holds.
	S3                bool   `json:"s3,omitempty"`
	S3AccessKeyID     string `json:"s3_access_key_id,omitempty"`
	S3SecretAccessKey string `json:"s3_secret_access_key,omitempty"`
}

// NewKey describes a key to create.
type NewKey struct {
	Name      string        `json:"name"`
	Scopes    []string      `json:"scopes"`
	Prefix    string        `json:"prefix,omitempty"`
	ExpiresIn time.Duration `json:"-"`
	// S3 asks for S3 credentials as well.
	S3 bool `json:"-"`
}

// CreateKey creates an API key; the answer holds its token, shown once.
func (c *Client) CreateKey(ctx context.Context, k NewKey) (Key, error) {
	body := map[string]any{"name": k.Name, "scopes": k.Scopes}
	if k.Prefix != "" {
		body["prefix"] = k.Prefix
	}
	if k.ExpiresIn > 0 {
		body["expires_in"] = int64(k.ExpiresIn / time.Second)
	}
	if k.S3 {
		body["s3"] = true
	}
	data, _ := json.Marshal(body)
	req, err := c.newRequest(ctx, http.MethodPost, "/v1/keys", bytes.NewReader(data))
	if err != nil {
		return Key{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	var out Key
	return out, c.doJSON(req, http.StatusCreated, &out)
}

// ListKeys lists the API keys, without their secrets.
func (c *Client) ListKeys(ctx context.Context) ([]Key, error) {
	req, err := c.newRequest(ctx, http.MethodGet, "/v1/keys", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req, http.StatusOK)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	// Either a bare array or {"keys": [...]}.
	var keys []Key
	if json.Unmarshal(body, &keys) == nil {
		return keys, nil
	}
	var wrapped struct {
		Keys []Key `json:"keys"`
	}
	if err := json.Unmarshal(body, &wrapped); err != nil {
		return nil, fmt.Errorf("client: decoding the key list: %w", err)
	}
	return wrapped.Keys, nil
}

// RevokeKey revokes the API key keyID.
func (c *Client) RevokeKey(ctx context.Context, keyID string) error {
	req, err := c.newRequest(ctx, http.MethodDelete, "/v1/keys/"+url.PathEscape(keyID), nil)
	if err != nil {
		return err
	}
	return c.doJSON(req, http.StatusNoContent, nil)
}

// SumFile returns the SHA-256 of the size bytes of r from offset 0.
func SumFile(r io.ReaderAt, size int64) ([]byte, error) {
	h := sha256.New()
	if err := hashFile(h, r, size); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// CRC32CFile returns the CRC-32C (Castagnoli) of the size bytes of r from
// offset 0: the checksum the server records beside each blob's SHA-256
// (see [Client.Digests]), at about a quarter of the CPU of a SHA-256.
func CRC32CFile(r io.ReaderAt, size int64) (uint32, error) {
	h := crc32.New(castagnoli)
	if err := hashFile(h, r, size); err != nil {
		return 0, err
	}
	return h.Sum32(), nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// hashFile writes the size bytes of r from offset 0 to h, read a MiB at a
// time (a 32 KiB read per system call cost a tenth more CPU).
func hashFile(h hash.Hash, r io.ReaderAt, size int64) error {
	buf := make([]byte, max(1, min(size, 1<<20)))
	_, err := io.CopyBuffer(h, io.NewSectionReader(r, 0, size), buf)
	return err
}

// Digests are the checksums the server reports for a blob's bytes.
type Digests struct {
	// SHA256 is nil when the server reports no Repr-Digest (a server
	// older than the field, or a proxy that drops it).
	SHA256 []byte
	// CRC32C is the CRC-32C of the bytes when HasCRC32C: blobs stored
	// before the server recorded one have none until fsck --deep --repair.
	CRC32C    uint32
	HasCRC32C bool
}

// Digests returns the checksums of id's bytes from the Repr-Digest of
// HEAD ?alt=media, which the server answers from the blob's metadata
// alone; an answer without the field gives zero Digests, a malformed
// field an error.
func (c *Client) Digests(ctx context.Context, id string) (Digests, error) {
	req, err := c.newRequest(ctx, http.MethodHead, blobPath(id)+"?alt=media", nil)
	if err != nil {
		return Digests{}, err
	}
	resp, err := c.do(req, http.StatusOK)
	if err != nil {
		return Digests{}, err
	}
	resp.Body.Close()
	field := resp.Header.Get("Repr-Digest")
	if field == "" {
		return Digests{}, nil
	}
	return parseReprDigest(field)
}

// parseReprDigest reads the sha-256 and crc32c of an RFC 9530 digest
// field (algorithm=:base64:, comma-separated); other algorithms are left
// out, and a field without a sha-256 is an error.
func parseReprDigest(field string) (Digests, error) {
	var d Digests
	for _, item := range strings.Split(field, ",") {
		alg, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		raw, err := base64.StdEncoding.DecodeString(strings.Trim(val, ":"))
		if !ok || err != nil || len(val) < 2 || val[0] != ':' || val[len(val)-1] != ':' {
			return Digests{}, fmt.Errorf("client: the server sent Repr-Digest %q", field)
		}
		switch {
		case strings.EqualFold(alg, "sha-256") && len(raw) == sha256.Size:
			d.SHA256 = raw
		case strings.EqualFold(alg, "crc32c") && len(raw) == 4:
			d.CRC32C, d.HasCRC32C = binary.BigEndian.Uint32(raw), true
		}
	}
	if d.SHA256 == nil {
		return Digests{}, fmt.Errorf("client: the server sent Repr-Digest %q, without a sha-256", field)
	}
	return d, nil
}
