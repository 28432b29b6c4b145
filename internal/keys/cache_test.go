package keys_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/keys"
)

// unknownToken returns a well-formed token of a key id that does not exist.
func unknownToken(i int) string {
	return fmt.Sprintf("sd_%020x_", i) + base64.RawURLEncoding.EncodeToString(make([]byte, 32))
}

// TestFullCacheKeepsNewest fills a cache of 2 with fresh lookups and checks
// that a third key is cached all the same (one entry is evicted for it),
// the cache never holding more than 2: the evicted key is looked up again.
func TestFullCacheKeepsNewest(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	k := keys.NewKeyring(store, keys.Options{MaxCached: 2, Now: c.now})
	defer k.Close()
	var tokens []string
	for i := range 3 {
		_, token, err := k.Create(ctx, keys.Spec{Name: fmt.Sprint("k", i), Scopes: keys.Read})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, token)
	}
	for _, token := range tokens {
		if _, err := k.Authenticate(ctx, token); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := store.counts()
	k.Authenticate(ctx, tokens[2])
	if gets, _ := store.counts(); gets != before {
		t.Fatalf("the newest key was looked up again (%d lookups, then %d): a full cache did not keep it", before, gets)
	}
	k.Authenticate(ctx, tokens[1])
	k.Authenticate(ctx, tokens[0])
	if gets, _ := store.counts(); gets != before+1 {
		t.Fatalf("%d lookups for the two older keys; want 1 (the cache holds 2)", gets-before)
	}
}

// BenchmarkAuthenticateFullCache measures one authentication with a full
// cache of DefaultMaxCached fresh lookups: of a cached key (hit) and of
// a key id never seen (miss: a store lookup and an eviction). The clock
// stands still, so no entry goes stale.
func BenchmarkAuthenticateFullCache(b *testing.B) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	k := keys.NewKeyring(newMemStore(), keys.Options{Now: c.now})
	defer k.Close()
	for i := range keys.DefaultMaxCached {
		k.Authenticate(ctx, unknownToken(i))
	}
	b.Run("hit", func(b *testing.B) {
		token := unknownToken(keys.DefaultMaxCached - 1)
		for b.Loop() {
			k.Authenticate(ctx, token)
		}
	})
	b.Run("miss", func(b *testing.B) {
		i := keys.DefaultMaxCached
		for b.Loop() {
			i++
			k.Authenticate(ctx, unknownToken(i))
		}
	})
}
