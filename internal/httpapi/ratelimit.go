package httpapi

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit configures the per-key and per-address request rate limits
// (RATE_LIMIT_RPS, RATE_LIMIT_BURST).
type RateLimit struct {
	// RPS is the sustained rate each key (or client address, for requests
	// without a valid key) may send, in requests per second; 0 turns rate
	// limiting off.
	RPS float64
	// Burst is how many requests may come at once above the rate; at
	// least 1.
	Burst int
}

// Bounds of the limiter map.
const (
	// maxLimiters bounds the keys and addresses tracked one by one;
	// beyond it, new ones share one limiter.
	maxLimiters = 100000
	// sweepEvery is how often idle limiters are dropped.
	sweepEvery = time.Minute
)

// limiter is a token bucket per key or client address. Buckets idle long
// enough to have refilled are dropped: a full bucket is the same as a new
// one, so dropping it loses nothing. At most maxLimiters are tracked; a key
// that finds the map full shares the overflow bucket, so a flood of
// addresses is limited as one.
type limiter struct {
	limit    rate.Limit
	burst    int
	idle     time.Duration // time for an empty bucket to refill
	overflow *rate.Limiter

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	*rate.Limiter
	seen atomic.Int64 // Unix nanoseconds of the last request
}

func newLimiter(c RateLimit) *limiter {
	if c.RPS <= 0 {
		return nil
	}
	burst := max(c.Burst, 1)
	refill := time.Duration(float64(burst) / c.RPS * float64(time.Second))
	return &limiter{
		limit: rate.Limit(c.RPS), burst: burst, idle: max(refill, time.Second),
		overflow: rate.NewLimiter(rate.Limit(c.RPS), burst),
		buckets:  make(map[string]*bucket), lastSweep: time.Now(),
	}
}

// allow takes a token from key's bucket, or reports how long until one is
// available.
func (l *limiter) allow(key string) (time.Duration, bool) {
	now := time.Now()
	b := l.bucket(key, now)
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return time.Second, false
	}
	wait := r.DelayFrom(now)
	if wait == 0 {
		return 0, true
	}
	r.CancelAt(now)
	return wait, false
}

func (l *limiter) bucket(key string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxLimiters || now.Sub(l.lastSweep) >= sweepEvery {
			l.sweep(now)
		}
		if len(l.buckets) >= maxLimiters {
			return l.overflow
		}
		b = &bucket{Limiter: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen.Store(now.UnixNano())
	return b.Limiter
}

// sweep drops the buckets idle long enough to be full again.
func (l *limiter) sweep(now time.Time) {
	l.lastSweep = now
	for key, b := range l.buckets {
		if now.Sub(time.Unix(0, b.seen.Load())) >= l.idle {
			delete(l.buckets, key)
		}
	}
}

// size returns the number of tracked buckets.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// retryAfter is the Retry-After, in whole seconds (at least 1), of a wait.
func retryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}
