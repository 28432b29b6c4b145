package config

import (
	"errors"
	"slices"
	"strings"
)

// LoadBackend reads the configuration of the storage backend called name
// from the variables that start with prefix: with prefix "TARGET_",
// TARGET_LOCAL_STORAGE_PATH, TARGET_S3_ENDPOINT and so on, each with the
// meaning and default of its unprefixed name. Only the backend's own
// variables are validated; errors name the prefixed variables. The
// migrate command configures its target this way.
func LoadBackend(prefix, name string, getenv func(string) string) (Config, error) {
	p := parser{getenv: func(n string) string { return getenv(prefix + n) }, prefix: prefix}
	c := p.load()
	c.StorageBackend = name
	c.ReadBackends = nil
	if !slices.Contains(Backends, name) {
		return Config{}, errors.New("config: unknown backend " + name + "; valid: " + strings.Join(Backends, ", "))
	}
	p.validateBackend(&c, name)
	if len(p.errs) > 0 {
		return Config{}, errors.Join(p.errs...)
	}
	return c, nil
}

// list parses a comma-separated list, without empty items or duplicates.
func (p *parser) list(name string) []string {
	var out []string
	for _, v := range strings.Split(p.getenv(name), ",") {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
