package keys

import (
	"container/list"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sync/singleflight"
)

// MaxCacheTTL is the longest a [Keyring] may trust a key it looked up: the
// bound on how long a revoked key keeps working on another replica.
const MaxCacheTTL = 5 * time.Second

// Defaults of [Options].
const (
	DefaultTouchInterval = time.Minute
	DefaultMaxCached     = 10000
)

// lookupTimeout bounds one lookup of a key in the store, which concurrent
// requests for the key share.
const lookupTimeout = 10 * time.Second

// Options tune a [Keyring].
type Options struct {
	// CacheTTL is how long a looked-up key is trusted, 0 < CacheTTL <=
	// [MaxCacheTTL]; zero means MaxCacheTTL.
	CacheTTL time.Duration
	// TouchInterval is the least time between two writes of a key's
	// LastUsedAt by this keyring; zero means [DefaultTouchInterval].
	TouchInterval time.Duration
	// MaxCached bounds the cached lookups; zero means [DefaultMaxCached].
	MaxCached int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives failures to record a key's use; nil discards them.
	Logger *slog.Logger
	// S3Key, 32 bytes, seals the S3 secret access keys of keys made with
	// [Spec.S3]; without it such keys cannot be made ([ErrNoS3Key]).
	S3Key []byte
}

// Principal is who a key's request acts for: its id, rights, confinement
// and expiry.
type Principal struct {
	// KeyID identifies the key.
	KeyID string
	// Scopes are the principal's rights.
	Scopes Scope
	// Prefix, when not empty, confines the principal to ids starting
	// with it.
	Prefix string
	// ExpiresAt, when not zero, is when the key expires.
	ExpiresAt time.Time
}

// Spec describes a key to create.
type Spec struct {
	// Name labels the key: 1 to 200 characters of printable UTF-8.
	Name string
	// Scopes are the key's rights; at least one.
	Scopes Scope
	// Prefix, when not empty, confines the key to ids starting with it;
	// at most 1024 bytes of UTF-8 without control characters.
	Prefix string
	// ExpiresIn, when positive, is how long the key works.
	ExpiresIn time.Duration
	// NotAfter, when not zero, is the latest the key may expire: it
	// expires then if ExpiresIn asks for no expiry or a later one.
	NotAfter time.Time
	// S3 gives the key S3 credentials as well (see [Keyring.S3Secret]).
	S3 bool
}

