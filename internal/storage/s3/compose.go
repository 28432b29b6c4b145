package s3

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/simpledrive/simpledrive/internal/storage"
)

var _ storage.Composer = (*Store)(nil)

// Compose implements [storage.Composer] on the server: a multipart upload
// of dst whose parts are copies of the part objects (UploadPartCopy), so
// no byte passes through the service; CompleteMultipartUpload makes dst
// appear whole, and any failure aborts the upload, as in a Put. S3 wants
// every part but the last of at least [MinPartSize] bytes and at most
// [MaxPartSize], and at most 10,000 of them: parts outside those bounds,
// or an empty dst, give [errors.ErrUnsupported] before anything is stored,
// and the Bucket streams them instead. A HEAD of each part first learns
// its size.
func (s *Store) Compose(ctx context.Context, dst string, parts []string, size int64) error {
	if err := storage.CheckCall(ctx, dst); err != nil {
		return err
	}
	sizes := make([]int64, len(parts))
	var total int64
	for i, p := range parts {
		if err := storage.ValidateKey(p); err != nil {
			return err
		}
		res, err := s.exec(ctx, call{method: http.MethodHead, key: s.objectKey(p)})
		if err != nil {
			return fmt.Errorf("part %q: %w", p, mapErr(err))
		}
		if sizes[i], err = strconv.ParseInt(res.header.Get("Content-Length"), 10, 64); err != nil {
			return fmt.Errorf("part %q: no length in the answer to HEAD", p)
		}
		total += sizes[i]
	}
	if total != size {
		return fmt.Errorf("%w: the parts hold %d bytes, want %d", storage.ErrSizeMismatch, total, size)
	}
	if !composable(sizes) {
		return fmt.Errorf("s3: parts outside the sizes a multipart copy allows: %w", errors.ErrUnsupported)
	}
	name := s.objectKey(dst)
	return mapErr(s.inMultipart(ctx, name, func(id string) ([]completedPart, int64, error) {
		done := make([]completedPart, len(parts))
		for i, p := range parts {
			etag, err := s.copyPart(ctx, name, id, i+1, p)
			if err != nil {
				return nil, 0, err
			}
			done[i] = completedPart{PartNumber: i + 1, ETag: etag}
		}
		return done, size, nil
	}))
}

// composable reports whether parts of these sizes can make one multipart
// upload: not empty, at most maxParts, every one at most MaxPartSize and
// every one but the last at least MinPartSize (an empty last part is not
// copied by every server).
func composable(sizes []int64) bool {
	if len(sizes) == 0 || len(sizes) > maxParts {
		return false
	}
	for i, n := range sizes {
		if n > MaxPartSize || n == 0 || i < len(sizes)-1 && n < MinPartSize {
			return false
		}
	}
	return true
}

// copyPart copies the object of key as part n of the multipart upload id
// of the object name, and returns the part's ETag.
func (s *Store) copyPart(ctx context.Context, name, id string, n int, key string) (string, error) {
	src := (&url.URL{Path: "/" + s.bucket + "/" + s.objectKey(key)}).EscapedPath()
	q := "partNumber=" + strconv.Itoa(n) + "&uploadId=" + queryEscape(id)
	res, err := s.exec(ctx, call{method: http.MethodPut, key: name, query: q, body: []byte{},
		header: http.Header{"X-Amz-Copy-Source": {src}}})
	if err != nil {
		return "", fmt.Errorf("copying part %d: %w", n, err)
	}
	var out struct {
		ETag string `xml:"ETag"`
	}
	if err := xml.Unmarshal(res.body, &out); err != nil || out.ETag == "" {
		return "", fmt.Errorf("copying part %d: no ETag in the answer (%v)", n, err)
	}
	return out.ETag, nil
}
