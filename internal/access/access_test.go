package access_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/keys"
	"github.com/simpledrive/simpledrive/internal/links"
)

var now = time.Unix(1_800_000_000, 0)

// Principals of the decision table.
var (
	operator = access.OperatorPrincipal
	reader   = access.Principal{Kind: access.Key, KeyID: "r", Scopes: keys.Read}
	writer   = access.Principal{Kind: access.Key, KeyID: "w", Scopes: keys.Write}
	deleter  = access.Principal{Kind: access.Key, KeyID: "d", Scopes: keys.Delete}
	admin    = access.Principal{Kind: access.Key, KeyID: "a", Scopes: keys.Admin}
	teamA    = access.Principal{Kind: access.Key, KeyID: "t", Scopes: keys.All, Prefix: "team-a/"}
	expired  = access.Principal{Kind: access.Key, KeyID: "e", Scopes: keys.All, ExpiresAt: now}
	live     = access.Principal{Kind: access.Key, KeyID: "l", Scopes: keys.All, ExpiresAt: now.Add(time.Second)}
	link     = access.Principal{Kind: access.Link, KeyID: access.LinkKeyID, Scopes: keys.Read, LinkID: "team-a/x", ExpiresAt: now.Add(time.Minute)}
	oldLink  = access.Principal{Kind: access.Link, KeyID: access.LinkKeyID, Scopes: keys.Read, LinkID: "team-a/x", ExpiresAt: now}
	nobody   = access.Principal{}
)

func id(s string) access.Target     { return access.Target{Kind: access.BlobID, ID: s} }
func prefix(s string) access.Target { return access.Target{Kind: access.ListPrefix, ID: s} }

var late = access.Target{Kind: access.LateID}

