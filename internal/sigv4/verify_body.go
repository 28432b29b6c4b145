package sigv4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Limits of the aws-chunked decoder. The decoder holds one buffer of
// chunkBufSize bytes whatever the chunk sizes claim; a chunk header or a
// trailer line must fit in it.
const (
	chunkBufSize    = 32 << 10
	maxTrailerLines = 32 // blank ones included
)

// attachBody sets vd.Body, DecodedLength and Trailer for the payload mode
// payloadHash of r, signed with key.
func (v *Verifier) attachBody(vd *Verified, r *http.Request, a *authRequest, key []byte, payloadHash string) error {
	src := r.Body
	if src == nil {
		src = http.NoBody
	}
	vd.DecodedLength = r.ContentLength
	vd.Trailer = func() http.Header { return nil }
	switch payloadHash {
	case UnsignedPayload:
		vd.Body = &hashedBody{src: src}
		return nil
	case StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer:
	default:
		want, _ := hex.DecodeString(payloadHash) // checked by requestPayloadHash
		vd.Body = &hashedBody{src: src, h: sha256.New(), want: want}
		return nil
	}
	decoded := int64(-1)
	if s := r.Header.Get("X-Amz-Decoded-Content-Length"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return newError(http.StatusBadRequest, "InvalidArgument", "X-Amz-Decoded-Content-Length must be a non-negative integer")
		}
		decoded = n
	}
	c := &chunkedBody{
		src:         src,
		br:          bufio.NewReaderSize(src, chunkBufSize),
		signed:      payloadHash != StreamingUnsignedPayloadTrailer,
		withTrailer: payloadHash != StreamingPayload,
		key:         key,
		prefix:      a.t.Format(TimeFormat) + "\n" + a.scope() + "\n",
		previous:    a.signature,
		left:        decoded,
		h:           sha256.New(),
	}
	for _, list := range r.Header.Values("X-Amz-Trailer") {
		for _, name := range strings.Split(list, ",") {
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
				c.declared = append(c.declared, name)
			}
		}
	}
	vd.Body = c
	vd.DecodedLength = decoded
	vd.Trailer = func() http.Header {
		if !c.done {
			return nil
		}
		return c.trailer
	}
	return nil
}

// incompleteBody is the refusal of a body that ends early.
func incompleteBody() *Error {
	return newError(http.StatusBadRequest, "IncompleteBody",
		"You did not provide the number of bytes specified by the Content-Length HTTP header.")
}

// sourceError turns an early end of the request body into IncompleteBody
// and passes other transport errors through.
func sourceError(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return incompleteBody()
	}
	return err
}

// hashedBody passes a single-part payload through, checking its SHA-256
// at the end when h is set.
type hashedBody struct {
	src  io.ReadCloser
	h    hash.Hash // nil for UNSIGNED-PAYLOAD
	want []byte
	err  error // sticky
}

func (b *hashedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.src.Read(p)
	if b.h != nil {
		b.h.Write(p[:n])
	}
	switch {
	case err == io.EOF && b.h != nil && !bytes.Equal(b.h.Sum(nil), b.want):
		err = newError(http.StatusBadRequest, "XAmzContentSHA256Mismatch",
			"The provided 'x-amz-content-sha256' header does not match what was computed.")
	case err != nil && err != io.EOF:
		err = sourceError(err)
	}
	b.err = err
	return n, err
}

func (b *hashedBody) Close() error { return b.src.Close() }

// chunkedBody decodes an aws-chunked payload:
//
//	<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n ... 0[;chunk-signature=<sig>]\r\n
//	[<trailer>:<value>\r\n ... [x-amz-trailer-signature:<sig>\r\n]]\r\n
//
// Each chunk's bytes are hashed as they pass; its signature is checked
// when its last byte has been read, before the next chunk's first byte is
// returned, and io.EOF comes only after the final chunk, the trailer and
// its signature are checked.
type chunkedBody struct {
	src         io.ReadCloser
	br          *bufio.Reader
	signed      bool // chunks (and the trailer) carry signatures
	withTrailer bool // a trailer section follows the final chunk
	key         []byte
	prefix      string // "<amz date>\n<scope>\n" of every chunk string to sign
	previous    string // signature of the previous chunk, or of the request
	declared    []string
	left        int64 // decoded bytes still to come; -1 when unknown

	inChunk   bool      // a chunk's data is being passed
	chunkLeft int64     // its bytes not yet passed
	chunkSig  string    // the signature it claims
	h         hash.Hash // SHA-256 of the chunk's data (signed modes)
	small     bool      // a chunk shorter than the minimum was seen

	trailer http.Header
	done    bool  // every byte and the trailer verified
	err     error // sticky
}

