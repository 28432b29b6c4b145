package bytewise_test

import (
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/bytewise"
)

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct {
		prefix, want string
		ok           bool
	}{
		{"a/", "a0", true},
		{"a", "b", true},
		{"~", "\x7f", true},
		{"é", "ê", true},
		{"x\u007f", "x\u0080", true},
		{"x\ud7ff", "x\ue000", true},
		{"x\U0010fffe", "x\U0010ffff", true},
		{"x\U0010ffff", "", false},
		{"", "", false},
		{"bad\xff", "", false},
	} {
		got, ok := bytewise.PrefixEnd(c.prefix)
		if got != c.want || ok != c.ok {
			t.Errorf("PrefixEnd(%q) = %q, %v; want %q, %v", c.prefix, got, ok, c.want, c.ok)
		}
		if !ok {
			continue
		}
		// The bound is above every string with the prefix and at or below
		// every string after them.
		for _, s := range []string{c.prefix, c.prefix + "\U0010ffff\U0010ffff", c.prefix + "\xff"} {
			if strings.Compare(s, got) >= 0 {
				t.Errorf("PrefixEnd(%q) = %q is not above %q", c.prefix, got, s)
			}
		}
	}
}
