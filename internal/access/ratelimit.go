package access

import (
	"hash/maphash"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"
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
	// Tracked bounds the keys and addresses tracked one by one; zero means
	// [DefaultTracked].
	Tracked int
}

// DefaultTracked is how many keys and client addresses a [Limiter] tracks
// by default. Each costs at most 80 bytes, so the default table holds at
// most 20 MiB.
const DefaultTracked = 1 << 18

// A [Limiter] splits its keys into shardCount independently locked
// tables, so concurrent requests rarely wait on one another.
const (
	shardBits  = 6
	shardCount = 1 << shardBits
)

// chunkSize is how many buckets a shard allocates at once: a shard grows
// chunk by chunk, never copying the buckets it holds.
const chunkSize = 512

// Limiter is a token bucket per key: RPS tokens a second, Burst at most,
// one per request. It is safe for concurrent use, and its cost per request
// does not depend on how many keys it tracks: keys are spread over
// independently locked shards, each a hash table and a list in order of
// last use; a new key in a full shard takes the place of the key least
// recently used there. Nothing is swept. Forgetting a key only gives it a
// full bucket again, so a flood of new addresses can make the limiter
// forget idle keys, never refuse or slow a key that sends its own
// requests. The table holds at most Tracked buckets of fixed size, keys
// kept only as 64-bit seeded hashes: two keys share a bucket only if their
// hashes collide, which nobody can arrange without the process's seed.
type Limiter struct {
	perNano float64 // tokens a nanosecond
	burst   float64
	seed    maphash.Seed
	epoch   time.Time
	shards  [shardCount]shard
}

// shard is one locked part of a Limiter: an index from hashes to slots,
// and the slots in a doubly linked list, most recently used first.
type shard struct {
	mu     sync.Mutex
	index  map[uint64]int32
	chunks [][]slot
	used   int32 // slots handed out
	limit  int32 // most slots
	head   int32 // most recently used slot, or -1
	tail   int32 // least recently used slot, or -1
	_      [64]byte
}

// slot is one token bucket in a shard's list.
type slot struct {
	hash       uint64
	tokens     float64
	last       int64 // nanoseconds since the epoch of the last refill
	prev, next int32
}

// NewLimiter returns the limiter c describes, or nil when c.RPS is not
// positive (no limit); a nil *Limiter allows every request.
func NewLimiter(c RateLimit) *Limiter {
	if c.RPS <= 0 {
		return nil
	}
	tracked := c.Tracked
	if tracked <= 0 {
		tracked = DefaultTracked
	}
	l := &Limiter{
		perNano: c.RPS / float64(time.Second), burst: float64(max(c.Burst, 1)),
		seed: maphash.MakeSeed(), epoch: time.Now(),
	}
	perShard := int32(min((tracked+shardCount-1)/shardCount, math.MaxInt32))
	for i := range l.shards {
		l.shards[i] = shard{index: make(map[uint64]int32), limit: perShard, head: -1, tail: -1}
	}
	return l
}

// Allow takes a token from key's bucket and returns ok, or returns how
// long until the bucket has one. A nil Limiter allows every request.
func (l *Limiter) Allow(key string) (retryAfter time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	return l.allowAt(key, time.Since(l.epoch).Nanoseconds())
}

func (l *Limiter) allowAt(key string, now int64) (time.Duration, bool) {
	h := maphash.String(l.seed, key)
	s := l.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucket(h, now, l.burst)
	b.tokens = min(l.burst, b.tokens+float64(now-b.last)*l.perNano)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration(math.Ceil((1 - b.tokens) / l.perNano)), false
}

// shard is the shard of hash h, chosen by its top bits (the shard's map
// uses the low ones).
func (l *Limiter) shard(h uint64) *shard { return &l.shards[h>>(64-shardBits)] }

// bucket returns the slot of hash h, made the most recently used: its own,
// a new full one, or, when the shard is full, the least recently used
// one's, refilled for h.
func (s *shard) bucket(h uint64, now int64, burst float64) *slot {
	if i, ok := s.index[h]; ok {
		s.unlink(i)
		s.pushFront(i)
		return s.at(i)
	}
	var i int32
	if s.used < s.limit {
		i = s.used
		if int(i)/chunkSize == len(s.chunks) {
			s.chunks = append(s.chunks, make([]slot, chunkSize))
		}
		s.used++
	} else {
		i = s.tail
		s.unlink(i)
		delete(s.index, s.at(i).hash)
	}
	*s.at(i) = slot{hash: h, tokens: burst, last: now}
	s.index[h] = i
	s.pushFront(i)
	return s.at(i)
}

func (s *shard) at(i int32) *slot { return &s.chunks[i/chunkSize][i%chunkSize] }

func (s *shard) unlink(i int32) {
	b := s.at(i)
	if b.prev >= 0 {
		s.at(b.prev).next = b.next
	} else {
		s.head = b.next
	}
	if b.next >= 0 {
		s.at(b.next).prev = b.prev
	} else {
		s.tail = b.prev
	}
}

func (s *shard) pushFront(i int32) {
	b := s.at(i)
	b.prev, b.next = -1, s.head
	if s.head >= 0 {
		s.at(s.head).prev = i
	} else {
		s.tail = i
	}
	s.head = i
}

// ClientKey is the key under which a client at remoteAddr (an
// http.Request's RemoteAddr, "host:port") is rate limited: its IPv4
// address, or the /64 prefix of its IPv6 address, since one IPv6 client
// usually holds a whole /64. An IPv4-mapped IPv6 address counts as its
// IPv4 address. An address that does not parse is its own key.
func ClientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if addr.Is4() {
		return host // ParseAddr takes dotted decimal only as String writes it
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr.WithZone(""), 64).Masked().String()
}

// RetryAfterSeconds is the Retry-After header value of a wait: whole
// seconds, rounded up, at least 1.
func RetryAfterSeconds(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}
