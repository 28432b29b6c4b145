package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/httpx"
)

// TestCreateStream parses bodies in both member orders, with the faults a
// streaming parser meets before, inside and after data, each read in
// pieces of several sizes, so that every token is split at every place.
func TestCreateStream(t *testing.T) {
	const maxBlob = 8
	cases := []struct {
		body string
		id   string // the id, when valid
		data string // the decoded blob, when valid
		code string // the problem code, when not
	}{
		{body: `{"id":"x","data":"eA=="}`, id: "x", data: "x"},
		{body: `{"data":"eA==","id":"x"}`, id: "x", data: "x"},
		{body: " \t\r\n{ \"data\" : \"\" , \"id\" : \"a/b\" } \n", id: "a/b", data: ""},
		{body: `{"\u0069d":"\u00e9\ud83c\udf89\/","d\u0061ta":"\u0065\u0041\u003d\u003d"}`, id: "é🎉/", data: "x"},
		{body: `{"id":"x","data":"YWJj\r\nZGVm\nZ2g="}`, id: "x", data: "abcdefgh"},
		{body: `{"id":"x","data":"\/\/\/\/"}`, id: "x", data: "\xff\xff\xff"},
		{body: `{"id":"x","data":"YWJjZGVmZ2hp"}`, code: "too_large"},
		{body: `{"data":"YWJjZGVmZ2hp","id":"x"}`, code: "too_large"},

		// Faults before data: nothing reaches the service.
		{body: ``, code: "invalid_request"},
		{body: `[]`, code: "invalid_request"},
		{body: `{"id":"x","id":"y","data":""}`, code: "invalid_request"},
		{body: `{"ID":"x","data":""}`, code: "invalid_request"},
		{body: `{"id":null,"data":""}`, code: "invalid_request"},
		{body: `{"id":"x","data":null}`, code: "invalid_request"},
		{body: `{"id":"x","data":1}`, code: "invalid_request"},
		{body: `{"id":"x"}`, code: "invalid_request"},
		{body: `{"id":"","data":""}`, code: "invalid_id"},
		{body: `{"id":"\ud800","data":""}`, code: "invalid_id"},
		{body: "{\"id\":\"\xff\",\"data\":\"\"}", code: "invalid_id"},
		{body: `{"id":"` + strings.Repeat("a", 2000) + `","data":""}`, code: "invalid_id"},
		{body: `{"` + strings.Repeat("n", 2000) + `":"","data":""}`, code: "invalid_request"},

		// Faults in data.
		{body: `{"id":"x","data":"eA="}`, code: "invalid_base64"},
		{body: `{"id":"x","data":"eA==eA=="}`, code: "invalid_base64"},
		{body: `{"id":"x","data":"eB=="}`, code: "invalid_base64"},
		{body: `{"id":"x","data":"eA==` + strings.Repeat(`\r\n`, 5000) + `eA=="}`, code: "invalid_base64"},
		{body: `{"id":"x","data":"\u00e9AAA"}`, code: "invalid_base64"},
		{body: `{"id":"x","data":"\tAAA"}`, code: "invalid_base64"},
		{body: "{\"id\":\"x\",\"data\":\"\tAAA\"}", code: "invalid_request"},
		{body: "{\"id\":\"x\",\"data\":\"AA\r\nAA\"}", code: "invalid_request"},
		{body: `{"id":"x","data":"AA\qAA"}`, code: "invalid_request"},
		{body: `{"id":"x","data":"AA\u00"}`, code: "invalid_request"},
		{body: `{"id":"x","data":"AAAA`, code: "invalid_request"},

		// Faults after data, found once its bytes have streamed.
		{body: `{"id":"x","data":"eA=="} trailing`, code: "invalid_request"},
		{body: `{"id":"x","data":"eA=="}{}`, code: "invalid_request"},
		{body: `{"id":"x","data":"eA==",}`, code: "invalid_request"},
		{body: `{"id":"x","data":"eA==","data":"eA=="}`, code: "invalid_request"},
		{body: `{"id":"x","data":"eA==","extra":1}`, code: "invalid_request"},
		{body: `{"id":"x","data":"eA==" "x"}`, code: "invalid_request"},
		{body: `{"id":"x","data":"eA=="`, code: "invalid_request"},
		{body: `{"data":"eA=="}`, code: "invalid_request"},
		{body: `{"data":"eA==","id":"x","id":"x"}`, code: "invalid_request"},
		{body: `{"data":"eA==","id":null}`, code: "invalid_request"},
		{body: `{"data":"eA==","id":""}`, code: "invalid_id"},
		{body: `{"data":"eA==","id":"lone \udc00"}`, code: "invalid_id"},
		{body: `{"data":"eA==","id":"x\u0085"}`, code: "invalid_id"},
	}
	for _, c := range cases {
		for _, chunk := range []int{0, 1, 2, 3, 7} {
			for _, step := range []int{0, 1, 2, 4096} {
				id, data, err := parseStream(c.body, maxBlob, chunk, step)
				switch {
				case c.code == "" && (err != nil || id != c.id || string(data) != c.data):
					t.Fatalf("%.80q (pieces %d, reads %d) = %q, %q, %v; want %q, %q", c.body, chunk, step, id, data, err, c.id, c.data)
				case c.code != "" && (err == nil || errCode(err) != c.code):
					t.Fatalf("%.80q (pieces %d, reads %d) = %v (code %q); want %s", c.body, chunk, step, err, errCode(err), c.code)
				}
			}
		}
	}
}