func TestDecide(t *testing.T) {
	c := access.New(access.Config{})
	refusedToken := &access.CredentialError{Challenge: "invalid_token", Detail: "the bearer token is not valid"}
	cases := []struct {
		p       access.Principal
		refused error
		action  access.Action
		target  access.Target
		want    access.Verdict
		list    string // the listing prefix of an allowed listing; "-" for an empty page
	}{
		// The operator may do everything.
		{p: operator, action: access.Read, target: id("x"), want: access.Allow},
		{p: operator, action: access.Write, target: late, want: access.Allow},
		{p: operator, action: access.Delete, target: id("x"), want: access.Allow},
		{p: operator, action: access.Admin, want: access.Allow},
		{p: operator, action: access.List, target: prefix("a/"), want: access.Allow, list: "a/"},
		{p: operator, action: access.Any, want: access.Allow},
		// Each scope allows its actions only.
		{p: reader, action: access.Read, target: id("x"), want: access.Allow},
		{p: reader, action: access.List, target: prefix(""), want: access.Allow, list: ""},
		{p: reader, action: access.Write, target: id("x"), want: access.Forbidden},
		{p: reader, action: access.Delete, target: id("x"), want: access.Forbidden},
		{p: reader, action: access.Admin, want: access.Forbidden},
		{p: writer, action: access.Write, target: id("x"), want: access.Allow},
		{p: writer, action: access.Read, target: id("x"), want: access.Forbidden},
		{p: writer, action: access.List, target: prefix(""), want: access.Forbidden},
		{p: deleter, action: access.Delete, target: id("x"), want: access.Allow},
		{p: deleter, action: access.Write, target: late, want: access.Forbidden},
		{p: admin, action: access.Admin, want: access.Allow},
		{p: admin, action: access.Read, target: id("x"), want: access.Forbidden},
		{p: admin, action: access.Any, want: access.Allow},
		// An undeclared or public action is never allowed through a decision.
		{p: operator, action: 0, want: access.Forbidden},
		{p: operator, action: access.Public, want: access.Forbidden},
		// Confinement: ids outside the prefix are absent, whatever they
		// look like; the scope is checked first.
		{p: teamA, action: access.Read, target: id("team-a/x"), want: access.Allow},
		{p: teamA, action: access.Write, target: id("team-a/../team-b/x"), want: access.Allow}, // an id of its own, inside
		{p: teamA, action: access.Read, target: id("team-b/x"), want: access.Absent},
		{p: teamA, action: access.Delete, target: id("team-a"), want: access.Absent},
		{p: teamA, action: access.Read, target: id("team-"), want: access.Absent},
		{p: teamA, action: access.Read, target: id("team-a%2Fx"), want: access.Absent},
		{p: teamA, action: access.Read, target: id("team\u2010a/x"), want: access.Absent},
		{p: teamA, action: access.Read, target: id("team-a\uff0fx"), want: access.Absent},
		{p: teamA, action: access.Read, target: id("TEAM-A/x"), want: access.Absent},
		{p: teamA, action: access.Write, target: late, want: access.Allow},
		{p: teamA, action: access.Admin, want: access.Allow},
		{p: access.Principal{Kind: access.Key, Scopes: keys.Read, Prefix: "team-a/"}, action: access.Write, target: id("team-b/x"), want: access.Forbidden},
		// Listings are narrowed to the prefix, or empty.
		{p: teamA, action: access.List, target: prefix(""), want: access.Allow, list: "team-a/"},
		{p: teamA, action: access.List, target: prefix("team"), want: access.Allow, list: "team-a/"},
		{p: teamA, action: access.List, target: prefix("team-a/sub/"), want: access.Allow, list: "team-a/sub/"},
		{p: teamA, action: access.List, target: prefix("team-b/"), want: access.Allow, list: "-"},
		{p: teamA, action: access.List, target: prefix("team-ab"), want: access.Allow, list: "-"},
		// Expiry is checked against the request's clock.
		{p: expired, action: access.Read, target: id("x"), want: access.Unauthenticated},
		{p: live, action: access.Read, target: id("x"), want: access.Allow},
		// No or refused credentials.
		{p: nobody, action: access.Read, target: id("x"), want: access.Unauthenticated},
		{p: nobody, action: access.Any, want: access.Unauthenticated},
		{p: nobody, refused: refusedToken, action: access.Read, target: id("x"), want: access.Unauthenticated},
		{p: nobody, refused: errors.New("opaque"), action: access.Read, target: id("x"), want: access.Unauthenticated},
		{p: nobody, refused: fmt.Errorf("%w: tampered", links.ErrInvalid), action: access.Read, target: id("x"), want: access.InvalidLink},
		// A link reads its one blob, nothing else.
		{p: link, action: access.Read, target: id("team-a/x"), want: access.Allow},
		{p: link, action: access.Read, target: id("team-a/y"), want: access.InvalidLink},
		{p: link, action: access.Write, target: id("team-a/x"), want: access.InvalidLink},
		{p: link, action: access.Delete, target: id("team-a/x"), want: access.InvalidLink},
		{p: link, action: access.List, target: prefix("team-a/"), want: access.InvalidLink},
		{p: link, action: access.Any, want: access.InvalidLink},
		{p: oldLink, action: access.Read, target: id("team-a/x"), want: access.InvalidLink},
	}
	for _, tc := range cases {
		d := c.Decide(access.Request{Principal: tc.p, Refused: tc.refused, Action: tc.action, Target: tc.target, Client: "192.0.2.1", Now: now})
		name := fmt.Sprintf("%s %s %+v", tc.p.KeyID, tc.action, tc.target)
		if d.Verdict != tc.want {
			t.Errorf("%s: verdict %d (%s); want %d", name, d.Verdict, d.Reason, tc.want)
			continue
		}
		if d.Verdict != access.Allow && d.Reason == "" {
			t.Errorf("%s: a refusal without a reason", name)
		}
		if tc.action == access.List && d.Verdict == access.Allow {
			got := d.ListPrefix
			if d.ListNothing {
				got = "-"
			}
			if got != tc.list {
				t.Errorf("%s: listing %q; want %q", name, got, tc.list)
			}
		}
	}
}

// TestDecideChallenge: a refusal of credentials names the RFC 6750 error
// of its challenge.
func TestDecideChallenge(t *testing.T) {
	c := access.New(access.Config{})
	for _, tc := range []struct {
		p       access.Principal
		refused error
		want    string
	}{
		{nobody, nil, ""},
		{nobody, &access.CredentialError{Challenge: "invalid_request", Detail: "x"}, "invalid_request"},
		{nobody, errors.New("opaque"), "invalid_token"},
		{expired, nil, "invalid_token"},
	} {
		d := c.Decide(access.Request{Principal: tc.p, Refused: tc.refused, Action: access.Read, Target: id("x"), Now: now})
		if d.Verdict != access.Unauthenticated || d.Challenge != tc.want {
			t.Errorf("%+v, %v: %+v; want challenge %q", tc.p, tc.refused, d, tc.want)
		}
	}
}