func (s Spec) validate() error {
	switch {
	case s.Name == "" || utf8.RuneCountInString(s.Name) > 200 || !utf8.ValidString(s.Name) || strings.IndexFunc(s.Name, notPrintable) >= 0:
		return fmt.Errorf("%w: name must be 1 to 200 printable characters", ErrInvalid)
	case s.Scopes == 0 || s.Scopes&^All != 0:
		return fmt.Errorf("%w: a key needs at least one of the scopes read, write, delete, admin", ErrInvalid)
	case len(s.Prefix) > 1024 || !utf8.ValidString(s.Prefix) || strings.IndexFunc(s.Prefix, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: prefix must be at most 1024 bytes of UTF-8 without control characters", ErrInvalid)
	case s.ExpiresIn < 0:
		return fmt.Errorf("%w: expires_in must be positive", ErrInvalid)
	}
	return nil
}

func notPrintable(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }

// Keyring creates, lists and revokes keys, and authenticates tokens with a
// short cache. It is safe for concurrent use. Call Close when done, before
// closing its store's database.
type Keyring struct {
	store Store
	ttl   time.Duration
	touch time.Duration
	max   int
	now   func() time.Time
	log   *slog.Logger
	s3Key []byte
	group singleflight.Group

	mu sync.Mutex
	// cache holds the lookups by key id, each an element of order, which
	// lists them oldest first: a full cache evicts its front, O(1).
	cache map[string]*list.Element
	order list.List
	// querying holds, by key id, the lookup querying the store, if any;
	// Revoke marks it revoked, so it neither caches nor returns what it
	// read before the revocation.
	querying map[string]*query
	touched  map[string]time.Time
	closed   bool
	touches  sync.WaitGroup
}

// query is one lookup of a key id in the store.
type query struct{ revoked bool }

// cached is the outcome of one lookup of a key id.
type cached struct {
	id      string
	key     Key
	found   bool
	fetched time.Time // when the lookup began
}

// NewKeyring returns a Keyring over s.
func NewKeyring(s Store, o Options) *Keyring {
	k := &Keyring{
		store: s, ttl: o.CacheTTL, touch: o.TouchInterval, max: o.MaxCached, now: o.Now, log: o.Logger, s3Key: o.S3Key,
		cache: make(map[string]*list.Element), querying: make(map[string]*query), touched: make(map[string]time.Time),
	}
	if k.ttl <= 0 || k.ttl > MaxCacheTTL {
		k.ttl = MaxCacheTTL
	}
	if k.touch <= 0 {
		k.touch = DefaultTouchInterval
	}
	if k.max <= 0 {
		k.max = DefaultMaxCached
	}
	if k.now == nil {
		k.now = time.Now
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	return k
}

// Create makes a key as spec says and returns it with its token: [Keyring.CreateKey]
// for a key without S3 credentials.
func (k *Keyring) Create(ctx context.Context, spec Spec) (Key, string, error) {
	key, secrets, err := k.CreateKey(ctx, spec)
	return key, secrets.Token, err
}

// CreateKey makes a key as spec says and returns it with its secrets. The
// secrets are not kept anywhere but sealed: this is the only time they
// are shown.
func (k *Keyring) CreateKey(ctx context.Context, spec Spec) (Key, Secrets, error) {
	if err := spec.validate(); err != nil {
		return Key{}, Secrets{}, err
	}
	secret := newSecret()
	key := Key{
		ID: newID(), Name: spec.Name, SecretHash: hashSecret(secret), Scopes: spec.Scopes, Prefix: spec.Prefix,
		CreatedAt: k.now().UTC().Truncate(time.Microsecond),
	}
	var s3Secret string
	if spec.S3 {
		var err error
		if s3Secret, key.S3Sealed, err = k.sealS3(key.ID); err != nil {
			return Key{}, Secrets{}, fmt.Errorf("keys: create: %w", err)
		}
	}
	if spec.ExpiresIn > 0 {
		key.ExpiresAt = key.CreatedAt.Add(spec.ExpiresIn).Truncate(time.Microsecond)
	}
	if limit := spec.NotAfter.UTC().Truncate(time.Microsecond); !limit.IsZero() && (key.ExpiresAt.IsZero() || key.ExpiresAt.After(limit)) {
		key.ExpiresAt = limit
	}
	if err := k.store.Insert(ctx, key); err != nil {
		return Key{}, Secrets{}, fmt.Errorf("keys: create: %w", err)
	}
	return key, Secrets{Token: formatToken(key.ID, secret), S3SecretAccessKey: s3Secret}, nil
}

// List returns every key, oldest first.
func (k *Keyring) List(ctx context.Context) ([]Key, error) {
	keys, err := k.store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	return keys, nil
}

// Get returns the key with id, or an error wrapping [ErrNotFound].
func (k *Keyring) Get(ctx context.Context, id string) (Key, error) {
	if !ValidID(id) {
		return Key{}, fmt.Errorf("keys: get: %w", ErrNotFound)
	}
	key, err := k.store.Get(ctx, id)
	if err != nil {
		return Key{}, fmt.Errorf("keys: get: %w", err)
	}
	return key, nil
}

// Revoke revokes the key with id: this keyring refuses it at once, a
// request whose lookup of the key is under way included; every other
// keyring within its cache TTL.
func (k *Keyring) Revoke(ctx context.Context, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("keys: revoke: %w", ErrNotFound)
	}
	if err := k.store.Revoke(ctx, id, k.now().UTC().Truncate(time.Microsecond)); err != nil {
		return fmt.Errorf("keys: revoke: %w", err)
	}
	k.mu.Lock()
	if e := k.cache[id]; e != nil {
		k.order.Remove(e)
		delete(k.cache, id)
	}
	if q := k.querying[id]; q != nil {
		q.revoked = true
	}
	k.mu.Unlock()
	return nil
}

// Authenticate returns the principal of token. A token that is not the
// token of an active key gives an error wrapping [ErrInvalidToken]; a
// store that cannot be reached, one wrapping [ErrUnavailable].
func (k *Keyring) Authenticate(ctx context.Context, token string) (Principal, error) {
	id, secret, ok := parseToken(token)
	if !ok {
		return Principal{}, ErrInvalidToken
	}
	key, found, err := k.lookup(ctx, id)
	if err != nil {
		return Principal{}, err
	}
	sum := hashSecret(secret)
	// The comparison runs even for an unknown id, against a zero hash, so
	// unknown and known ids take alike.
	match := subtle.ConstantTimeCompare(sum[:], key.SecretHash[:]) == 1
	now := k.now()
	if !found || !match || !key.Active(now) {
		return Principal{}, ErrInvalidToken
	}
	k.used(id, now)
	return Principal{KeyID: key.ID, Scopes: key.Scopes, Prefix: key.Prefix, ExpiresAt: key.ExpiresAt}, nil
}

// lookup returns the key with id from the cache, or from the store when
// the cached lookup is older than the TTL. Concurrent lookups of one id
// share one query.
func (k *Keyring) lookup(ctx context.Context, id string) (Key, bool, error) {
	k.mu.Lock()
	var c cached
	e, ok := k.cache[id]
	if ok {
		c = e.Value.(cached)
	}
	k.mu.Unlock()
	if ok && k.now().Sub(c.fetched) < k.ttl {
		return c.key, c.found, nil
	}
	v, err, _ := k.group.Do(id, func() (any, error) {
		// The query is shared: one caller leaving must not fail the rest.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
		defer cancel()
		for {
			c, err := k.query(qctx, id)
			if err != nil || c != nil {
				return c, err
			}
			// Revoked while queried: what was read may predate it.
		}
	})
	if err != nil {
		return Key{}, false, err
	}
	c = *v.(*cached)
	return c.key, c.found, nil
}

// query looks the key id up in the store and caches the outcome. It
// returns nil, caching nothing, when [Keyring.Revoke] revoked the key
// meanwhile.
func (k *Keyring) query(ctx context.Context, id string) (*cached, error) {
	q := &query{}
	k.mu.Lock()
	k.querying[id] = q
	k.mu.Unlock()
	c := cached{id: id, fetched: k.now()}
	key, err := k.store.Get(ctx, id)
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.querying, id)
	switch {
	case err == nil:
		c.key, c.found = key, true
	case errors.Is(err, ErrNotFound):
	default:
		return nil, fmt.Errorf("keys: looking up key %s: %w", id, err)
	}
	if q.revoked {
		return nil, nil
	}
	k.remember(id, c)
	return &c, nil
}

