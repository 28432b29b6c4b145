package httpapi

import (
	"fmt"
	"testing"
	"time"
)

// TestLimiterBounded: buckets idle long enough to be full again are
// dropped, and past maxLimiters new keys share the overflow bucket, so
// the map never grows without bound.
func TestLimiterBounded(t *testing.T) {
	l := newLimiter(RateLimit{RPS: 1000, Burst: 1})
	for i := range 100 {
		if _, ok := l.allow(fmt.Sprint("addr:", i)); !ok {
			t.Fatalf("first request of key %d refused", i)
		}
	}
	if l.size() != 100 {
		t.Fatalf("%d buckets; want 100", l.size())
	}
	// A sweep a minute later drops every bucket, all idle and full again.
	later := time.Now().Add(sweepEvery)
	l.mu.Lock()
	l.sweep(later)
	l.mu.Unlock()
	if l.size() != 0 {
		t.Fatalf("%d buckets after sweeping idle ones; want 0", l.size())
	}
	// A full map hands new keys the shared overflow bucket.
	l.mu.Lock()
	busy := time.Now().Add(time.Hour).UnixNano() // none idle at the next sweep
	for i := range maxLimiters {
		b := &bucket{Limiter: l.overflow}
		b.seen.Store(busy)
		l.buckets[fmt.Sprint("k", i)] = b
	}
	l.mu.Unlock()
	l.allow("one more")
	if l.size() != maxLimiters {
		t.Fatalf("%d buckets; want the bound, %d", l.size(), maxLimiters)
	}
	if l.bucket("and another", time.Now()) != l.overflow {
		t.Fatal("a new key past the bound did not get the shared overflow bucket")
	}
	if newLimiter(RateLimit{}) != nil {
		t.Fatal("a zero RateLimit made a limiter")
	}
	if retryAfter(100*time.Millisecond) != 1 || retryAfter(2100*time.Millisecond) != 3 {
		t.Fatal("Retry-After must round up to whole seconds, at least 1")
	}
}
