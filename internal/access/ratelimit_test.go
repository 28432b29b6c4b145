package access

import (
	"fmt"
	"hash/maphash"
	"runtime"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"
)

// TestLimiterTokenBucket: a key gets its burst at once, then one request
// per 1/RPS, and a refusal says how long until the next token.
func TestLimiterTokenBucket(t *testing.T) {
	l := NewLimiter(RateLimit{RPS: 2, Burst: 3})
	for i := range 3 {
		if _, ok := l.allowAt("k", 0); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	wait, ok := l.allowAt("k", 0)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("past the burst: ok %v, wait %v; want refused, 500ms", ok, wait)
	}
	if _, ok := l.allowAt("other", 0); !ok {
		t.Fatal("another key shares the first key's bucket")
	}
	if _, ok := l.allowAt("k", int64(499*time.Millisecond)); ok {
		t.Fatal("a token came before 1/RPS")
	}
	if _, ok := l.allowAt("k", int64(500*time.Millisecond)); !ok {
		t.Fatal("no token 1/RPS after the burst")
	}
	// An hour idle refills the bucket to the burst, no more.
	hour := int64(time.Hour)
	for i := range 3 {
		if _, ok := l.allowAt("k", hour); !ok {
			t.Fatalf("request %d after an idle hour refused", i)
		}
	}
	if _, ok := l.allowAt("k", hour); ok {
		t.Fatal("an idle bucket filled past its burst")
	}
	if _, ok := NewLimiter(RateLimit{}).Allow("k"); !ok || NewLimiter(RateLimit{}) != nil {
		t.Fatal("a zero RateLimit limits")
	}
	if RetryAfterSeconds(100*time.Millisecond) != 1 || RetryAfterSeconds(2100*time.Millisecond) != 3 {
		t.Fatal("Retry-After must round up to whole seconds, at least 1")
	}
}

// TestLimiterFloodSparesActiveKey: a flood of new addresses a hundred times
// the table's size neither refuses nor refills a key that keeps sending:
// with the clock stopped, the key gets exactly its burst, whatever the
// flood does between its requests (a flood that evicted it would give it
// a new burst; one that shared its bucket would refuse it early). The
// table never holds more than its bound.
func TestLimiterFloodSparesActiveKey(t *testing.T) {
	const tracked, burst = 1024, 50
	l := NewLimiter(RateLimit{RPS: 0.001, Burst: burst, Tracked: tracked})
	allowed := 0
	for i := range 100 * tracked {
		if i%(tracked/8) == 0 {
			if _, ok := l.allowAt("key:operator", 0); ok {
				allowed++
			}
		}
		if _, ok := l.allowAt("10.0."+strconv.Itoa(i), 0); !ok {
			t.Fatalf("the first request of a new address was refused")
		}
	}
	if allowed != burst {
		t.Fatalf("the active key got %d requests through the flood; want exactly its burst, %d", allowed, burst)
	}
	if n := l.size(); n > tracked+shardCount {
		t.Fatalf("the table holds %d buckets; want at most about %d", n, tracked)
	}
}

// TestLimiterEvictsLeastRecentlyUsed: a full shard gives a new key the
// bucket of its least recently used key, and a key used since keeps its
// own.
func TestLimiterEvictsLeastRecentlyUsed(t *testing.T) {
	l := NewLimiter(RateLimit{RPS: 0.001, Burst: 1, Tracked: shardCount * 3})
	// Three keys of one shard, drained, fill it.
	var same []string
	for i := 0; len(same) < 4; i++ {
		k := strconv.Itoa(i)
		if l.shardOf(k) == l.shardOf("0") {
			same = append(same, k)
		}
	}
	for _, k := range same[:3] {
		l.allowAt(k, 0)
	}
	l.allowAt(same[0], 0) // same[1] is now the least recently used
	if _, ok := l.allowAt(same[3], 0); !ok {
		t.Fatal("a new key in a full shard was refused")
	}
	if _, ok := l.allowAt(same[1], 0); !ok {
		t.Fatal("the least recently used key kept its drained bucket")
	}
	// Taking same[1] back evicted same[2], the least recently used now;
	// same[0] and same[3] kept their drained buckets.
	for _, k := range []string{same[0], same[3]} {
		if _, ok := l.allowAt(k, 0); ok {
			t.Fatalf("key %s lost its bucket though used more recently", k)
		}
	}
}