// remember caches c as the newest lookup, evicting the oldest when the
// cache is full: O(1). An evicted key is only looked up again; a stale
// entry is never trusted, whether evicted yet or not. k.mu is held.
func (k *Keyring) remember(id string, c cached) {
	if e := k.cache[id]; e != nil {
		k.order.Remove(e)
	} else if len(k.cache) >= k.max {
		delete(k.cache, k.order.Remove(k.order.Front()).(cached).id)
	}
	k.cache[id] = k.order.PushBack(c)
}

// used records, in the background, that the key id was used at now, unless
// this keyring did so less than its touch interval ago.
func (k *Keyring) used(id string, now time.Time) {
	k.mu.Lock()
	due := !k.closed && now.Sub(k.touched[id]) >= k.touch
	if due {
		k.touched[id] = now
		k.touches.Add(1)
	}
	k.mu.Unlock()
	if !due {
		return
	}
	go func() {
		defer k.touches.Done()
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		defer cancel()
		if err := k.store.Touch(ctx, id, now.UTC().Truncate(time.Microsecond)); err != nil {
			k.log.LogAttrs(ctx, slog.LevelWarn, "recording a key's last use failed",
				slog.String("key_id", id), slog.String("error", err.Error()))
		}
	}()
}

// Close waits for the background writes of last use; afterwards none
// starts.
func (k *Keyring) Close() {
	k.mu.Lock()
	k.closed = true
	k.mu.Unlock()
	k.touches.Wait()
}
