package keys_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/keys"
)

// memStore is an in-memory keys.Store that counts lookups and can fail.
type memStore struct {
	mu      sync.Mutex
	keys    map[string]keys.Key
	gets    int
	touches int
	err     error
}

func newMemStore() *memStore { return &memStore{keys: map[string]keys.Key{}} }

func (m *memStore) Insert(_ context.Context, k keys.Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[k.ID]; ok {
		return keys.ErrExists
	}
	m.keys[k.ID] = k
	return nil
}

func (m *memStore) Get(_ context.Context, id string) (keys.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	if m.err != nil {
		return keys.Key{}, m.err
	}
	k, ok := m.keys[id]
	if !ok {
		return keys.Key{}, keys.ErrNotFound
	}
	return k, nil
}

func (m *memStore) List(context.Context) ([]keys.Key, error) { return nil, nil }

func (m *memStore) Revoke(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return keys.ErrNotFound
	}
	k.RevokedAt = at
	m.keys[id] = k
	return nil
}

func (m *memStore) Touch(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.touches++
	if k := m.keys[id]; at.After(k.LastUsedAt) {
		k.LastUsedAt = at
		m.keys[id] = k
	}
	return nil
}

func (m *memStore) counts() (gets, touches int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gets, m.touches
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newKeyring(s keys.Store, c *clock) *keys.Keyring {
	return keys.NewKeyring(s, keys.Options{CacheTTL: 5 * time.Second, Now: c.now})
}

func TestTokenFormat(t *testing.T) {
	store := newMemStore()
	k := newKeyring(store, &clock{t: time.Now()})
	defer k.Close()
	key, token, err := k.Create(context.Background(), keys.Spec{Name: "ci", Scopes: keys.Read})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, "sd_"+key.ID+"_") || !keys.IsToken(token) || len(token) != 3+20+1+43 {
		t.Fatalf("token %q of key %s is not sd_<20 hex>_<43 base64url>", token, key.ID)
	}
	for _, bad := range []string{"", "sd_", "sd_" + key.ID, token[:len(token)-1], token + "A", strings.Replace(token, "sd_", "SD_", 1),
		"sd_" + strings.ToUpper(key.ID) + token[23:], token[:len(token)-1] + "="} {
		if keys.IsToken(bad) {
			t.Errorf("IsToken(%q) = true", bad)
		}
		if _, err := k.Authenticate(context.Background(), bad); !errors.Is(err, keys.ErrInvalidToken) {
			t.Errorf("Authenticate(%q) = %v; want ErrInvalidToken", bad, err)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	k := newKeyring(store, c)
	defer k.Close()
	key, token, err := k.Create(ctx, keys.Spec{Name: "uploader", Scopes: keys.Read | keys.Write, Prefix: "up/", ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p, err := k.Authenticate(ctx, token)
	want := keys.Principal{KeyID: key.ID, Scopes: keys.Read | keys.Write, Prefix: "up/", ExpiresAt: key.ExpiresAt}
	if err != nil || p != want {
		t.Fatalf("Authenticate = %+v, %v; want %+v", p, err, want)
	}
	// Another secret for the same id.
	other := token[:len(token)-2] + map[bool]string{true: "AA", false: "AQ"}[strings.HasSuffix(token, "AQ")]
	if _, err := k.Authenticate(ctx, other); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("wrong secret: %v", err)
	}
	// Unknown id.
	if _, err := k.Authenticate(ctx, "sd_"+fmt.Sprintf("%020x", 1)+token[23:]); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("unknown id: %v", err)
	}
	// Expiry is checked on every request, cached or not.
	c.advance(time.Hour)
	if _, err := k.Authenticate(ctx, token); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("expired key: %v", err)
	}
}

// TestRevocationSeenWithinTTL: two keyrings over one store play two
// replicas. The one that revokes refuses at once; the other keeps its
// cached lookup until the TTL passes, not a moment longer.
func TestRevocationSeenWithinTTL(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a, b := newKeyring(store, c), newKeyring(store, c)
	defer a.Close()
	defer b.Close()
	_, token, err := a.Create(ctx, keys.Spec{Name: "k", Scopes: keys.Read})
	if err != nil {
		t.Fatal(err)
	}
	for _, kr := range []*keys.Keyring{a, b} {
		if _, err := kr.Authenticate(ctx, token); err != nil {
			t.Fatal(err)
		}
	}
	c.advance(time.Second)
	if err := a.Revoke(ctx, token[3:23]); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, token); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("the revoking keyring still accepts the key: %v", err)
	}
	if _, err := b.Authenticate(ctx, token); err != nil {
		t.Fatalf("within the TTL the other keyring uses its cache: %v", err)
	}
	c.advance(4 * time.Second) // 5 s after b's lookup
	if _, err := b.Authenticate(ctx, token); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("5 s after its lookup the other keyring still accepts a revoked key: %v", err)
	}
}

// heldStore holds its first Get after reading the key: it reports the
// read on read and returns only once release is closed.
type heldStore struct {
	*memStore
	once          sync.Once
	read, release chan struct{}
}

func (h *heldStore) Get(ctx context.Context, id string) (keys.Key, error) {
	k, err := h.memStore.Get(ctx, id)
	h.once.Do(func() {
		close(h.read)
		<-h.release
	})
	return k, err
}

