package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
)

// Replace stores size bytes of body as the new content of the blob id,
// only while its SHA-256 is still oldSHA256 (PUT with If-Match): a blob
// changed meanwhile, or gone, answers 412 and nothing is replaced. An
// empty oldSHA256 replaces whatever is stored (If-Match: *).
func (c *Client) Replace(ctx context.Context, id string, body io.Reader, size int64, contentType string, sum []byte, oldSHA256 string) (Blob, error) {
	ifMatch := "*"
	if oldSHA256 != "" {
		ifMatch = `"` + oldSHA256 + `"`
	}
	return c.put(ctx, id, body, size, contentType, sum, ifMatch)
}

// Move renames the blob from to the id to on the server, by its metadata
// alone (POST ?move_to=); a taken destination answers 409.
func (c *Client) Move(ctx context.Context, from, to string) (Blob, error) {
	return c.transfer(ctx, from, "move_to", to)
}

// Copy copies the blob from to the id to on the server (POST ?copy_to=);
// the bytes do not pass through the client. A taken destination answers
// 409.
func (c *Client) Copy(ctx context.Context, from, to string) (Blob, error) {
	return c.transfer(ctx, from, "copy_to", to)
}

func (c *Client) transfer(ctx context.Context, from, param, to string) (Blob, error) {
	req, err := c.newRequest(ctx, http.MethodPost, blobPath(from)+"?"+param+"="+url.QueryEscape(to), nil)
	if err != nil {
		return Blob{}, err
	}
	var b Blob
	return b, c.doJSON(req, http.StatusCreated, &b)
}

// Usage is the answer of GET /v1/usage. The garbage members are set for
// the whole drive only.
type Usage struct {
	Prefix         string `json:"prefix"`
	Blobs          int64  `json:"blobs"`
	Bytes          int64  `json:"bytes"`
	Uploads        int64  `json:"uploads"`
	UploadBytes    int64  `json:"upload_bytes"`
	GarbageKeys    *int64 `json:"garbage_keys,omitempty"`
	GarbageBytes   *int64 `json:"garbage_bytes,omitempty"`
	GarbagePartial *bool  `json:"garbage_partial,omitempty"`
}

// Usage returns what the drive holds under prefix (GET /v1/usage).
func (c *Client) Usage(ctx context.Context, prefix string) (Usage, error) {
	path := "/v1/usage"
	if prefix != "" {
		path += "?prefix=" + url.QueryEscape(prefix)
	}
	req, err := c.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	return u, c.doJSON(req, http.StatusOK, &u)
}
