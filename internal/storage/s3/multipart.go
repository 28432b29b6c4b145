package s3

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// putMultipart uploads a blob larger than one part to the object name:
// initiate, upload the parts one by one, each streamed from r in signed
// aws-chunked encoding with one chunk in memory, complete; abort on any
// failure. A part is retried only when it failed before its body was read.
func (s *Store) putMultipart(ctx context.Context, name string, r io.Reader, size int64) error {
	partSize := max(s.partSize, (size+maxParts-1)/maxParts)
	left := size
	return s.multipart(ctx, name, func() (part, error) {
		n := min(partSize, left)
		left -= n
		return part{stream: &stream{r: r, size: n, whole: left == 0}, last: left == 0}, nil
	})
}

// putUnsized uploads a blob whose size is not known in advance. It reads
// ahead one chunk: a blob that ends within it goes up with one buffered
// PUT. A larger one needs a part in memory, since every request declares
// its length before its body and only bytes already read are known to
// exist: it reads ahead one part and a byte, and sends the blob with one
// PUT when it ends within the part, else as a multipart upload of parts of
// the Store's part size, each read whole, and the byte after it, before it
// is sent, so the last part is known as such (which caps the blob at
// 10,000 parts). The parts are buffered, so each is retried like any
// buffered request.
func (s *Store) putUnsized(ctx context.Context, name string, r io.Reader) error {
	head := make([]byte, streamChunkSize+1)
	n, err := io.ReadFull(r, head)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		_, err := s.exec(ctx, call{method: http.MethodPut, key: name, body: head[:n]})
		return err
	case err != nil:
		return err
	}
	bp := s.partBuffer()
	defer s.releasePartBuffer(bp)
	buf := *bp // a part and the byte after it
	copy(buf, head)
	n, err = io.ReadFull(r, buf[len(head):])
	n += len(head)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		_, err := s.exec(ctx, call{method: http.MethodPut, key: name, body: buf[:n]})
		return err
	case err != nil:
		return err
	}
	part1 := true // buf holds the first part and a byte of the next
	return s.multipart(ctx, name, func() (part, error) {
		if !part1 {
			buf[0] = buf[s.partSize] // the byte read ahead begins the part
			n, err := io.ReadFull(r, buf[1:])
			switch {
			case err == io.EOF || err == io.ErrUnexpectedEOF:
				return part{body: buf[:1+n], last: true}, nil
			case err != nil:
				return part{}, err
			}
		}
		part1 = false
		return part{body: buf[:s.partSize]}, nil
	})
}

// part is one part of a multipart upload: its bytes in memory, or a
// stream of the caller's reader.
type part struct {
	body   []byte  // a buffered part, or nil
	stream *stream // a streamed part, or nil
	last   bool    // no part follows
}

// size returns the length of the part.
func (p part) size() int64 {
	if p.stream != nil {
		return p.stream.size
	}
	return int64(len(p.body))
}

// nextPart returns the next part of a blob, never empty.
type nextPart func() (part, error)

// multipart uploads the parts next returns as one multipart upload of the
// object name: initiate, upload the parts one by one, complete; abort on
// any failure.
func (s *Store) multipart(ctx context.Context, name string, next nextPart) error {
	return s.inMultipart(ctx, name, func(id string) ([]completedPart, int64, error) {
		return s.uploadParts(ctx, name, id, next)
	})
}

// inMultipart runs a multipart upload of the object name whose parts
// upload makes, given the upload's id: initiate, upload, complete; abort
// on any failure.
func (s *Store) inMultipart(ctx context.Context, name string, upload func(id string) ([]completedPart, int64, error)) error {
	id, err := s.initiate(ctx, name)
	if err != nil {
		return err
	}
	parts, size, err := upload(id)
	if err == nil {
		err = s.complete(ctx, name, id, parts, size)
	}
	if err != nil {
		if abortErr := s.abort(ctx, name, id); abortErr != nil {
			err = fmt.Errorf("%w (aborting multipart upload %s failed too: %v)", err, id, abortErr)
		}
		return err
	}
	return nil
}