// TestCreateStreamFailsInsteadOfEOF: a body whose data is valid but whose
// rest is not yields all of data's bytes, then an error where a valid body
// gives io.EOF, so the service's Put fails and stores nothing.
func TestCreateStreamFailsInsteadOfEOF(t *testing.T) {
	for _, rest := range []string{`} x`, `,"id":"y"}`, `,"more":1}`, `]`, ``} {
		s := newCreateStream(strings.NewReader(`{"id":"x","data":"YWJj"`+rest), 1<<20)
		if err := s.head(); err != nil {
			t.Fatalf("rest %q: head: %v", rest, err)
		}
		var p [3]byte
		n, err := io.ReadFull(s, p[:])
		if n != 3 || err != nil || string(p[:]) != "abc" {
			t.Fatalf("rest %q: data = %q, %v", rest, p[:n], err)
		}
		n, err = s.Read(p[:])
		if n != 0 || err == nil || err == io.EOF || err != s.fault() || errCode(err) != httpx.CodeInvalidRequest {
			t.Fatalf("rest %q: Read after the data = %d, %v (fault %v); want the invalid_request fault", rest, n, err, s.fault())
		}
		if _, again := s.Read(p[:]); again != err {
			t.Fatalf("rest %q: the fault is not sticky: %v then %v", rest, err, again)
		}
		s.release()
	}
}

