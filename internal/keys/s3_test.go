package keys_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/keys"
)

// TestS3Secret: a key made with S3 credentials gives its secret access
// key back to the keyring only, sealed in the store, bound to its id;
// revocation, expiry and another server key refuse it.
func TestS3Secret(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	serverKey := bytes.Repeat([]byte{7}, 32)
	k := keys.NewKeyring(store, keys.Options{Now: c.now, S3Key: serverKey})
	defer k.Close()
	key, secrets, err := k.CreateKey(ctx, keys.Spec{Name: "s3", Scopes: keys.Read | keys.Write, Prefix: "up/", ExpiresIn: time.Hour, S3: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets.S3SecretAccessKey) != 40 || secrets.Token == "" {
		t.Fatalf("secrets %+v", secrets)
	}
	store.mu.Lock()
	stored := store.keys[key.ID]
	store.mu.Unlock()
	if stored.S3Sealed == "" || strings.Contains(stored.S3Sealed, secrets.S3SecretAccessKey) {
		t.Fatalf("stored sealed secret %q for secret %q", stored.S3Sealed, secrets.S3SecretAccessKey)
	}
	p, secret, err := k.S3Secret(ctx, key.ID)
	want := keys.Principal{KeyID: key.ID, Scopes: keys.Read | keys.Write, Prefix: "up/", ExpiresAt: key.ExpiresAt}
	if err != nil || secret != secrets.S3SecretAccessKey || p != want {
		t.Fatalf("S3Secret = %+v, %q, %v; want %+v, %q", p, secret, err, want, secrets.S3SecretAccessKey)
	}

	// Another server key cannot open it.
	other := keys.NewKeyring(store, keys.Options{Now: c.now, S3Key: bytes.Repeat([]byte{8}, 32)})
	defer other.Close()
	if _, _, err := other.S3Secret(ctx, key.ID); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("S3Secret under another server key: %v", err)
	}
	// The sealed secret is bound to its key id: moved to another key, it
	// does not open.
	plain, _, err := k.CreateKey(ctx, keys.Spec{Name: "plain", Scopes: keys.Read})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := k.S3Secret(ctx, plain.ID); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("S3Secret of a key without S3 credentials: %v", err)
	}
	store.mu.Lock()
	moved := store.keys[plain.ID]
	moved.S3Sealed = stored.S3Sealed
	store.keys[plain.ID] = moved
	store.mu.Unlock()
	fresh := keys.NewKeyring(store, keys.Options{Now: c.now, S3Key: serverKey})
	defer fresh.Close()
	if _, _, err := fresh.S3Secret(ctx, plain.ID); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("S3Secret of a sealed secret moved to another key: %v", err)
	}
	// Unknown, expired, revoked.
	if _, _, err := k.S3Secret(ctx, strings.Repeat("0", 20)); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("unknown key: %v", err)
	}
	c.advance(time.Hour)
	if _, _, err := k.S3Secret(ctx, key.ID); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("expired key: %v", err)
	}
	second, _, err := k.CreateKey(ctx, keys.Spec{Name: "s3b", Scopes: keys.Read, S3: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Revoke(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := k.S3Secret(ctx, second.ID); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("revoked key: %v", err)
	}
	// Without a server key, no S3 credentials are made.
	none := keys.NewKeyring(store, keys.Options{Now: c.now})
	defer none.Close()
	if _, _, err := none.CreateKey(ctx, keys.Spec{Name: "x", Scopes: keys.Read, S3: true}); !errors.Is(err, keys.ErrNoS3Key) {
		t.Fatalf("CreateKey with S3 but no server key: %v", err)
	}
}

// TestS3RevocationSeenWithinTTL: two keyrings over one store play two
// replicas; an S3 key revoked on one is refused by the other once its
// cached lookup is 5 s old, as bearer tokens are.
func TestS3RevocationSeenWithinTTL(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	serverKey := bytes.Repeat([]byte{7}, 32)
	a := keys.NewKeyring(store, keys.Options{Now: c.now, S3Key: serverKey})
	b := keys.NewKeyring(store, keys.Options{Now: c.now, S3Key: serverKey})
	defer a.Close()
	defer b.Close()
	key, _, err := a.CreateKey(ctx, keys.Spec{Name: "k", Scopes: keys.Read, S3: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, kr := range []*keys.Keyring{a, b} {
		if _, _, err := kr.S3Secret(ctx, key.ID); err != nil {
			t.Fatal(err)
		}
	}
	c.advance(time.Second)
	if err := a.Revoke(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.S3Secret(ctx, key.ID); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("the revoking keyring still gives the S3 secret: %v", err)
	}
	c.advance(4 * time.Second) // 5 s after b's lookup
	if _, _, err := b.S3Secret(ctx, key.ID); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("5 s after its lookup the other keyring still gives a revoked key's S3 secret: %v", err)
	}
}
