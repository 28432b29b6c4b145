package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/config"
)

func TestOpsDefaults(t *testing.T) {
	c, err := config.Load(env(map[string]string{"API_TOKEN": "t"}))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Ops{KeyCacheTTL: 5 * time.Second, ReadyTimeout: 2 * time.Second}
	if c.Ops != want {
		t.Fatalf("Ops defaults = %+v; want %+v (no metrics or pprof listener, no TLS, no rate limit)", c.Ops, want)
	}
}

func TestOpsValues(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"API_TOKEN": "t", "METRICS_ADDR": ":9090", "PPROF_ADDR": "127.0.0.1:6060",
		"TLS_CERT_FILE": "/c.pem", "TLS_KEY_FILE": "/k.pem", "RATE_LIMIT_RPS": "2.5",
		"RATE_LIMIT_TRACKED": "5000", "KEY_CACHE_TTL": "1s", "READY_TIMEOUT": "500ms",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Ops{MetricsAddr: ":9090", PprofAddr: "127.0.0.1:6060", TLSCertFile: "/c.pem", TLSKeyFile: "/k.pem",
		RateLimitRPS: 2.5, RateLimitBurst: 3, RateLimitTracked: 5000, KeyCacheTTL: time.Second, ReadyTimeout: 500 * time.Millisecond}
	if c.Ops != want {
		t.Fatalf("Ops = %+v; want %+v (burst defaults to the rate, rounded up)", c.Ops, want)
	}
}

func TestOpsInvalid(t *testing.T) {
	for _, c := range []struct {
		vars map[string]string
		name string
	}{
		{map[string]string{"TLS_CERT_FILE": "/c.pem"}, "TLS_CERT_FILE"},
		{map[string]string{"TLS_KEY_FILE": "/k.pem"}, "TLS_CERT_FILE"},
		{map[string]string{"RATE_LIMIT_RPS": "-1"}, "RATE_LIMIT_RPS"},
		{map[string]string{"RATE_LIMIT_RPS": "fast"}, "RATE_LIMIT_RPS"},
		{map[string]string{"RATE_LIMIT_RPS": "Inf"}, "RATE_LIMIT_RPS"},
		{map[string]string{"RATE_LIMIT_RPS": "5", "RATE_LIMIT_BURST": "0"}, "RATE_LIMIT_BURST"},
		{map[string]string{"RATE_LIMIT_BURST": "5"}, "RATE_LIMIT_BURST"},
		{map[string]string{"RATE_LIMIT_TRACKED": "0"}, "RATE_LIMIT_TRACKED"},
		{map[string]string{"KEY_CACHE_TTL": "10s"}, "KEY_CACHE_TTL"},
		{map[string]string{"KEY_CACHE_TTL": "0"}, "KEY_CACHE_TTL"},
		{map[string]string{"READY_TIMEOUT": "soon"}, "READY_TIMEOUT"},
		{map[string]string{"METRICS_ADDR": ":8080"}, "METRICS_ADDR"},
		{map[string]string{"PPROF_ADDR": ":8080"}, "PPROF_ADDR"},
	} {
		c.vars["API_TOKEN"] = "t"
		_, err := config.Load(env(c.vars))
		if err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("Load(%v) = %v; want an error naming %s", c.vars, err, c.name)
		}
	}
}