// TestClientKey: IPv4 clients are limited per address, IPv6 clients per
// /64 prefix, an IPv4-mapped address as its IPv4 address.
func TestClientKey(t *testing.T) {
	for _, c := range []struct{ remote, want string }{
		{"192.0.2.7:5000", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:5000", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:443", "2001:db8:1:3::/64"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"@", "@"},
		{"198.51.100.1", "198.51.100.1"},
	} {
		if got := ClientKey(c.remote); got != c.want {
			t.Errorf("ClientKey(%q) = %q; want %q", c.remote, got, c.want)
		}
	}
}

// TestLimiterMemory: a full table costs at most 80 bytes a tracked key, as
// [DefaultTracked]'s documentation counts, measured on the heap.
func TestLimiterMemory(t *testing.T) {
	for _, tracked := range []int{100_000, DefaultTracked} {
		keys := make([]string, tracked)
		for i := range keys {
			keys[i] = "addr:" + strconv.Itoa(i)
		}
		before := heapBytes()
		l := NewLimiter(RateLimit{RPS: 1, Burst: 1, Tracked: tracked})
		for _, k := range keys {
			l.allowAt(k, 0)
		}
		perKey := float64(heapBytes()-before) / float64(tracked)
		runtime.KeepAlive(l)
		runtime.KeepAlive(keys)
		t.Logf("%d keys: %.1f heap bytes per tracked key", tracked, perKey)
		if perKey > 80 {
			t.Fatalf("%d keys: %.1f heap bytes per tracked key; want at most 80", tracked, perKey)
		}
	}
}

func heapBytes() int64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// BenchmarkLimiter is the cost of one Allow with 10, 100,000 and
// 1,000,000 addresses tracked: for one of ten addresses that keep sending
// (hot), for a new address, which takes the least recently used bucket of
// its full shard (new), and for every tracked address in turn (all, where
// a large table no longer fits in the CPU's caches). Nothing scans the
// table, so the cost of hot does not grow with it, and new and all grow
// only by the cache misses of a table larger than the caches.
func BenchmarkLimiter(b *testing.B) {
	for _, tracked := range []int{10, 100_000, 1_000_000} {
		l := NewLimiter(RateLimit{RPS: 1, Burst: 10, Tracked: tracked})
		known := make([]string, tracked)
		for i := range known {
			known[i] = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
			l.Allow(known[i])
		}
		cycle := func(keys []string) func(b *testing.B) {
			return func(b *testing.B) {
				i := 0
				for b.Loop() {
					l.Allow(keys[i])
					if i++; i == len(keys) {
						i = 0
					}
				}
			}
		}
		b.Run(fmt.Sprintf("tracked=%d/hot", tracked), cycle(known[len(known)-10:]))
		b.Run(fmt.Sprintf("tracked=%d/all", tracked), cycle(known))
		b.Run(fmt.Sprintf("tracked=%d/new", tracked), func(b *testing.B) {
			buf := []byte("new:")
			i := 0
			for b.Loop() {
				i++
				l.Allow(string(strconv.AppendInt(buf[:4], int64(i), 10)))
			}
		})
	}
}

// size is the number of buckets l tracks.
func (l *Limiter) size() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.index)
		s.mu.Unlock()
	}
	return n
}

// shardOf is the shard of key.
func (l *Limiter) shardOf(key string) *shard { return l.shard(maphash.String(l.seed, key)) }