// TestRevokeDuringLookup: a lookup that read the key before Revoke ran and
// returns after it neither lets its request in nor caches the key (issue
// 18, finding 8: the revoked key worked for up to KEY_CACHE_TTL on the
// server that revoked it).
func TestRevokeDuringLookup(t *testing.T) {
	ctx := context.Background()
	store := &heldStore{memStore: newMemStore(), read: make(chan struct{}), release: make(chan struct{})}
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	k := newKeyring(store, c)
	defer k.Close()
	_, token, err := k.Create(ctx, keys.Spec{Name: "k", Scopes: keys.Read})
	if err != nil {
		t.Fatal(err)
	}
	inFlight := make(chan error, 1)
	go func() {
		_, err := k.Authenticate(ctx, token)
		inFlight <- err
	}()
	<-store.read // the lookup holds the key as it was before the revocation
	if err := k.Revoke(ctx, token[3:23]); err != nil {
		t.Fatal(err)
	}
	close(store.release)
	if err := <-inFlight; !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("the lookup in flight during Revoke let its request in: %v", err)
	}
	if _, err := k.Authenticate(ctx, token); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("after Revoke the keyring accepts the key a lookup in flight cached: %v", err)
	}
}

func TestCacheQueriesOncePerTTL(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	k := newKeyring(store, c)
	defer k.Close()
	_, token, _ := k.Create(ctx, keys.Spec{Name: "k", Scopes: keys.Read})
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := k.Authenticate(ctx, token); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	c.advance(4 * time.Second)
	k.Authenticate(ctx, token)
	if gets, _ := store.counts(); gets != 1 {
		t.Fatalf("%d lookups within one TTL; want 1", gets)
	}
	c.advance(time.Second)
	k.Authenticate(ctx, token)
	if gets, _ := store.counts(); gets != 2 {
		t.Fatalf("%d lookups after the TTL; want 2", gets)
	}
}

func TestLastUsedWrittenOncePerMinute(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	k := newKeyring(store, c)
	key, token, _ := k.Create(ctx, keys.Spec{Name: "k", Scopes: keys.Read})
	for range 30 {
		k.Authenticate(ctx, token)
		c.advance(time.Second) // 30 requests over 30 s
	}
	c.advance(30 * time.Second)
	k.Authenticate(ctx, token) // a minute after the first
	k.Close()                  // waits for the background writes
	if _, touches := store.counts(); touches != 2 {
		t.Fatalf("%d writes of last use in a minute and a second; want 2", touches)
	}
	if got := store.keys[key.ID].LastUsedAt; !got.Equal(c.now()) {
		t.Fatalf("LastUsedAt = %v; want %v", got, c.now())
	}
}

func TestStoreUnavailable(t *testing.T) {
	store := newMemStore()
	k := newKeyring(store, &clock{t: time.Now()})
	defer k.Close()
	_, token, _ := k.Create(context.Background(), keys.Spec{Name: "k", Scopes: keys.Read})
	store.err = fmt.Errorf("%w: connection refused", keys.ErrUnavailable)
	if _, err := k.Authenticate(context.Background(), token); !errors.Is(err, keys.ErrUnavailable) || errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("Authenticate with the store down = %v; want ErrUnavailable", err)
	}
}

func TestSpecValidation(t *testing.T) {
	k := newKeyring(newMemStore(), &clock{t: time.Now()})
	defer k.Close()
	for _, s := range []keys.Spec{
		{Name: "", Scopes: keys.Read},
		{Name: "x\n", Scopes: keys.Read},
		{Name: strings.Repeat("n", 201), Scopes: keys.Read},
		{Name: "x", Scopes: 0},
		{Name: "x", Scopes: 1 << 6},
		{Name: "x", Scopes: keys.Read, Prefix: "bad\xff"},
		{Name: "x", Scopes: keys.Read, Prefix: "a\x00"},
		{Name: "x", Scopes: keys.Read, ExpiresIn: -time.Second},
	} {
		if _, _, err := k.Create(context.Background(), s); !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("Create(%+v) = %v; want ErrInvalid", s, err)
		}
	}
	if s, err := keys.ParseScopes([]string{"read", "admin", "read"}); err != nil || s != keys.Read|keys.Admin || s.String() != "read admin" {
		t.Fatalf("ParseScopes = %v, %v", s, err)
	}
	for _, bad := range [][]string{nil, {"READ"}, {"read", "root"}} {
		if _, err := keys.ParseScopes(bad); !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("ParseScopes(%q) = %v; want ErrInvalid", bad, err)
		}
	}
}

// TestNotAfter: a key expires no later than its spec's NotAfter, whether
// it asks for no expiry or a later one; an earlier one is kept.
func TestNotAfter(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	k := newKeyring(newMemStore(), c)
	defer k.Close()
	limit := c.t.Add(time.Minute)
	for _, tc := range []struct {
		in   time.Duration
		want time.Time
	}{{0, limit}, {time.Hour, limit}, {30 * time.Second, c.t.Add(30 * time.Second)}} {
		key, _, err := k.Create(context.Background(), keys.Spec{Name: "x", Scopes: keys.Read, ExpiresIn: tc.in, NotAfter: limit})
		if err != nil || !key.ExpiresAt.Equal(tc.want) {
			t.Errorf("ExpiresIn %v, NotAfter %v: expires at %v, %v; want %v", tc.in, limit, key.ExpiresAt, err, tc.want)
		}
	}
}
