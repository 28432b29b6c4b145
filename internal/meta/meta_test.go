package meta_test

import (
	"testing"

	"github.com/simpledrive/simpledrive/internal/meta"
)

func TestSuccessor(t *testing.T) {
	for _, c := range []struct {
		prefix, want string
		ok           bool
	}{
		{"a/", "a0", true},
		{"a", "b", true},
		{"é", "ê", true},
		{"x\ud7ff", "x\ue000", true},
		{"x\U0010ffff", "", false},
		{"", "", false},
		{"bad\xff", "", false},
	} {
		got, ok := meta.Successor(c.prefix)
		if got != c.want || ok != c.ok {
			t.Errorf("Successor(%q) = %q, %v; want %q, %v", c.prefix, got, ok, c.want, c.ok)
		}
	}
}
