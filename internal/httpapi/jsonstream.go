package httpapi

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/httpx"
)

// Buffers of a createStream. Their sum, with the stream's other fields, is
// createStreamMemory.
const (
	// streamInput is the buffer of body bytes read but not yet parsed.
	streamInput = 32 << 10
	// streamText holds base64 characters of data, unescaped and without
	// line breaks, waiting to be decoded: a multiple of 4.
	streamText = 16 << 10
	// streamOut holds bytes decoded from streamText that the reader's
	// caller had no room for.
	streamOut = streamText / 4 * 3
)

// createStreamMemory is what one JSON upload holds in the API layer while
// it streams, whatever the blob's size: its createStream, rounded up. It is
// the upload's reservation in the in-flight budget (see [API.create]).
const createStreamMemory = 64 << 10

// createStream parses the body of POST /v1/blobs (DESIGN section 4) as it
// arrives, in memory of a fixed size, and is the reader of the blob's bytes
// that the service stores.
//
// [createStream.head] parses the body up to the value of "data", checking
// everything before it; the id is known then when it came first. Reads of
// the stream then decode data's base64 straight into the caller's buffer,
// checking the JSON string and the base64 strictly as they go (413 as soon
// as more than maxBlob bytes are decoded), and once the string ends, parse
// the rest of the body to its end: a Read returns io.EOF only when the
// whole body is valid. Any fault, before or after data, makes every later
// Read fail with it, so the service's Put fails and stores nothing
// ([storage.Bucket.Put]: a Put whose reader fails stores nothing); it is
// then also [createStream.fault], which the handler answers with instead of
// the service's error.
//
// The first fault in body order is the one reported, with its problem code:
// malformed JSON, a missing, unknown, duplicate or non-string member, or
// anything after the object is invalid_request; an id that is not valid
// UTF-8 (or holds a lone surrogate escape) or breaks [blob.ValidateID] is
// invalid_id, found when the id's string ends; data that is not strict
// padded base64 is invalid_base64. Unlike encoding/json, invalid UTF-8 and
// lone surrogates are never replaced by U+FFFD.
//
// A createStream is not safe for concurrent use; get one with
// newCreateStream and return it with release.
type createStream struct {
	src     io.Reader
	maxBlob int64

	in     [streamInput]byte
	r, w   int   // in[r:w] is read and not yet parsed
	srcErr error // what ended src: io.EOF at the body's end

	seenID, seenData bool
	id               string
	str              [blob.MaxIDLen + 2*utf8.UTFMax]byte // a string being unescaped

	state     int
	text      [streamText]byte
	nt        int   // text[:nt] awaits decoding
	chars     int64 // base64 characters decoded before text
	padded    bool  // a quantum with padding was decoded: data must end
	outBuf    [streamOut]byte
	out       []byte // decoded bytes not yet returned
	size      int64  // bytes decoded
	err       error  // the body's fault, sticky
	truncated bool   // the last string was longer than its buffer
}

// States of a createStream.
const (
	stateHead     = iota // before data's value
	stateData            // in data's string
	stateDataEnd         // data's string ended; text may hold its last quanta
	stateRest            // after data's value: the rest of the body is parsed
	stateFinished        // the body ended and is valid
)

var createStreams = sync.Pool{New: func() any { return new(createStream) }}

// newCreateStream returns a stream parsing src, a body whose blob may have
// at most maxBlob bytes.
func newCreateStream(src io.Reader, maxBlob int64) *createStream {
	s := createStreams.Get().(*createStream)
	s.src, s.maxBlob = src, maxBlob
	s.r, s.w, s.srcErr = 0, 0, nil
	s.seenID, s.seenData, s.id = false, false, ""
	s.state, s.nt, s.chars, s.padded, s.out, s.size, s.err = stateHead, 0, 0, false, nil, 0, nil
	return s
}

// release returns s to the pool; s must no longer be used by anyone.
func (s *createStream) release() {
	s.src, s.out = nil, nil
	createStreams.Put(s)
}

// fault returns the fault found in the body, or nil.
func (s *createStream) fault() error { return s.err }

// lateID returns the id once the stream has ended valid: the
// [blob.Upload.LateID] of a body whose data came first.
func (s *createStream) lateID() string { return s.id }

// fail records err as the body's fault, unless one is already recorded,
// and returns the recorded fault.
func (s *createStream) fail(err error) error {
	if s.err == nil {
		s.err = err
	}
	return s.err
}