// TestCreateStreamBodyErrors: a body that fails to read is reported as
// the stream's fault, with the status its cause calls for.
func TestCreateStreamBodyErrors(t *testing.T) {
	// What http.MaxBytesReader fails with.
	tooLong := &bodyErrReader{`{"id":"x","data":"AAAA`, &http.MaxBytesError{Limit: 22}}
	_, _, err := parseStream("", 1<<20, 0, 0)
	if errCode(err) != httpx.CodeInvalidRequest {
		t.Fatalf("empty body: %v", err)
	}
	s := newCreateStream(tooLong, 1<<20)
	defer s.release()
	if err := s.head(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(s); !errors.Is(err, httpx.ErrTooLarge) {
		t.Fatalf("a body over the limit mid-data: %v; want errTooLarge", err)
	}
}

// bodyErrReader yields text, then fails with err.
type bodyErrReader struct {
	text string
	err  error
}

func (b *bodyErrReader) Read(p []byte) (int, error) {
	if b.text == "" {
		return 0, b.err
	}
	n := copy(p, b.text)
	b.text = b.text[n:]
	return n, nil
}

// FuzzParseCreateRequest compares the streaming parser with a reference
// built on encoding/json and the rules of DESIGN section 4: a body is
// valid iff encoding/json accepts it as one JSON value, an object whose
// members are exactly the strings "id" and "data", each once; the id is
// valid UTF-8 without lone surrogate escapes and passes blob.ValidateID;
// data is strict padded base64 (CR and LF ignored) of at most maxBlob
// bytes. For valid bodies the id and the bytes must agree; for invalid ones
// the fault must be a client error, of the code the reference expects
// when it can tell. The body arrives, and the blob is read, in pieces of
// sizes the fuzzer picks.
func FuzzParseCreateRequest(f *testing.F) {
	const maxBlob = 48
	for _, seed := range []string{
		`{"id":"x","data":"eA=="}`,
		`{"data":"eA==","id":"x"}`,
		`{"id":"\u0069\ud83c\udf89","data":"\u0065\u0041=\u003d"}`,
		`{"id":"x","data":"YWJj\r\nZGVm\nZ2g="}`,
		`{"id":"x","data":"\/\/\/\/"}`,
		`{"id":"x","data":"eA=="} x`,
		`{"id":"x","data":"eA==","id":"y"}`,
		`{"data":"eA=="}`,
		`{"data":"eA==","id":"\ud800"}`,
		"{\"id\":\"\xc0\xaf\",\"data\":\"\"}",
		`{"id":"x","data":"eB=="}`,
		`{"id":"x","data":"eA==eA=="}`,
		`{"id":null,"data":""}`,
		`{"ID":"x","data":""}`,
		`{"id":"x","data":"` + base64.StdEncoding.EncodeToString(make([]byte, maxBlob+1)) + `"}`,
		`{"id":"x","data":"` + base64.StdEncoding.EncodeToString(make([]byte, maxBlob)) + `"}`,
	} {
		f.Add([]byte(seed), uint8(0))
		f.Add([]byte(seed), uint8(0x11))
	}
	f.Fuzz(func(t *testing.T, body []byte, pieces uint8) {
		chunk, step := int(pieces&15), int(pieces>>4)*37
		id, data, err := parseStream(string(body), maxBlob, chunk, step)
		want := referenceCreate(body, maxBlob)
		switch {
		case want.code == "" && err != nil:
			t.Fatalf("%q: the reference accepts it (id %q, %d bytes); the stream says %v", body, want.id, len(want.data), err)
		case want.code == "" && (id != want.id || !bytes.Equal(data, want.data)):
			t.Fatalf("%q: the stream gives id %q and %q; the reference %q and %q", body, id, data, want.id, want.data)
		case want.code != "" && err == nil:
			t.Fatalf("%q: the reference refuses it (%s); the stream accepts id %q, %q", body, want.code, id, data)
		case want.code != "" && want.code != "?" && errCode(err) != want.code:
			t.Fatalf("%q: the stream's fault is %v (%s); want %s", body, err, errCode(err), want.code)
		case err != nil && !isClientFault(err):
			t.Fatalf("%q: the stream's fault %v is not a client error", body, err)
		}
	})
}

func isClientFault(err error) bool {
	var re *httpx.RequestError
	return errors.As(err, &re) || errors.Is(err, blob.ErrInvalidID) || errors.Is(err, httpx.ErrTooLarge)
}

// reference is the verdict of referenceCreate: code is "" for a valid body,
// "?" for an invalid one whose code depends on where its faults are.
type reference struct {
	id   string
	data []byte
	code string
}

// referenceCreate judges body by encoding/json and DESIGN section 4.
func referenceCreate(body []byte, maxBlob int64) reference {
	invalid := reference{code: "?"}
	if !json.Valid(body) {
		return invalid
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return invalid
	}
	seen := map[string]bool{}
	var idFault, dataFault string // the codes of each member's own fault
	var order []string
	var r reference
	for dec.More() {
		name, err := dec.Token()
		if err != nil || (name != "id" && name != "data") || seen[name.(string)] {
			return invalid
		}
		seen[name.(string)] = true
		order = append(order, name.(string))
		start := dec.InputOffset()
		tok, err := dec.Token()
		value, isString := tok.(string)
		if err != nil || !isString {
			return invalid
		}
		raw := bytes.TrimLeft(body[start:dec.InputOffset()], " \t\r\n:")
		if name == "id" {
			r.id = value
			if !validText(raw) || blob.ValidateID(value) != nil {
				idFault = httpx.CodeInvalidID
			}
			continue
		}
		decoded, err := base64Strict.DecodeString(value)
		switch {
		case err == nil && int64(len(decoded)) > maxBlob:
			dataFault = "too_large"
		case err == nil:
			r.data = decoded
		case int64(len(value))/4*3 <= maxBlob:
			dataFault = httpx.CodeInvalidBase64 // no prefix of it is too large
		default:
			dataFault = "?"
		}
	}
	if _, err := dec.Token(); err != nil || len(seen) != 2 {
		return invalid // a missing member; json.Valid ruled out anything after the object
	}
	for _, name := range order {
		if name == "id" && idFault != "" {
			return reference{code: idFault}
		}
		if name == "data" && dataFault != "" {
			return reference{code: dataFault}
		}
	}
	return r
}

// validText reports whether the JSON string literal raw (quotes included)
// stands for valid Unicode text: valid UTF-8, which encoding/json does not
// check, and no \u escape of a lone surrogate, which it replaces with
// U+FFFD.
func validText(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false // escapes are ASCII: the bytes between them must be valid
	}
	var units []rune // the \u escapes, -1 for any other character between them
	for i := 1; i < len(raw)-1; i++ {
		if raw[i] != '\\' {
			units = append(units, -1)
			continue
		}
		if raw[i+1] != 'u' {
			units = append(units, -1)
			i++
			continue
		}
		var u rune
		for _, c := range raw[i+2 : i+6] {
			u = u<<4 | rune(strings.IndexByte("0123456789abcdef", c|0x20))
		}
		units = append(units, u)
		i += 5
	}
	for i := 0; i < len(units); i++ {
		switch u := units[i]; {
		case u >= 0xd800 && u < 0xdc00:
			if i+1 == len(units) || utf16.DecodeRune(u, units[i+1]) == utf8.RuneError {
				return false
			}
			i++
		case u >= 0xdc00 && u < 0xe000:
			return false
		}
	}
	return true
}
