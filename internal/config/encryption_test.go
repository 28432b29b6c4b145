package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/config"
)

const (
	keyA = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=" // 32 bytes of 'A'
	keyB = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=" // 32 bytes of 'B'
)

// TestEncryptionKeys: ENCRYPTION_KEYS or ENCRYPTION_KEYS_FILE give the
// master keys, the first current; without either, encryption is off; a bad
// value or both set stop startup with an error that names the variable and
// never shows a key.
func TestEncryptionKeys(t *testing.T) {
	c, err := config.Load(env(map[string]string{"API_TOKEN": "t"}))
	if err != nil || c.EncryptionKeys != nil {
		t.Fatalf("without keys: %v, %v; want encryption off", c.EncryptionKeys, err)
	}
	c, err = config.Load(env(map[string]string{"API_TOKEN": "t", "ENCRYPTION_KEYS": "new:" + keyA + ",old:" + keyB}))
	if err != nil || c.EncryptionKeys.Current().ID() != "new" {
		t.Fatalf("ENCRYPTION_KEYS: %v, %v", c.EncryptionKeys, err)
	}
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("k9:"+keyB+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = config.Load(env(map[string]string{"API_TOKEN": "t", "ENCRYPTION_KEYS_FILE": file}))
	if err != nil || c.EncryptionKeys.Current().ID() != "k9" {
		t.Fatalf("ENCRYPTION_KEYS_FILE: %v, %v", c.EncryptionKeys, err)
	}
	for _, c := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"ENCRYPTION_KEYS": "k1:" + keyA[:20]}, "config: ENCRYPTION_KEYS: crypt: master key \"k1\""},
		{map[string]string{"ENCRYPTION_KEYS": keyA}, "config: ENCRYPTION_KEYS: crypt: entry 1 is not id:base64-key"},
		{map[string]string{"ENCRYPTION_KEYS": "k1:" + keyA, "ENCRYPTION_KEYS_FILE": file}, "not both"},
		{map[string]string{"ENCRYPTION_KEYS_FILE": file + ".missing"}, "config: ENCRYPTION_KEYS_FILE: crypt: reading master keys"},
	} {
		c.vars["API_TOKEN"] = "t"
		_, err := config.Load(env(c.vars))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), keyA[:20]) {
			t.Errorf("%v: %v; want %q and no key", c.vars, err, c.want)
		}
	}
}