// head parses the body up to the start of data's string. After it returns
// nil, seenID tells whether the id came first; if so, id is valid.
func (s *createStream) head() error {
	s.skipSpace()
	if c, ok := s.peek(); !ok || c != '{' {
		if !ok && s.srcErr != io.EOF {
			return s.fail(bodyError(s.srcErr))
		}
		return s.fail(httpx.InvalidRequest("request body must be a JSON object"))
	}
	s.r++
	return s.members("")
}

// Read implements io.Reader over the decoded blob; see [createStream].
func (s *createStream) Read(p []byte) (int, error) {
	if len(p) == 0 && s.err == nil {
		return 0, nil
	}
	n := 0
	for n < len(p) && s.err == nil {
		if len(s.out) > 0 {
			k := copy(p[n:], s.out)
			s.out = s.out[k:]
			n += k
			continue
		}
		switch s.state {
		case stateData, stateDataEnd:
			k, err := s.decode(p[n:])
			n += k
			if err != nil {
				s.fail(err)
			}
			continue
		case stateRest:
			if err := s.members("data"); err != nil {
				s.fail(err)
			}
			continue
		}
		break
	}
	switch {
	case n > 0:
		return n, nil
	case s.err != nil:
		return 0, s.err
	case s.state == stateFinished:
		return 0, io.EOF
	}
	return 0, s.fail(errors.New("httpapi: createStream read before head"))
}

// members parses object members from the cursor, which is just after the
// '{' (after is "") or after the value of the member after names. It
// returns at the opening quote of data's string (state stateData) or at
// the end of the body (stateFinished).
func (s *createStream) members(after string) error {
	for {
		s.skipSpace()
		c, ok := s.peek()
		if !ok {
			return s.short("unterminated object")
		}
		switch {
		case c == '}':
			s.r++
			return s.end()
		case after != "" && c == ',':
			s.r++
			s.skipSpace()
			if c, ok = s.peek(); !ok {
				return s.short("unterminated object")
			}
		case after != "":
			return s.fail(httpx.InvalidRequest("malformed JSON: expected ',' or '}' after %q", after))
		}
		if c != '"' {
			return s.fail(httpx.InvalidRequest("malformed member name in the JSON object"))
		}
		name, text, err := s.string()
		if err != nil {
			return s.fail(err)
		}
		if !text {
			return s.fail(httpx.InvalidRequest("malformed member name in the JSON object"))
		}
		s.skipSpace()
		if c, ok := s.peek(); !ok || c != ':' {
			if !ok {
				return s.short("unterminated object")
			}
			return s.fail(httpx.InvalidRequest("malformed JSON: expected ':' after %q", httpx.Truncate(name)))
		}
		s.r++
		s.skipSpace()
		var seen *bool
		switch {
		case string(name) == "id" && !s.truncated:
			seen, after = &s.seenID, "id"
		case string(name) == "data" && !s.truncated:
			seen, after = &s.seenData, "data"
		default:
			return s.fail(httpx.InvalidRequest("unknown member %q: only \"id\" and \"data\" are allowed", httpx.Truncate(name)))
		}
		if *seen {
			return s.fail(httpx.InvalidRequest("duplicate member %q", after))
		}
		*seen = true
		c, ok = s.peek()
		if !ok && s.srcErr != io.EOF {
			return s.fail(bodyError(s.srcErr))
		}
		if !ok || c != '"' {
			return s.fail(httpx.InvalidRequest("member %q must be a string, got %s", after, kind(c, ok)))
		}
		if after == "data" {
			s.r++
			s.state = stateData
			return nil
		}
		value, text, err := s.string()
		switch {
		case err != nil:
			return s.fail(err)
		case s.truncated:
			return s.fail(fmt.Errorf("%w: longer than %d bytes", blob.ErrInvalidID, blob.MaxIDLen))
		case !text:
			return s.fail(&httpx.RequestError{Code: httpx.CodeInvalidID, Detail: "id must be valid UTF-8 without lone surrogates"})
		}
		if err := blob.ValidateID(string(value)); err != nil {
			return s.fail(err)
		}
		s.id = string(value)
	}
}

// end checks what follows the object's closing brace: nothing but
// whitespace, and that both members were there.
func (s *createStream) end() error {
	s.skipSpace()
	if _, ok := s.peek(); ok {
		return s.fail(httpx.InvalidRequest("unexpected data after the JSON object"))
	}
	if s.srcErr != io.EOF {
		return s.fail(bodyError(s.srcErr))
	}
	if !s.seenID || !s.seenData {
		return s.fail(httpx.InvalidRequest("the JSON object must have both \"id\" and \"data\" string members"))
	}
	s.state = stateFinished
	return nil
}

