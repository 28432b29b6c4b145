// Package bytewise holds what range queries over text need to agree with
// the bytewise order both databases use for ids and keys (SQLite's BINARY
// collation, PostgreSQL's COLLATE "C"): the upper bound of a prefix.
package bytewise

import "unicode/utf8"

// PrefixEnd returns the smallest valid UTF-8 string that sorts, bytewise,
// after every string starting with prefix: prefix with its last character
// raised by one (skipping the surrogates, which UTF-8 cannot encode). It
// returns false when there is none: prefix is empty, or ends in U+10FFFF,
// or is not valid UTF-8. Since UTF-8 keeps the order of code points, the
// bound holds for every string, ASCII or not, and a database accepts it as
// text.
func PrefixEnd(prefix string) (string, bool) {
	r, size := utf8.DecodeLastRuneInString(prefix)
	switch {
	case size == 0, r == utf8.RuneError && size == 1, r == utf8.MaxRune:
		return "", false
	case r == 0xd7ff:
		r = 0xe000
	default:
		r++
	}
	return prefix[:len(prefix)-size] + string(r), true
}
