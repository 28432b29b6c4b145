package httpapi

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// createRequest is the body of POST /v1/blobs.
type createRequest struct {
	id string
	// data is the validated base64 text, decoded only as it is stored, so
	// the decoded blob never needs a buffer of its own.
	data []byte
	// size is the number of bytes data decodes to.
	size int64
}

// blob returns a reader of the decoded bytes.
func (r createRequest) blob() io.Reader {
	return fillReader{base64.NewDecoder(base64Strict, bytes.NewReader(r.data))}
}

// fillReader fills each buffer it is given unless the stream ends first.
// The base64 decoder yields at most 768 bytes per Read; without this, a
// backend copying with io.Copy would issue a write per 768 bytes.
type fillReader struct{ r io.Reader }

func (f fillReader) Read(p []byte) (int, error) {
	n, err := io.ReadFull(f.r, p)
	if err == io.ErrUnexpectedEOF && n > 0 {
		err = nil // the stream ended within p: the next Read reports io.EOF
	}
	return n, err
}

// requestError is a client error found while parsing a request body; code is
// the problem code it is reported with.
type requestError struct {
	code   string
	detail string
}

func (e *requestError) Error() string { return e.detail }

func invalidRequest(format string, args ...any) error {
	return &requestError{code: codeInvalidRequest, detail: fmt.Sprintf(format, args...)}
}

// errTooLarge reports a blob over the size limit.
var errTooLarge = errors.New("httpapi: blob too large")

// errBusy reports an upload that does not fit in the in-flight budget.
var errBusy = errors.New("httpapi: in-flight upload budget exhausted")

// errBodyTimeout reports a request body that stopped arriving for the idle
// body timeout.
var errBodyTimeout = errors.New("httpapi: request body timed out")

// base64Strict decodes standard base64 with padding; it rejects non-zero
// padding bits and ignores CR and LF, as encoding/base64 always does.
var base64Strict = base64.StdEncoding.Strict()

// parseCreateRequest parses body strictly: one JSON object with exactly the
// string members "id" and "data", names matched case-sensitively, no
// duplicates, no other members, nothing after it. Unlike encoding/json, it
// rejects invalid UTF-8 and lone surrogate escapes instead of replacing them
// with U+FFFD. The id's rules are checked by the service; data is validated
// here, and a blob of more than maxBlob bytes gives errTooLarge.
//
// It scans body in place, so a data string without escapes, the common
// case, is decoded straight from the request buffer without a copy.
func parseCreateRequest(body []byte, maxBlob int64) (createRequest, error) {
	p := scanner{b: body}
	var req createRequest
	var id, data []byte
	var idText bool
	var seenID, seenData bool
	p.skipSpace()
	if !p.consume('{') {
		return req, invalidRequest("request body must be a JSON object")
	}
	for first := true; ; first = false {
		p.skipSpace()
		if first && p.consume('}') {
			break
		}
		name, text, err := p.str()
		if err != nil || !text {
			return req, invalidRequest("malformed member name in the JSON object")
		}
		p.skipSpace()
		if !p.consume(':') {
			return req, invalidRequest("malformed JSON: expected ':' after %q", name)
		}
		p.skipSpace()
		var seen *bool
		switch string(name) {
		case "id":
			seen = &seenID
		case "data":
			seen = &seenData
		default:
			return req, invalidRequest("unknown member %q: only \"id\" and \"data\" are allowed", truncate(name))
		}
		if *seen {
			return req, invalidRequest("duplicate member %q", name)
		}
		*seen = true
		if !p.at('"') {
			return req, invalidRequest("member %q must be a string, got %s", name, p.kind())
		}
		value, text, err := p.str()
		if err != nil {
			return req, err
		}
		if string(name) == "id" {
			id, idText = value, text
		} else {
			data = value
		}
		p.skipSpace()
		if p.consume(',') {
			continue
		}
		if p.consume('}') {
			break
		}
		return req, invalidRequest("malformed JSON: expected ',' or '}' after %q", name)
	}
	p.skipSpace()
	if !p.done() {
		return req, invalidRequest("unexpected data after the JSON object")
	}
	if !seenID || !seenData {
		return req, invalidRequest("the JSON object must have both \"id\" and \"data\" string members")
	}
	if !idText {
		return req, &requestError{code: codeInvalidID, detail: "id must be valid UTF-8 without lone surrogates"}
	}
	req.id = string(id)
	size, err := base64Size(data)
	if err != nil {
		return req, err
	}
	if size > maxBlob {
		return req, errTooLarge
	}
	req.data, req.size = data, size
	return req, nil
}

