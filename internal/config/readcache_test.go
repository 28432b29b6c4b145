package config_test

import (
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/config"
)

func TestReadCacheBytes(t *testing.T) {
	for _, c := range []struct {
		value string
		want  int64
	}{{"", 16 << 20}, {"0", 0}, {"1MiB", 1 << 20}, {"65536", 65536}} {
		cfg, err := config.Load(env(map[string]string{"API_TOKEN": "t", "READ_CACHE_BYTES": c.value}))
		if err != nil || cfg.ReadCacheBytes != c.want {
			t.Errorf("READ_CACHE_BYTES=%q: %d, %v; want %d", c.value, cfg.ReadCacheBytes, err, c.want)
		}
	}
	for _, v := range []string{"-1", "lots"} {
		_, err := config.Load(env(map[string]string{"API_TOKEN": "t", "READ_CACHE_BYTES": v}))
		if err == nil || !strings.Contains(err.Error(), "READ_CACHE_BYTES") {
			t.Errorf("READ_CACHE_BYTES=%q: %v; want an error naming it", v, err)
		}
	}
}
