package storage_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
)

func TestValidateKey(t *testing.T) {
	valid := []string{
		"a",
		"ab/cd/abcdef-0123",
		"A.b_c-d",
		strings.Repeat("a", 255),
		strings.Repeat(strings.Repeat("a", 9)+"/", 102) + "abc", // 1023 bytes
	}
	for _, key := range valid {
		if err := storage.ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", key, err)
		}
	}
	invalid := []string{
		"",
		"/abs",
		"a/",
		"a//b",
		".",
		"..",
		"../x",
		"a/../b",
		"a/./b",
		"a\x00b",
		"a b",
		"a\\b",
		"é",
		"a\nb",
		strings.Repeat("a", 256),
		strings.Repeat("a/", 512) + "a",
	}
	for _, key := range invalid {
		err := storage.ValidateKey(key)
		if !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
}
