package crypt

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Two master keys of the tests, and their base64.
var (
	rawA = bytes.Repeat([]byte{0xA5}, 32)
	rawB = bytes.Repeat([]byte{0x5B}, 32)
	b64A = base64.StdEncoding.EncodeToString(rawA)
	b64B = base64.StdEncoding.EncodeToString(rawB)
)

func ring(t *testing.T, spec string) *Keyring {
	t.Helper()
	r, err := ParseKeyring([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseKeyring(t *testing.T) {
	for _, spec := range []string{
		"new:" + b64A + ",old:" + b64B,
		"new:" + b64A + "\nold:" + b64B + "\n",
		" new:" + b64A + " ,\r\n\told:" + b64B,
	} {
		r := ring(t, spec)
		if r.Current().ID() != "new" {
			t.Fatalf("%q: current key %q, want the first", spec, r.Current().ID())
		}
		if k, err := r.Key("old"); err != nil || k.ID() != "old" {
			t.Fatalf("%q: Key(old) = %v, %v", spec, k, err)
		}
	}
	r := ring(t, "a:"+b64A)
	if _, err := r.Key("gone"); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), `"gone"`) {
		t.Fatalf("unknown id: %v, want ErrUnknownKey naming it", err)
	}
	short := base64.StdEncoding.EncodeToString(rawA[:16])
	for _, c := range []struct{ spec, want string }{
		{"", "no master keys"},
		{" , \n", "no master keys"},
		{b64A, "entry 1 is not id:base64-key"},
		{"a:" + b64A + ",:" + b64B, "entry 2: id must be"},
		{"bad id:" + b64A, "entry 1 is not id:base64-key"},
		{"b/d:" + b64A, "entry 1: id must be"},
		{strings.Repeat("x", 65) + ":" + b64A, "entry 1: id must be"},
		{"a:" + b64A + ",a:" + b64B, `master key "a" is listed twice`},
		{"a:" + b64A[:10] + "!" + b64A[11:], `master key "a" is not standard base64`},
		{"a:" + short, `master key "a" has 16 bytes, want 32`},
	} {
		_, err := ParseKeyring([]byte(c.spec))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseKeyring(%q) = %v, want %q", c.spec, err, c.want)
			continue
		}
		for _, secret := range []string{b64A, b64A[:10], b64A[11:], short, hex.EncodeToString(rawA[:8])} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows key material", err)
			}
		}
	}
}

func TestReadKeyringFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte("k2:"+b64B+"\nk1:"+b64A+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := ReadKeyringFile(path)
	if err != nil || r.Current().ID() != "k2" {
		t.Fatalf("ReadKeyringFile: %v, %v", r, err)
	}
	if _, err := r.Key("k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyringFile(path + ".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestWrap(t *testing.T) {
	r := ring(t, "a:"+b64A+",b:"+b64B)
	a, _ := r.Key("a")
	b, _ := r.Key("b")
	dk, wrapped := a.NewDataKey()
	if len(wrapped) != WrappedSize {
		t.Fatalf("wrapped key of %d bytes, want %d", len(wrapped), WrappedSize)
	}
	sealed := encrypt(t, dk, []byte("secret content"))
	read := func(k *DataKey) string {
		got, err := io.ReadAll(k.DecryptReader(bytes.NewReader(sealed), 14))
		if err != nil {
			t.Fatal(err)
		}
		return string(got)
	}
	back, err := a.Unwrap(wrapped)
	if err != nil || read(back) != "secret content" {
		t.Fatalf("unwrap: %v", err)
	}

	// Each data key is fresh: another one seals the same content differently.
	dk2, wrapped2 := a.NewDataKey()
	if bytes.Equal(wrapped, wrapped2) || bytes.Equal(sealed, encrypt(t, dk2, []byte("secret content"))) {
		t.Fatal("two data keys seal alike")
	}

	// Rewrapping keeps the data key: the sealed bytes read under the new wrapping.
	rewrapped, err := Rewrap(a, b, wrapped)
	if err != nil {
		t.Fatal(err)
	}
	back, err = b.Unwrap(rewrapped)
	if err != nil || read(back) != "secret content" {
		t.Fatalf("unwrap after rewrap: %v", err)
	}

	relabelled := ring(t, "b:"+b64A).Current() // a's bytes under b's id
	altered := bytes.Clone(wrapped)
	altered[20] ^= 1
	for name, try := range map[string]func() error{
		"under another master key": func() error { _, err := b.Unwrap(wrapped); return err },
		"under a relabelled key":   func() error { _, err := relabelled.Unwrap(wrapped); return err },
		"altered":                  func() error { _, err := a.Unwrap(altered); return err },
		"short":                    func() error { _, err := a.Unwrap(wrapped[:10]); return err },
		"rewrap from the wrong key": func() error {
			_, err := Rewrap(b, a, wrapped)
			return err
		},
	} {
		if err := try(); !errors.Is(err, ErrAuthentication) {
			t.Errorf("%s: %v, want ErrAuthentication", name, err)
		}
	}
}

// TestRedaction: no formatting of a key shows key material, whatever the
// verb, through fmt or log/slog.
func TestRedaction(t *testing.T) {
	r := ring(t, "a:"+b64A)
	mk := r.Current()
	dk := testKey(t)
	secrets := []string{b64A, hex.EncodeToString(rawA[:8]), string(rawA[:8]), "0001020304050607", "a0a1a2a3"}
	var out strings.Builder
	for _, v := range []any{mk, *mk, dk, *dk, r, *r} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		slog.New(slog.NewTextHandler(&out, nil)).Info("k", "key", v)
		slog.New(slog.NewJSONHandler(&out, nil)).Info("k", "key", v)
	}
	for _, s := range secrets {
		if strings.Contains(strings.ToLower(out.String()), strings.ToLower(s)) {
			t.Fatalf("formatted keys show key material %q:\n%s", s, out.String())
		}
	}
	if !strings.Contains(out.String(), `crypt.MasterKey("a", redacted)`) || !strings.Contains(out.String(), "crypt.DataKey(redacted)") {
		t.Fatalf("formatted keys:\n%s", out.String())
	}
}