// TestDecideRateLimit: every request is counted before anything else is
// decided, refused and anonymous ones included; principals count against
// their key, others against the client's address.
func TestDecideRateLimit(t *testing.T) {
	var asked []string
	c := access.New(access.Config{Allow: func(key string) (time.Duration, bool) {
		asked = append(asked, key)
		return 1500 * time.Millisecond, false
	}})
	for _, tc := range []struct {
		p       access.Principal
		refused error
		want    string
	}{
		{operator, nil, "key:operator"},
		{reader, nil, "key:r"},
		{expired, nil, "key:e"},
		{link, nil, "addr:192.0.2.1"},
		{nobody, nil, "addr:192.0.2.1"},
		{nobody, &access.CredentialError{Detail: "bad"}, "addr:192.0.2.1"},
		{nobody, links.ErrInvalid, "addr:192.0.2.1"},
	} {
		asked = nil
		d := c.Decide(access.Request{Principal: tc.p, Refused: tc.refused, Action: access.Read, Target: id("x"), Client: "192.0.2.1", Now: now})
		if d.Verdict != access.Limited || d.RetryAfter != 1500*time.Millisecond || len(asked) != 1 || asked[0] != tc.want {
			t.Errorf("%+v: %+v, limiter asked %q; want Limited for %q", tc.p, d, asked, tc.want)
		}
	}
}

func TestKeySpec(t *testing.T) {
	spec := func(scopes keys.Scope, prefix string, expiresIn time.Duration) keys.Spec {
		return keys.Spec{Name: "k", Scopes: scopes, Prefix: prefix, ExpiresIn: expiresIn}
	}
	maker := access.Principal{Kind: access.Key, Scopes: keys.Read | keys.Admin, Prefix: "team-a/", ExpiresAt: now.Add(2 * time.Minute)}
	for _, tc := range []struct {
		maker    access.Principal
		asked    keys.Spec
		exceeds  bool
		notAfter time.Time
	}{
		{operator, spec(keys.All, "", 0), false, time.Time{}},
		{operator, spec(keys.Read, "x/", time.Hour), false, time.Time{}},
		{maker, spec(keys.Read, "team-a/", 0), false, maker.ExpiresAt},
		{maker, spec(keys.Read, "team-a/sub/", time.Hour), false, maker.ExpiresAt},
		{maker, keys.Spec{Name: "k", Scopes: keys.Admin, Prefix: "team-a/", NotAfter: now}, false, now}, // an earlier limit: kept
		{maker, spec(keys.Write, "team-a/", 0), true, time.Time{}},
		{maker, spec(keys.Read, "", 0), true, time.Time{}},
		{maker, spec(keys.Read, "team-", 0), true, time.Time{}},
		{maker, spec(keys.Read, "team-b/", 0), true, time.Time{}},
		{expired, spec(keys.Read, "", 0), true, time.Time{}},
	} {
		got, err := tc.maker.KeySpec(tc.asked, now)
		if tc.exceeds {
			if !errors.Is(err, access.ErrExceeds) {
				t.Errorf("%+v makes %+v: %v; want ErrExceeds", tc.maker, tc.asked, err)
			}
			continue
		}
		want := tc.asked
		want.NotAfter = tc.notAfter
		if err != nil || got != want {
			t.Errorf("%+v makes %+v: %+v, %v; want %+v", tc.maker, tc.asked, got, err, want)
		}
	}
}

func TestLinkExpiry(t *testing.T) {
	want := now.Add(time.Hour)
	if got := operator.LinkExpiry(want); !got.Equal(want) {
		t.Errorf("the operator's link expires at %v; want %v", got, want)
	}
	if got := live.LinkExpiry(want); !got.Equal(live.ExpiresAt) {
		t.Errorf("a key expiring at %v makes a link expiring at %v", live.ExpiresAt, got)
	}
	if got := live.LinkExpiry(now); !got.Equal(now) {
		t.Errorf("an earlier expiry asked is %v; want %v", got, now)
	}
}