// base64Size checks that src is standard padded base64 (RFC 4648 section
// 4, ignoring CR and LF, with zero padding bits, as the strict decoder
// wants) and returns the number of bytes it decodes to. It allocates
// nothing.
func base64Size(src []byte) (int64, error) {
	var chars, pad int64
	for i, c := range src {
		switch base64Classes[c] {
		case base64Data:
			if pad > 0 {
				return 0, invalidBase64(fmt.Sprintf("illegal input at offset %d", i))
			}
			chars++
		case base64Pad:
			pad++
			chars++
		case base64Skip:
		default:
			return 0, invalidBase64(fmt.Sprintf("illegal input at offset %d", i))
		}
	}
	if chars%4 != 0 || pad > 2 {
		return 0, invalidBase64("its length is not a multiple of 4")
	}
	// The strict decoder also wants the unused bits of the final quantum
	// to be zero: decode it to find out.
	var last [4]byte
	for i, n := len(src)-1, 4; n > 0 && i >= 0; i-- {
		if base64Classes[src[i]] != base64Skip {
			n--
			last[n] = src[i]
		}
	}
	if chars > 0 {
		var quantum [3]byte
		if _, err := base64Strict.Decode(quantum[:], last[:]); err != nil {
			return 0, invalidBase64("its final quantum has non-zero padding bits")
		}
	}
	return chars/4*3 - pad, nil
}

func invalidBase64(why string) error {
	return &requestError{code: codeInvalidBase64, detail: "data is not standard padded base64 (RFC 4648 section 4): " + why}
}

// Classes of bytes in base64 text.
const (
	base64Invalid = iota
	base64Data
	base64Pad
	base64Skip // CR and LF, which the decoder ignores
)

// base64Classes maps each byte to its class in standard base64 text.
var base64Classes = func() (classes [256]byte) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
		classes[c] = base64Data
	}
	classes['='] = base64Pad
	classes['\r'], classes['\n'] = base64Skip, base64Skip
	return classes
}()

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// scanner reads JSON tokens from a byte slice.
type scanner struct {
	b []byte
	i int
}

func (p *scanner) done() bool     { return p.i == len(p.b) }
func (p *scanner) at(c byte) bool { return p.i < len(p.b) && p.b[p.i] == c }
func (p *scanner) consume(c byte) bool {
	if p.at(c) {
		p.i++
		return true
	}
	return false
}

func (p *scanner) skipSpace() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// kind names the JSON value at the cursor, for error messages.
func (p *scanner) kind() string {
	if p.done() {
		return "nothing"
	}
	switch c := p.b[p.i]; {
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

// str reads a JSON string at the cursor and returns its value. text is false
// when the value is not valid Unicode text (invalid UTF-8 bytes or a lone
// surrogate escape); err is set when the JSON itself is malformed. The
// value aliases the input unless the string has escapes.
func (p *scanner) str() (value []byte, text bool, err error) {
	if !p.consume('"') {
		return nil, false, invalidRequest("malformed JSON: expected a string")
	}
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			value = p.b[start:p.i]
			p.i++
			return value, utf8.Valid(value), nil
		case c == '\\':
			return p.unescape(start)
		case c < 0x20:
			return nil, false, invalidRequest("malformed JSON: control character in a string")
		}
		p.i++
	}
	return nil, false, invalidRequest("malformed JSON: unterminated string")
}

// unescape finishes a string that has escapes, writing its value over the
// input in place: no escape is shorter than what it stands for, so the
// value never overtakes the bytes still to be read, and a body's memory is
// the body alone. The scanned input is overwritten.
func (p *scanner) unescape(start int) (value []byte, text bool, err error) {
	out := p.b[start:p.i]
	text = true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return out, text && utf8.Valid(out), nil
		case c < 0x20:
			return nil, false, invalidRequest("malformed JSON: control character in a string")
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			break
		}
		esc := p.b[p.i+1]
		p.i += 2
		switch esc {
		case '"', '\\', '/':
			out = append(out, esc)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return nil, false, invalidRequest("malformed JSON: bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r = p.lowSurrogate(r)
				if r == utf8.RuneError {
					text = false
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, false, invalidRequest("malformed JSON: bad escape \\%c", esc)
		}
	}
	return nil, false, invalidRequest("malformed JSON: unterminated string")
}

// hex4 reads the four hex digits of a \u escape.
func (p *scanner) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
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
	p.i += 4
	return r, true
}

// lowSurrogate completes the surrogate pair that high starts, returning
// utf8.RuneError when high is not followed by a low surrogate escape.
func (p *scanner) lowSurrogate(high rune) rune {
	if high >= 0xdc00 || !bytes.HasPrefix(p.b[p.i:], []byte(`\u`)) {
		return utf8.RuneError
	}
	save := p.i
	p.i += 2
	low, ok := p.hex4()
	if r := utf16.DecodeRune(high, low); ok && r != utf8.RuneError {
		return r
	}
	p.i = save
	return utf8.RuneError
}
