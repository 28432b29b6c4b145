// Package strictjson decodes small JSON request bodies strictly, by the
// rules of DESIGN section 4, for every protocol: a body is one JSON object
// and nothing after it but whitespace; its member names match the target
// struct's json tags exactly (case-sensitive), none unknown, none twice
// in any object; no value is null; every string is valid UTF-8 text, with
// no invalid byte and no lone surrogate escape (encoding/json would
// replace either with U+FFFD); every value has its field's type; and a
// member whose field is tagged `strictjson:"required"` is present. The body is read whole, at most a
// given size, so use it for bodies of a few KiB: the streaming parser of
// POST /v1/blobs (internal/httpapi) applies the same rules in fixed memory
// to bodies of any size.
package strictjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The faults of a body, each wrapped in an [*Error].
var (
	ErrTooLarge    = errors.New("the body is larger than allowed")
	ErrSyntax      = errors.New("not valid JSON")
	ErrNotObject   = errors.New("the body must be one JSON object")
	ErrTrailing    = errors.New("data after the JSON object")
	ErrUnknown     = errors.New("unknown member")
	ErrDuplicate   = errors.New("member given twice")
	ErrNull        = errors.New("null is not allowed")
	ErrInvalidText = errors.New("a string is not valid UTF-8 text")
	ErrType        = errors.New("wrong type")
	ErrMissing     = errors.New("required member missing")
)

// Error is a fault of a body: Err, one of the sentinels above, in the
// top-level member Member ("" when the fault is in none).
type Error struct {
	Member string
	Err    error
	// want, for ErrType, ErrUnknown and ErrMissing, says what was expected.
	want string
}

func (e *Error) Error() string {
	msg := e.Err.Error()
	if e.Member != "" {
		name := e.Member
		if len(name) > 64 {
			name = name[:64] + "..."
		}
		msg = fmt.Sprintf("member %q: %s", name, msg)
	}
	if e.want != "" {
		msg += "; " + e.want
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// maxDepth bounds the nesting of arrays and objects.
const maxDepth = 64

// Decode reads the body r, at most max bytes, and decodes it into v, a
// pointer to a struct whose fields carry json tags. A fault of the body is
// an [*Error]; a failure to read r is returned wrapped, as it is.
func Decode(r io.Reader, max int64, v any) error {
	body, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return fmt.Errorf("strictjson: reading the body: %w", err)
	}
	if int64(len(body)) > max {
		return &Error{Err: ErrTooLarge, want: fmt.Sprintf("at most %d bytes", max)}
	}
	fields := tagNames(reflect.TypeOf(v).Elem())
	p := &parser{in: body}
	if err := p.top(fields); err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			member, _, _ := strings.Cut(typeErr.Field, ".")
			return &Error{Member: member, Err: ErrType, want: "want " + jsonKind(typeErr.Type)}
		}
		return &Error{Err: ErrSyntax, want: err.Error()}
	}
	return nil
}

// field is a member the target struct takes.
type field struct {
	name     string
	required bool
}

// tagNames lists the members t, a struct type, takes, by their json tags.
func tagNames(t reflect.Type) []field {
	var fields []field
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields = append(fields, field{name: name, required: f.Tag.Get("strictjson") == "required"})
	}
	return fields
}

// jsonKind names the JSON value a Go type takes.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(jsonKind(t.Elem()), "a "), "an ") + "s"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "an object"
}

// parser checks a body against the rules, before encoding/json decodes it.
type parser struct {
	in     []byte
	pos    int
	member string // the top-level member being read
}

func (p *parser) fail(err error) error { return &Error{Member: p.member, Err: err} }

// top checks the body: one object, whose members are among fields, each
// required one present.
func (p *parser) top(fields []field) error {
	p.space()
	if p.pos == len(p.in) || p.in[p.pos] != '{' {
		return &Error{Err: ErrNotObject}
	}
	seen := map[string]bool{}
	err := p.object(0, func(name string) error {
		if !slices.ContainsFunc(fields, func(f field) bool { return f.name == name }) {
			return &Error{Member: name, Err: ErrUnknown, want: "want " + names(fields)}
		}
		seen[name] = true
		p.member = name
		return nil
	})
	if err != nil {
		return err
	}
	p.member = ""
	p.space()
	if p.pos != len(p.in) {
		return &Error{Err: ErrTrailing}
	}
	for _, f := range fields {
		if f.required && !seen[f.name] {
			return &Error{Member: f.name, Err: ErrMissing}
		}
	}
	return nil
}

// names lists fields' names for a message.
func names(fields []field) string {
	var s []string
	for _, f := range fields {
		s = append(s, f.name)
	}
	return strings.Join(s, ", ")
}

func (p *parser) space() {
	for p.pos < len(p.in) && strings.IndexByte(" \t\r\n", p.in[p.pos]) >= 0 {
		p.pos++
	}
}

// value checks the value at the cursor.
func (p *parser) value(depth int) error {
	p.space()
	if p.pos == len(p.in) {
		return p.fail(ErrSyntax)
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(depth+1, nil)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		_, err := p.string()
		return err
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case p.literal("true"), p.literal("false"):
		return nil
	case p.literal("null"):
		return p.fail(ErrNull)
	}
	return p.fail(ErrSyntax)
}