func TestManages(t *testing.T) {
	for _, tc := range []struct {
		p      access.Principal
		prefix string
		want   bool
	}{
		{operator, "", true}, {operator, "x/", true},
		{teamA, "team-a/", true}, {teamA, "team-a/sub/", true},
		{teamA, "", false}, {teamA, "team-", false}, {teamA, "team-b/", false},
	} {
		if got := tc.p.Manages(tc.prefix); got != tc.want {
			t.Errorf("%q manages %q: %v; want %v", tc.p.Prefix, tc.prefix, got, tc.want)
		}
	}
}

func TestBearer(t *testing.T) {
	c := access.New(access.Config{Token: "operator-token"})
	ctx := context.Background()
	for _, tc := range []struct {
		header    []string
		challenge string // "-": no error
	}{
		{[]string{"Bearer operator-token"}, "-"},
		{[]string{"bearer   operator-token"}, "-"},
		{nil, ""},
		{[]string{"Bearer a", "Bearer b"}, "invalid_request"},
		{[]string{"Basic b3BlcmF0b3I="}, ""},
		{[]string{"Bearer "}, "invalid_request"},
		{[]string{"Bearer operator-token2"}, "invalid_token"},
		{[]string{"Bearer sd_0123456789abcdef0123_secret"}, "invalid_token"}, // keys off
	} {
		p, err := c.Bearer(ctx, tc.header)
		if tc.challenge == "-" {
			if err != nil || p != access.OperatorPrincipal {
				t.Errorf("%q: %+v, %v; want the operator", tc.header, p, err)
			}
			continue
		}
		var ce *access.CredentialError
		if !errors.As(err, &ce) || ce.Challenge != tc.challenge || ce.Detail == "" || p.Kind != access.Anonymous {
			t.Errorf("%q: %+v, %v; want a credential error with challenge %q", tc.header, p, err, tc.challenge)
		}
	}
}

func TestLink(t *testing.T) {
	signer := links.NewSigner(links.DeriveKey("t"), time.Hour)
	c := access.New(access.Config{Links: signer})
	created := now.Add(-time.Hour)
	q := signer.Sign(links.Blob{ID: "a b", CreatedAt: created}, now.Add(time.Minute))
	p, err := c.Link("GET", "a b", q, now)
	want := access.Principal{Kind: access.Link, KeyID: access.LinkKeyID, Scopes: keys.Read, LinkID: "a b",
		LinkVersion: links.Version(created), ExpiresAt: now.Add(time.Minute)}
	if err != nil || p != want {
		t.Fatalf("Link = %+v, %v; want %+v", p, err, want)
	}
	bad := url.Values{"alt": {"media"}, "expires": q["expires"], "v": q["v"], "sig": {"AAAA"}}
	for name, err := range map[string]error{
		"tampered":   second(c.Link("GET", "a b", bad, now)),
		"other id":   second(c.Link("GET", "a c", q, now)),
		"expired":    second(c.Link("GET", "a b", q, now.Add(time.Minute))),
		"PUT":        second(c.Link("PUT", "a b", q, now)),
		"links off":  second(access.New(access.Config{}).Link("GET", "a b", q, now)),
		"other key":  second(access.New(access.Config{Links: links.NewSigner([]byte("k"), time.Hour)}).Link("GET", "a b", q, now)),
		"no version": second(c.Link("GET", "a b", url.Values{"expires": q["expires"], "sig": q["sig"]}, now)),
	} {
		if !errors.Is(err, links.ErrInvalid) {
			t.Errorf("%s: %v; want links.ErrInvalid", name, err)
		}
	}
}

func second(_ access.Principal, err error) error { return err }

func TestActionString(t *testing.T) {
	for a, want := range map[access.Action]string{0: "undeclared", access.Read: "read", access.Any: "any", 99: "action(99)"} {
		if a.String() != want {
			t.Errorf("Action(%d) = %q; want %q", a, a.String(), want)
		}
	}
}

