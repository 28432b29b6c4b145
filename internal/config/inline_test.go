package config_test

import (
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/config"
)

func TestInlineMaxBytes(t *testing.T) {
	for _, c := range []struct {
		value string
		want  int64
	}{{"", 0}, {"0", 0}, {"4096", 4096}, {"4KiB", 4096}, {"1MiB", config.MaxInlineBytes}} {
		cfg, err := config.Load(env(map[string]string{"API_TOKEN": "t", "INLINE_MAX_BYTES": c.value}))
		if err != nil || cfg.InlineMaxBytes != c.want {
			t.Errorf("INLINE_MAX_BYTES=%q: %d, %v; want %d", c.value, cfg.InlineMaxBytes, err, c.want)
		}
	}
	for _, c := range []struct{ value, says string }{
		{"1048577", "at most 1MiB"},
		{"64MiB", "metadata database"},
		{"-1", "positive byte count"},
		{"lots", "positive byte count"},
	} {
		_, err := config.Load(env(map[string]string{"API_TOKEN": "t", "INLINE_MAX_BYTES": c.value}))
		if err == nil || !strings.Contains(err.Error(), "INLINE_MAX_BYTES") || !strings.Contains(err.Error(), c.says) {
			t.Errorf("INLINE_MAX_BYTES=%q: %v; want an error naming it that says %q", c.value, err, c.says)
		}
	}
}