func (c *chunkedBody) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.done {
		return 0, io.EOF
	}
	for c.chunkLeft == 0 {
		if err := c.advance(); err != nil {
			c.err = err
			return 0, err
		}
		if c.done {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > c.chunkLeft {
		p = p[:c.chunkLeft]
	}
	n, err := c.br.Read(p)
	if c.signed {
		c.h.Write(p[:n])
	}
	c.chunkLeft -= int64(n)
	if err != nil && (n == 0 || err != io.EOF) {
		c.err = sourceError(err)
		return n, c.err
	}
	return n, nil
}

func (c *chunkedBody) Close() error { return c.src.Close() }

// advance finishes the current chunk and reads the next chunk's header;
// after the final chunk it reads and checks the trailer and sets done.
func (c *chunkedBody) advance() error {
	if c.inChunk {
		if err := c.expectCRLF(); err != nil {
			return err
		}
		if err := c.checkChunkSignature(); err != nil {
			return err
		}
		c.inChunk = false
	}
	size, sig, err := c.readChunkHeader()
	if err != nil {
		return err
	}
	if c.left >= 0 && size > c.left {
		return newError(http.StatusBadRequest, "InvalidChunkSizeError",
			"The chunks carry more bytes than X-Amz-Decoded-Content-Length")
	}
	if c.signed && size > 0 {
		if c.small {
			return newError(http.StatusBadRequest, "InvalidChunkSizeError",
				"Only the last chunk is allowed to have a size less than 8192 bytes")
		}
		c.small = size < minChunkSize
	}
	c.chunkSig = sig
	c.h.Reset()
	if size > 0 {
		if c.left >= 0 {
			c.left -= size
		}
		c.inChunk, c.chunkLeft = true, size
		return nil
	}
	// The final, empty chunk.
	if err := c.checkChunkSignature(); err != nil {
		return err
	}
	if c.left > 0 {
		return incompleteBody()
	}
	if c.withTrailer {
		if err := c.readTrailer(); err != nil {
			return err
		}
	} else if err := c.expectCRLF(); err != nil {
		return err
	}
	if _, err := c.br.ReadByte(); err != io.EOF {
		if err != nil {
			return err
		}
		return newError(http.StatusBadRequest, "InvalidRequest", "The request body goes on after its final aws-chunked chunk")
	}
	c.done = true
	return nil
}

// readLine returns the next chunk header, a CRLF-terminated line, without
// its CRLF. The line lives in the reader's buffer until the next read.
func (c *chunkedBody) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, malformedChunk("a chunk header is too long")
	case err != nil:
		return nil, sourceError(err)
	case len(line) < 2 || line[len(line)-2] != '\r':
		return nil, malformedChunk("a chunk header does not end in CRLF")
	}
	return line[:len(line)-2], nil
}

func malformedChunk(msg string) *Error {
	return newError(http.StatusBadRequest, "InvalidRequest", "Malformed aws-chunked encoding: %s", msg)
}

// expectCRLF consumes the CRLF after a chunk's data.
func (c *chunkedBody) expectCRLF() error {
	var b [2]byte
	if _, err := io.ReadFull(c.br, b[:]); err != nil {
		return sourceError(err)
	}
	if b != [2]byte{'\r', '\n'} {
		return malformedChunk("a chunk's data is not followed by CRLF")
	}
	return nil
}