// partBuffer returns a buffer of one part and a byte, from the pool when
// it has one.
func (s *Store) partBuffer() *[]byte {
	if b, ok := s.buffers.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, s.partSize+1)
	return &b
}

func (s *Store) releasePartBuffer(b *[]byte) { s.buffers.Put(b) }

// queryEscape escapes a query value the way SigV4 canonicalises it.
func queryEscape(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
}

// initiate starts a multipart upload and returns its id.
func (s *Store) initiate(ctx context.Context, name string) (string, error) {
	res, err := s.exec(ctx, call{method: http.MethodPost, key: name, query: "uploads=", body: []byte{}})
	if err != nil {
		return "", err
	}
	var out struct {
		UploadID string `xml:"UploadId"`
	}
	if err := xml.Unmarshal(res.body, &out); err != nil || out.UploadID == "" {
		return "", fmt.Errorf("initiating multipart upload: no upload id in the answer (%v)", err)
	}
	return out.UploadID, nil
}

// completedPart is one part in a CompleteMultipartUpload request.
type completedPart struct {
	PartNumber int    `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
}

// uploadParts uploads the parts next returns, and returns them with the
// blob's size.
func (s *Store) uploadParts(ctx context.Context, name, id string, next nextPart) ([]completedPart, int64, error) {
	var parts []completedPart
	var size int64
	for n := 1; ; n++ {
		p, err := next()
		if err != nil {
			return nil, 0, err
		}
		if n > maxParts {
			return nil, 0, fmt.Errorf("more than %d parts of %d bytes: raise S3_PART_SIZE", maxParts, s.partSize)
		}
		q := "partNumber=" + strconv.Itoa(n) + "&uploadId=" + queryEscape(id)
		res, err := s.exec(ctx, call{method: http.MethodPut, key: name, query: q, body: p.body, stream: p.stream})
		if p.stream != nil {
			p.stream.close()
		}
		if err != nil {
			return nil, 0, fmt.Errorf("uploading part %d: %w", n, err)
		}
		etag := res.header.Get("ETag")
		if etag == "" {
			return nil, 0, fmt.Errorf("uploading part %d: no ETag in the answer", n)
		}
		parts = append(parts, completedPart{PartNumber: n, ETag: etag})
		size += p.size()
		if p.last {
			return parts, size, nil
		}
	}
}

// complete assembles the uploaded parts into the object.
func (s *Store) complete(ctx context.Context, name, id string, parts []completedPart, size int64) error {
	body, err := xml.Marshal(struct {
		XMLName xml.Name        `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUpload"`
		Parts   []completedPart `xml:"Part"`
	}{Parts: parts})
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, call{method: http.MethodPost, key: name, query: "uploadId=" + queryEscape(id), body: body})
	var api *apiError
	if errors.As(err, &api) && api.Code == "NoSuchUpload" && s.holds(ctx, name, size) {
		// An earlier attempt completed the upload but its answer was lost.
		// Keys are never reused, so an object of the right size is ours.
		return nil
	}
	if err != nil {
		return fmt.Errorf("completing multipart upload: %w", err)
	}
	return nil
}

// holds reports whether the object name exists with size bytes.
func (s *Store) holds(ctx context.Context, name string, size int64) bool {
	res, err := s.exec(ctx, call{method: http.MethodHead, key: name})
	return err == nil && res.header.Get("Content-Length") == strconv.FormatInt(size, 10)
}

// abort abandons a multipart upload so its parts stop taking space. It
// runs even after ctx is cancelled, with retries, for at most
// [Config.Timeout] in all. When the upload is already gone, a
// CompleteMultipartUpload whose answer was lost may have made the object:
// abort then deletes it, keeping Put atomic.
func (s *Store) abort(ctx context.Context, name, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	_, err := s.exec(ctx, call{method: http.MethodDelete, key: name, query: "uploadId=" + queryEscape(id)})
	var api *apiError
	if errors.As(err, &api) && api.Code == "NoSuchUpload" {
		_, err = s.exec(ctx, call{method: http.MethodDelete, key: name})
	}
	return err
}
