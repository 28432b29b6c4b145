package sigv4

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The verifier builds canonical requests with the code of this file only,
// written apart from the signer's (sigv4.go, encode.go) so that one
// misreading of the specification cannot hide in both: the signer is
// tested against the verifier and each against AWS's published vectors
// and the AWS SDK.

// qparam is one query parameter, decoded.
type qparam struct {
	key, value string
}

// parseQueryParams splits a raw query string into its decoded parameters,
// in order. A valid %XX escape is decoded; anything else, '+' included,
// stands for itself (S3 signs '+' as a literal plus). A parameter without
// '=' has an empty value.
func parseQueryParams(raw string) []qparam {
	var params []qparam
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, val, _ := strings.Cut(part, "=")
		params = append(params, qparam{percentDecode(k), percentDecode(val)})
	}
	return params
}

// percentDecode decodes the valid %XX escapes of s.
func percentDecode(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	out := []byte(s[:i])
	for ; i < len(s); i++ {
		hi, lo := -1, -1
		if s[i] == '%' && i+2 < len(s) {
			hi, lo = hexValue(s[i+1]), hexValue(s[i+2])
		}
		if hi < 0 || lo < 0 {
			out = append(out, s[i])
			continue
		}
		out = append(out, byte(hi<<4|lo))
		i += 2
	}
	return string(out)
}

// hexValue is the value of the hex digit c, or -1.
func hexValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// uriEncode percent-encodes, with upper-case hex, every byte of s but the
// RFC 3986 unreserved ones (A-Z a-z 0-9 - . _ ~) and, when keepSlash, '/'.
func uriEncode(s string, keepSlash bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteString(strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16)))
			b.WriteString(strings.ToUpper(strconv.FormatUint(uint64(c)&15, 16)))
		}
	}
	return b.String()
}

// canonicalRequestOf builds the canonical request of r as S3 computes it:
// the decoded path encoded once and never normalised, the query
// parameters encoded and sorted, the signed headers in the order the
// signature lists them, each value trimmed with inner runs of spaces
// folded and repeated values joined by ','.
func canonicalRequestOf(r *http.Request, a *authRequest, payloadHash string) string {
	uri := uriEncode(r.URL.Path, true)
	if uri == "" {
		uri = "/"
	}
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(canonicalQueryOf(a.query))
	b.WriteByte('\n')
	for _, name := range a.signedHeaders {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(a.signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// canonicalQueryOf encodes each key and value, sorts by encoded key then
// encoded value, and joins them.
func canonicalQueryOf(params []qparam) string {
	enc := make([]qparam, len(params))
	for i, p := range params {
		enc[i] = qparam{uriEncode(p.key, false), uriEncode(p.value, false)}
	}
	slices.SortFunc(enc, func(x, y qparam) int {
		if c := strings.Compare(x.key, y.key); c != 0 {
			return c
		}
		return strings.Compare(x.value, y.value)
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

// canonicalHeaderValue is the canonical value of the header name of r.
// Host comes from r.Host, which net/http takes out of the header map.
func canonicalHeaderValue(r *http.Request, name string) string {
	var values []string
	switch name {
	case "host":
		h := r.Host
		if h == "" {
			h = r.URL.Host
		}
		values = []string{h}
	case "transfer-encoding":
		values = r.TransferEncoding
	default:
		values = r.Header.Values(name)
		if len(values) == 0 && name == "content-length" && r.ContentLength > 0 {
			values = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	}
	folded := make([]string, len(values))
	for i, val := range values {
		folded[i] = foldSpaces(val)
	}
	return strings.Join(folded, ",")
}

// foldSpaces trims spaces and tabs at both ends of v and turns each inner
// run of spaces into one.
func foldSpaces(v string) string {
	v = strings.Trim(v, " \t")
	var b strings.Builder
	b.Grow(len(v))
	space := false
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteByte(v[i])
	}
	return b.String()
}
