package sigv4

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// StreamingPayload is the payload hash of an upload sent in aws-chunked
// encoding with every chunk signed ([Signer.SignStreaming]).
const StreamingPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

// DefaultChunkSize is the chunk size of [Signer.SignStreaming] when it is
// given none: 64 KiB, as the AWS SDKs use. AWS requires at least 8 KiB for
// every chunk but the last.
const DefaultChunkSize = 64 << 10

// minChunkSize is the smallest chunk AWS accepts, the last one excepted.
const minChunkSize = 8 << 10

// chunk framing: "<hex size>;chunk-signature=<64 hex>\r\n<data>\r\n".
const (
	chunkSigPrefix = ";chunk-signature="
	chunkSigLen    = 64
	crlf           = "\r\n"
)

// ChunkedLength returns the length on the wire of n bytes sent in
// aws-chunked encoding in chunks of chunkSize, final empty chunk included:
// the Content-Length of the request.
func ChunkedLength(n int64, chunkSize int) int64 {
	full, rest := n/int64(chunkSize), n%int64(chunkSize)
	total := full*chunkFrameLen(chunkSize) + chunkFrameLen(0)
	if rest > 0 {
		total += chunkFrameLen(int(rest))
	}
	return total
}

// chunkFrameLen is the encoded length of one chunk of size bytes.
func chunkFrameLen(size int) int64 {
	return int64(len(strconv.FormatInt(int64(size), 16)) + len(chunkSigPrefix) + chunkSigLen + 2*len(crlf) + size)
}

// SignStreaming signs req for an upload of the n bytes of body in
// aws-chunked encoding ([StreamingPayload]) as of t, and returns the
// request body to send: each chunk of chunkSize bytes
// ([DefaultChunkSize] when zero) signed with the signature of the one
// before, the first with the request's, and a final empty chunk.
//
// SignStreaming sets Content-Encoding (aws-chunked),
// X-Amz-Decoded-Content-Length (n) and req.ContentLength (the encoded
// length, [ChunkedLength]) before it signs, so they are signed too. The
// body reads from body one chunk at a time, holding one chunk in memory
// whatever n is; it fails with [io.ErrUnexpectedEOF] when body ends before
// n bytes, and never reads beyond them.
func (s *Signer) SignStreaming(req *http.Request, body io.Reader, n int64, chunkSize int, t time.Time) (*ChunkedBody, error) {
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	if chunkSize < minChunkSize || n < 0 {
		return nil, errors.New("sigv4: streaming needs chunks of at least 8 KiB and a known length")
	}
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(n, 10))
	req.ContentLength = ChunkedLength(n, chunkSize)
	sig, err := s.sign(req, StreamingPayload, t, true)
	if err != nil {
		return nil, err
	}
	return &ChunkedBody{
		signer: s, t: t.UTC(), previous: sig.signature,
		src: body, left: n, chunkSize: chunkSize,
	}, nil
}

// ChunkedBody is the aws-chunked body of a streaming upload; see
// [Signer.SignStreaming]. It is an io.Reader for one goroutine.
type ChunkedBody struct {
	// BeforeFinal, when set, is called once, after every byte of the
	// source is read and before the first byte of the final empty chunk
	// is yielded: the moment from which the server may hold the whole
	// upload. An error fails the Read, so the upload stays incomplete.
	BeforeFinal func() error

	signer    *Signer
	t         time.Time
	previous  string // signature of the last chunk framed
	src       io.Reader
	left      int64 // source bytes not yet read
	chunkSize int
	buf       []byte // the chunk being yielded, framed
	pending   []byte // its bytes not yet yielded
	done      bool   // the final chunk is framed
	err       error  // sticky
}

// Read yields the encoded stream.
func (b *ChunkedBody) Read(p []byte) (int, error) {
	for len(b.pending) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.done {
			return 0, io.EOF
		}
		b.err = b.next()
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}

// next frames the next chunk into pending.
func (b *ChunkedBody) next() error {
	size := int(min(int64(b.chunkSize), b.left))
	if size == 0 {
		if b.BeforeFinal != nil {
			if err := b.BeforeFinal(); err != nil {
				return err
			}
		}
		b.done = true
		b.buf = b.frame(b.buf[:0], nil)
		b.pending = b.buf
		return nil
	}
	if b.buf == nil {
		b.buf = make([]byte, 0, chunkFrameLen(b.chunkSize))
	}
	// Read the data where the frame will hold it, after the header.
	header := len(strconv.FormatInt(int64(size), 16)) + len(chunkSigPrefix) + chunkSigLen + len(crlf)
	data := b.buf[header : header+size]
	if _, err := io.ReadFull(b.src, data); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	b.left -= int64(size)
	b.buf = b.frame(b.buf[:0], data)
	b.pending = b.buf
	return nil
}

// frame writes into dst the frame of data, which may already sit at its
// place in dst's array, and chains the signature.
func (b *ChunkedBody) frame(dst, data []byte) []byte {
	b.previous = b.signer.SignChunk(b.t, b.previous, data)
	dst = strconv.AppendInt(dst, int64(len(data)), 16)
	dst = append(dst, chunkSigPrefix...)
	dst = append(dst, b.previous...)
	dst = append(dst, crlf...)
	dst = dst[:len(dst)+len(data)] // data is in place
	return append(dst, crlf...)
}