// TestDecideAlso: the further actions of a request (a move deletes its
// source and writes its destination) need their scopes, and their ids
// must be inside the principal's prefix.
func TestDecideAlso(t *testing.T) {
	c := access.New(access.Config{})
	mover := access.Principal{Kind: access.Key, KeyID: "m", Scopes: keys.Read | keys.Write | keys.Delete, Prefix: "team-a/"}
	copier := access.Principal{Kind: access.Key, KeyID: "c", Scopes: keys.Read | keys.Write}
	move := func(from, to string) []access.Check {
		return []access.Check{{Action: access.Delete, Target: id(from)}, {Action: access.Write, Target: id(to)}}
	}
	copyTo := func(to string) []access.Check { return []access.Check{{Action: access.Write, Target: id(to)}} }
	cases := []struct {
		name string
		p    access.Principal
		also []access.Check
		want access.Verdict
	}{
		{"move inside the prefix", mover, move("team-a/x", "team-a/y"), access.Allow},
		{"move out of the prefix", mover, move("team-a/x", "team-b/y"), access.Absent},
		{"move without delete", copier, move("x", "y"), access.Forbidden},
		{"copy with read and write", copier, copyTo("y"), access.Allow},
		{"copy without write", access.Principal{Kind: access.Key, KeyID: "r", Scopes: keys.Read | keys.Delete}, copyTo("y"), access.Forbidden},
		{"an undeclared further action", operator, []access.Check{{Target: id("y")}}, access.Forbidden},
	}
	for _, tc := range cases {
		source := tc.p.Prefix + "x"
		d := c.Decide(access.Request{Principal: tc.p, Action: access.Read, Target: id(source), Also: tc.also, Now: time.Now()})
		if d.Verdict != tc.want {
			t.Errorf("%s: %v (%s); want %v", tc.name, d.Verdict, d.Reason, tc.want)
		}
	}
}

// keyStore is an in-memory [keys.Store] for the tests of Bearer.
type keyStore struct {
	keys map[string]keys.Key
	err  error
}

func (s *keyStore) Insert(_ context.Context, k keys.Key) error { s.keys[k.ID] = k; return nil }
func (s *keyStore) Get(_ context.Context, id string) (keys.Key, error) {
	k, ok := s.keys[id]
	switch {
	case s.err != nil:
		return keys.Key{}, s.err
	case !ok:
		return keys.Key{}, keys.ErrNotFound
	}
	return k, nil
}
func (s *keyStore) List(context.Context) ([]keys.Key, error) { return nil, nil }
func (s *keyStore) Revoke(_ context.Context, id string, at time.Time) error {
	k := s.keys[id]
	k.RevokedAt = at
	s.keys[id] = k
	return nil
}
func (s *keyStore) Touch(context.Context, string, time.Time) error { return nil }

// TestBearerKeys: an API key's token gives its principal, with its
// scopes, prefix and expiry; a revoked key's is refused as an invalid
// token; a store that cannot be asked is an error of its own.
func TestBearerKeys(t *testing.T) {
	ctx := context.Background()
	store := &keyStore{keys: map[string]keys.Key{}}
	ring := keys.NewKeyring(store, keys.Options{})
	defer ring.Close()
	c := access.New(access.Config{Token: "operator-token", Keys: ring})
	k, tok, err := ring.Create(ctx, keys.Spec{Name: "k", Scopes: keys.Read, Prefix: "team-a/", ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Bearer(ctx, []string{"Bearer " + tok})
	want := access.Principal{Kind: access.Key, KeyID: k.ID, Scopes: keys.Read, Prefix: "team-a/", ExpiresAt: k.ExpiresAt}
	if err != nil || p != want {
		t.Fatalf("Bearer = %+v, %v; want %+v", p, err, want)
	}
	if err := ring.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	var ce *access.CredentialError
	if _, err := c.Bearer(ctx, []string{"Bearer " + tok}); !errors.As(err, &ce) || ce.Challenge != "invalid_token" || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("a revoked key: %v; want an invalid_token credential error", err)
	}
	store.err = errors.New("database down")
	other, otherTok, _ := ring.Create(ctx, keys.Spec{Name: "o", Scopes: keys.Read})
	if _, err := c.Bearer(ctx, []string{"Bearer " + otherTok}); err == nil || errors.As(err, &ce) {
		t.Errorf("key %s with the store down: %v; want the store's error, not a credential error", other.ID, err)
	}
}

func TestContext(t *testing.T) {
	ctx := access.NewContext(context.Background(), teamA)
	if got := access.FromContext(ctx); got != teamA {
		t.Errorf("FromContext = %+v; want %+v", got, teamA)
	}
	if got := access.FromContext(context.Background()); got.Kind != access.Anonymous {
		t.Errorf("FromContext of a bare context = %+v; want the anonymous principal", got)
	}
}