// literal consumes word when it is at the cursor.
func (p *parser) literal(word string) bool {
	if strings.HasPrefix(string(p.in[p.pos:]), word) {
		p.pos += len(word)
		return true
	}
	return false
}

// object checks the object at the cursor; member, when not nil, is told
// each member's name before its value is read.
func (p *parser) object(depth int, member func(string) error) error {
	if depth > maxDepth {
		return p.fail(ErrSyntax)
	}
	p.pos++ // '{'
	seen := map[string]bool{}
	p.space()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		return nil
	}
	for {
		if member != nil {
			p.member = "" // between top-level members
		}
		p.space()
		if p.pos == len(p.in) || p.in[p.pos] != '"' {
			return p.fail(ErrSyntax)
		}
		name, err := p.string()
		if err != nil {
			return err
		}
		if seen[name] && member != nil {
			return &Error{Member: name, Err: ErrDuplicate}
		}
		if seen[name] {
			return p.fail(ErrDuplicate)
		}
		seen[name] = true
		if member != nil {
			if err := member(name); err != nil {
				return err
			}
		}
		p.space()
		if p.pos == len(p.in) || p.in[p.pos] != ':' {
			return p.fail(ErrSyntax)
		}
		p.pos++
		if err := p.value(depth); err != nil {
			return err
		}
		if end, err := p.separator('}'); end || err != nil {
			return err
		}
	}
}

// array checks the array at the cursor.
func (p *parser) array(depth int) error {
	if depth > maxDepth {
		return p.fail(ErrSyntax)
	}
	p.pos++ // '['
	p.space()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		return nil
	}
	for {
		if err := p.value(depth); err != nil {
			return err
		}
		if end, err := p.separator(']'); end || err != nil {
			return err
		}
	}
}

// separator consumes what follows a value in an object or array: a comma,
// or end, its closing bracket, when it reports true.
func (p *parser) separator(end byte) (bool, error) {
	p.space()
	switch {
	case p.pos == len(p.in):
		return false, p.fail(ErrSyntax)
	case p.in[p.pos] == ',':
		p.pos++
		return false, nil
	case p.in[p.pos] == end:
		p.pos++
		return true, nil
	}
	return false, p.fail(ErrSyntax)
}

// number checks the number at the cursor (RFC 8259 section 6).
func (p *parser) number() error {
	digits := func() int {
		n := 0
		for p.pos < len(p.in) && p.in[p.pos] >= '0' && p.in[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.in[p.pos] == '-' {
		p.pos++
	}
	intStart := p.pos
	if n := digits(); n == 0 || n > 1 && p.in[intStart] == '0' {
		return p.fail(ErrSyntax)
	}
	if p.pos < len(p.in) && p.in[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return p.fail(ErrSyntax)
		}
	}
	if p.pos < len(p.in) && (p.in[p.pos] == 'e' || p.in[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.in) && (p.in[p.pos] == '+' || p.in[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return p.fail(ErrSyntax)
		}
	}
	return nil
}

// string reads the string at the cursor, its opening quote, and returns
// its value. Invalid UTF-8 bytes and lone surrogate escapes are
// ErrInvalidText.
func (p *parser) string() (string, error) {
	p.pos++ // '"'
	var b strings.Builder
	for {
		if p.pos == len(p.in) {
			return "", p.fail(ErrSyntax)
		}
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c < 0x20:
			return "", p.fail(ErrSyntax)
		case c == '\\':
			r, err := p.escape()
			if err != nil {
				return "", err
			}
			b.WriteRune(r)
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.in[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return "", p.fail(ErrInvalidText)
			}
			b.WriteString(string(p.in[p.pos : p.pos+size]))
			p.pos += size
		}
	}
}

// escape reads the escape at the cursor and returns the character it
// stands for; a surrogate pair is two \u escapes.
func (p *parser) escape() (rune, error) {
	if p.pos+1 >= len(p.in) {
		return 0, p.fail(ErrSyntax)
	}
	c := p.in[p.pos+1]
	p.pos += 2
	if i := strings.IndexByte(`"\/bfnrt`, c); i >= 0 {
		return rune("\"\\/\b\f\n\r\t"[i]), nil
	}
	if c != 'u' {
		return 0, p.fail(ErrSyntax)
	}
	r, ok := p.hex4()
	if !ok {
		return 0, p.fail(ErrSyntax)
	}
	if !utf16.IsSurrogate(r) {
		return r, nil
	}
	if r < 0xDC00 && strings.HasPrefix(string(p.in[p.pos:]), `\u`) {
		p.pos += 2
		low, ok := p.hex4()
		if !ok {
			return 0, p.fail(ErrSyntax)
		}
		if pair := utf16.DecodeRune(r, low); pair != utf8.RuneError {
			return pair, nil
		}
	}
	return 0, p.fail(ErrInvalidText)
}

// hex4 reads four hex digits.
func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.in) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.in[p.pos:p.pos+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	p.pos += 4
	return rune(n), true
}