// readChunkHeader parses "<hex size>;chunk-signature=<sig>" (signed) or
// "<hex size>[;<extensions>]" (unsigned).
func (c *chunkedBody) readChunkHeader() (int64, string, error) {
	line, err := c.readLine()
	if err != nil {
		return 0, "", err
	}
	sizeHex, sig := line, []byte(nil)
	if c.signed {
		var ok bool
		sizeHex, sig, ok = bytes.Cut(line, []byte(";chunk-signature="))
		if !ok {
			return 0, "", newError(http.StatusForbidden, "SignatureDoesNotMatch", "A chunk carries no chunk-signature")
		}
	} else {
		// Unsigned chunks may carry extensions (minio-go writes "<size>;"),
		// which mean nothing here.
		sizeHex, _, _ = bytes.Cut(line, []byte(";"))
	}
	if len(sizeHex) == 0 || len(sizeHex) > 15 {
		return 0, "", newError(http.StatusBadRequest, "InvalidChunkSizeError", "A chunk size is not a hex number of at most 15 digits")
	}
	size, err := strconv.ParseInt(string(sizeHex), 16, 64)
	if err != nil || size < 0 || sizeHex[0] == '+' || sizeHex[0] == '-' {
		return 0, "", newError(http.StatusBadRequest, "InvalidChunkSizeError", "A chunk size is not a hex number of at most 15 digits")
	}
	return size, string(sig), nil
}

// checkChunkSignature checks the signature of the chunk whose data went
// through c.h and chains it.
func (c *chunkedBody) checkChunkSignature() error {
	if !c.signed {
		return nil
	}
	sts := Algorithm + "-PAYLOAD\n" + c.prefix + c.previous + "\n" + EmptyPayloadHash + "\n" + hex.EncodeToString(c.h.Sum(nil))
	if !signatureMatches(c.key, sts, c.chunkSig) {
		return newError(http.StatusForbidden, "SignatureDoesNotMatch",
			"The chunk signature we calculated does not match the signature you provided.")
	}
	c.previous = c.chunkSig
	return nil
}

// readTrailer reads the trailer section to the end of the body, checks
// that it holds exactly the declared headers, and checks its signature
// when the mode signs it. Lines end in CRLF or, as minio-go writes them,
// in LF; blank lines are skipped (minio-go puts one between the headers
// and their signature), and the section ends with a blank line at the end
// of the body.
func (c *chunkedBody) readTrailer() error {
	malformed := func(msg string) error {
		return newError(http.StatusBadRequest, "MalformedTrailerError",
			"The request contained trailing data that was not well-formed or did not conform to our published schema: %s", msg)
	}
	c.trailer = http.Header{}
	var canonical strings.Builder
	sig := ""
	for lines := 0; ; lines++ {
		if lines == maxTrailerLines {
			return malformed("too many trailer lines")
		}
		line, err := c.br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			return malformed("a trailer line is too long")
		case err != nil:
			return sourceError(err)
		}
		line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
		if len(line) == 0 {
			if _, err := c.br.Peek(1); err == io.EOF {
				break
			}
			continue
		}
		if sig != "" {
			return malformed("a line follows the trailer signature")
		}
		name, value, ok := strings.Cut(string(line), ":")
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		if !ok || name == "" {
			return malformed("a trailer line is not name:value")
		}
		if c.signed && name == "x-amz-trailer-signature" {
			sig = value
			continue
		}
		if len(c.trailer.Values(name)) > 0 || !slices.Contains(c.declared, name) {
			return malformed("trailer " + name + " was not declared in x-amz-trailer or is repeated")
		}
		c.trailer.Add(name, value)
		canonical.WriteString(name + ":" + value + "\n")
	}
	if len(c.trailer) != len(c.declared) {
		return malformed("a trailer declared in x-amz-trailer is missing")
	}
	if !c.signed {
		return nil
	}
	sum := sha256.Sum256([]byte(canonical.String()))
	sts := Algorithm + "-TRAILER\n" + c.prefix + c.previous + "\n" + hex.EncodeToString(sum[:])
	if !signatureMatches(c.key, sts, sig) {
		return newError(http.StatusForbidden, "SignatureDoesNotMatch",
			"The trailer signature we calculated does not match the signature you provided.")
	}
	return nil
}