// short is the fault of a body that ended, or failed to read, where more
// JSON was due.
func (s *createStream) short(what string) error {
	if s.srcErr != io.EOF {
		return s.fail(bodyError(s.srcErr))
	}
	return s.fail(httpx.InvalidRequest("malformed JSON: %s", what))
}

// kind names the JSON value starting with c, for error messages.
func kind(c byte, ok bool) string {
	switch {
	case !ok:
		return "nothing"
	case c == 'n':
		return "null"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '-' || '0' <= c && c <= '9':
		return "a number"
	}
	return "invalid JSON"
}

// more reads more of the body into in, keeping in[r:w]. It reports false
// when the body has ended or failed (srcErr).
func (s *createStream) more() bool {
	if s.srcErr != nil {
		return false
	}
	if s.r == s.w {
		s.r, s.w = 0, 0
	} else if s.r > 0 && len(s.in)-s.w < 4<<10 {
		s.w = copy(s.in[:], s.in[s.r:s.w])
		s.r = 0
	}
	for range 100 {
		n, err := s.src.Read(s.in[s.w:])
		s.w += n
		if err != nil {
			s.srcErr = err
		}
		if n > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
	s.srcErr = io.ErrNoProgress
	return false
}

// ensure reports whether n bytes are buffered at the cursor, reading more
// when needed; n is at most a few bytes.
func (s *createStream) ensure(n int) bool {
	for s.w-s.r < n {
		if !s.more() {
			return false
		}
	}
	return true
}

// peek returns the byte at the cursor; ok is false at the end of the body
// or when it failed.
func (s *createStream) peek() (c byte, ok bool) {
	if s.r == s.w && !s.more() {
		return 0, false
	}
	return s.in[s.r], true
}

func (s *createStream) skipSpace() {
	for {
		for s.r < s.w {
			switch s.in[s.r] {
			case ' ', '\t', '\n', '\r':
				s.r++
			default:
				return
			}
		}
		if !s.more() {
			return
		}
	}
}

// string reads the JSON string at the cursor, which is at its opening
// quote, and returns its value, unescaped into s.str. When the value is
// longer than s.str, it is cut there and s.truncated is set; the string is
// read to its end all the same. text is false when the value is not valid
// Unicode text (invalid UTF-8 bytes or a lone surrogate escape).
func (s *createStream) string() (value []byte, text bool, err error) {
	s.r++ // the opening quote
	s.truncated = false
	out := s.str[:0]
	text = true
	add := func(b ...byte) {
		if len(out)+len(b) > cap(out) {
			s.truncated = true
			return
		}
		out = append(out, b...)
	}
	for {
		if !s.ensure(1) {
			return nil, false, s.short("unterminated string")
		}
		c := s.in[s.r]
		switch {
		case c == '"':
			s.r++
			return out, text && utf8.Valid(out), nil
		case c < 0x20:
			return nil, false, httpx.InvalidRequest("malformed JSON: control character in a string")
		case c != '\\':
			add(c)
			s.r++
			continue
		}
		if !s.ensure(2) {
			return nil, false, s.short("unterminated string")
		}
		esc := s.in[s.r+1]
		s.r += 2
		switch esc {
		case '"', '\\', '/':
			add(esc)
		case 'b':
			add('\b')
		case 'f':
			add('\f')
		case 'n':
			add('\n')
		case 'r':
			add('\r')
		case 't':
			add('\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, false, s.badEscape()
			}
			if utf16.IsSurrogate(r) {
				r = s.lowSurrogate(r)
				if r == utf8.RuneError {
					text = false
				}
			}
			var enc [utf8.UTFMax]byte
			add(enc[:utf8.EncodeRune(enc[:], r)]...)
		default:
			return nil, false, httpx.InvalidRequest("malformed JSON: bad escape \\%c", esc)
		}
	}
}

// badEscape is the fault of a \u escape without four hex digits.
func (s *createStream) badEscape() error {
	if s.srcErr != nil && s.srcErr != io.EOF {
		return bodyError(s.srcErr)
	}
	return httpx.InvalidRequest("malformed JSON: bad \\u escape")
}

// hex4 reads the four hex digits of a \u escape, whose "\u" is consumed.
func (s *createStream) hex4() (rune, bool) {
	if !s.ensure(4) {
		return 0, false
	}
	var r rune
	for _, c := range s.in[s.r : s.r+4] {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	s.r += 4
	return r, true
}

// lowSurrogate completes the surrogate pair that high starts, returning
// utf8.RuneError, and consuming nothing, when high is not followed by a
// low surrogate escape.
func (s *createStream) lowSurrogate(high rune) rune {
	if high >= 0xdc00 || !s.ensure(6) || !bytes.HasPrefix(s.in[s.r:s.w], []byte(`\u`)) {
		return utf8.RuneError
	}
	save := s.r
	s.r += 2
	low, ok := s.hex4()
	if r := utf16.DecodeRune(high, low); ok && r != utf8.RuneError {
		return r
	}
	s.r = save
	return utf8.RuneError
}

// decode decodes more of data into dst, or into s.out when dst has no
// room for a whole batch, and returns how many bytes it put in dst. At the
// end of data's string it moves to stateRest.
func (s *createStream) decode(dst []byte) (int, error) {
	if s.state == stateData {
		if err := s.scanText(); err != nil {
			return 0, err
		}
	}
	k := s.nt &^ 3
	if s.state == stateDataEnd && k != s.nt {
		return 0, invalidBase64("its length is not a multiple of 4")
	}
	if k == 0 {
		if s.state == stateDataEnd {
			s.state = stateRest
		}
		return 0, nil
	}
	if s.padded {
		return 0, invalidBase64(fmt.Sprintf("illegal input at offset %d, after the padding", s.chars))
	}
	into := dst
	if len(dst) < k/4*3 {
		into = s.outBuf[:]
	}
	n, err := base64Strict.Decode(into, s.text[:k])
	if err != nil {
		var corrupt base64.CorruptInputError
		errors.As(err, &corrupt)
		return 0, invalidBase64(fmt.Sprintf("illegal input at offset %d", s.chars+int64(corrupt)))
	}
	s.padded = s.text[k-1] == '='
	s.chars += int64(k)
	s.nt = copy(s.text[:], s.text[k:s.nt])
	s.size += int64(n)
	if s.size > s.maxBlob {
		return 0, httpx.ErrTooLarge
	}
	if len(dst) < k/4*3 {
		s.out = s.outBuf[:n]
		return 0, nil
	}
	return n, nil
}

// scanText reads data's string into text, unescaping it and dropping line
// breaks, until text is full or the string ends (state stateDataEnd).
func (s *createStream) scanText() error {
	for s.nt < len(s.text) {
		if s.r == s.w && !s.more() {
			return s.short("unterminated string")
		}
		// The common case: a run of base64 characters.
		in, text := s.in[s.r:s.w], s.text[s.nt:]
		i := 0
		for i < len(in) && i < len(text) && base64Chars[in[i]] {
			text[i] = in[i]
			i++
		}
		s.r += i
		s.nt += i
		if s.nt == len(s.text) || s.r == s.w {
			continue
		}
		var c byte
		switch c = s.in[s.r]; {
		case c == '"':
			s.r++
			s.state = stateDataEnd
			return nil
		case c == '\\':
			esc, err := s.textEscape()
			if err != nil {
				return err
			}
			if esc == '\r' || esc == '\n' {
				continue
			}
			c = esc
		case c < 0x20:
			return httpx.InvalidRequest("malformed JSON: control character in a string")
		default:
			return invalidBase64(fmt.Sprintf("illegal input at offset %d", s.chars+int64(s.nt)))
		}
		if !base64Chars[c] {
			return invalidBase64(fmt.Sprintf("illegal input at offset %d", s.chars+int64(s.nt)))
		}
		s.text[s.nt] = c
		s.nt++
	}
	return nil
}

// textEscape reads the escape at the cursor in data's string and returns
// the byte it stands for, or 0xFF, which is not base64, for a character
// that is not ASCII.
func (s *createStream) textEscape() (byte, error) {
	if !s.ensure(2) {
		return 0, s.short("unterminated string")
	}
	esc := s.in[s.r+1]
	s.r += 2
	switch esc {
	case '"', '\\', '/':
		return esc, nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, ok := s.hex4()
		if !ok {
			return 0, s.badEscape()
		}
		if r >= utf8.RuneSelf {
			return 0xFF, nil
		}
		return byte(r), nil
	}
	return 0, httpx.InvalidRequest("malformed JSON: bad escape \\%c", esc)
}
