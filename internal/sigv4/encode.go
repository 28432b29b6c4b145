package sigv4

import (
	"sort"
	"strings"
)

const upperHex = "0123456789ABCDEF"

// unreserved reports whether c is in the RFC 3986 unreserved set, the only
// bytes SigV4 leaves unescaped.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// EscapePath returns the S3 canonical URI of a decoded path: every byte
// except unreserved ones and '/' escaped as %XX, once, with no normalisation.
func EscapePath(path string) string {
	return escape(path, true)
}

// escape percent-encodes every byte of s outside the unreserved set (and
// '/' unless keepSlash).
func escape(s string, keepSlash bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) && (s[i] != '/' || !keepSlash) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || c == '/' && keepSlash {
			b = append(b, c)
			continue
		}
		b = append(b, '%', upperHex[c>>4], upperHex[c&15])
	}
	return string(b)
}

// param is one decoded query parameter.
type param struct {
	key, value string
}

// parseQuery splits a raw query string into decoded parameters, in order.
// Valid %XX escapes are decoded; a '%' not followed by two hex digits and
// a '+' stand for themselves. A parameter without '=' has an empty value.
func parseQuery(raw string) []param {
	if raw == "" {
		return nil
	}
	parts := strings.Split(raw, "&")
	params := make([]param, 0, len(parts))
	for _, part := range parts {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		params = append(params, param{unescape(k), unescape(v)})
	}
	return params
}

// unescape decodes the valid %XX escapes of s and keeps everything else.
func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// encodeQuery escapes and sorts params (the specification sorts after
// escaping; the two orders differ for reserved and non-ASCII bytes).
func encodeQuery(params []param) string {
	enc := make([]param, len(params))
	for i, p := range params {
		enc[i] = param{escape(p.key, false), escape(p.value, false)}
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].key != enc[j].key {
			return enc[i].key < enc[j].key
		}
		return enc[i].value < enc[j].value
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}
