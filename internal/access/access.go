// Package access decides who may do what, once per request, for every
// protocol (DESIGN section 8): the native API, tus and, later, S3 each
// extract the same facts from a request and ask the same [Controller].
//
// # Facts
//
// A protocol extracts three facts before it reads a body byte:
//
//   - the principal ([Principal]): the operator (API_TOKEN), an API key
//     (its scopes, id prefix and expiry), a signed link (one blob, read
//     only), or nobody. [Controller.Bearer] and [Controller.Link] turn
//     what the request presents into one; a bearer token that does not
//     authenticate is kept as the reason the request is refused.
//   - the action ([Action]): read, list, write, delete or admin; public
//     routes (health, readiness, metrics, the OpenAPI document) declare
//     [Public] and are never decided.
//   - the target ([Target]): the blob id the request touches, the listing
//     prefix it asks for, an id that arrives later in the body, or none.
//
// # Decision
//
// [Controller.Decide] answers from these facts and the clock alone, in
// this order:
//
//  1. rate limit: every request is counted, refused and anonymous ones
//     included; a principal's requests count against its key, others
//     against the client's address ([Limited]);
//  2. credentials: none or invalid ([Unauthenticated]), an invalid or
//     expired link ([InvalidLink]);
//  3. expiry: a key past its expiry is refused as invalid
//     ([Unauthenticated]) even while a cache still holds it;
//  4. scope: the action needs its scope, and so does each further
//     action of [Request.Also] ([Forbidden]);
//  5. confinement: an id outside the principal's prefix, the request's or
//     a further action's, answers
//     [Absent], as if it did not exist; a listing is narrowed to the
//     prefix ([Decision.ListPrefix]), or empty.
//
// A signed link's HMAC and expiry are checked by [Controller.Link] without
// any lookup; the link names the blob's version ([Principal.LinkVersion]),
// which the protocol compares with the blob it opens.
//
// # Derived credentials
//
// What a principal creates never exceeds it: [Principal.KeySpec] bounds a
// key made by a key to its maker's scopes, prefix (equal or narrower) and
// expiry; [Principal.LinkExpiry] ends a link no later than its maker. A key
// made by a key that expires, asked for no expiry or a later one, gets its
// maker's expiry.
package access

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/simpledrive/simpledrive/internal/keys"
	"github.com/simpledrive/simpledrive/internal/links"
)

// Kind is what a principal is.
type Kind uint8

// The kinds of principal.
const (
	// Anonymous is a request without valid credentials.
	Anonymous Kind = iota
	// Operator holds API_TOKEN: every scope, every id.
	Operator
	// Key is an API key.
	Key
	// Link is a valid signed link: GET and HEAD of one blob's bytes.
	Link
)

// Principal is who a request acts for.
type Principal struct {
	Kind Kind
	// KeyID names the principal in logs: the key's id, [OperatorKeyID],
	// or [LinkKeyID]; empty when anonymous.
	KeyID string
	// Scopes are the principal's rights.
	Scopes keys.Scope
	// Prefix, when not empty, confines the principal to ids starting with
	// it, compared byte for byte on the decoded id.
	Prefix string
	// ExpiresAt, when not zero, is when the principal stops working.
	ExpiresAt time.Time
	// LinkID is the one blob id a link reads.
	LinkID string
	// LinkVersion is the version (creation time, Unix microseconds) of the
	// blob a link was made for; the blob opened must have it.
	LinkVersion int64
}

// Key ids logged for principals that are not API keys.
const (
	// OperatorKeyID names requests made with API_TOKEN.
	OperatorKeyID = "operator"
	// LinkKeyID names requests let through by a signed link.
	LinkKeyID = "signed-link"
)

// OperatorPrincipal is the principal of API_TOKEN: every scope, every id.
var OperatorPrincipal = Principal{Kind: Operator, KeyID: OperatorKeyID, Scopes: keys.All}

type principalKey struct{}

// NewContext returns ctx carrying p, the principal an authorized request
// acts for, for the protocol serving it.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of an authorized request's context,
// or the anonymous principal.
func FromContext(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// Admits reports whether p may see and touch the blob id: the id starts
// with p's prefix, and is the link's id for a link.
func (p Principal) Admits(id string) bool {
	if p.Kind == Link {
		return id == p.LinkID
	}
	return strings.HasPrefix(id, p.Prefix)
}

// Manages reports whether p may see and manage a key confined to prefix:
// a key confined to a prefix manages only keys confined at or below it.
func (p Principal) Manages(prefix string) bool { return strings.HasPrefix(prefix, p.Prefix) }

// ErrExceeds means a credential asked for would exceed its maker.
var ErrExceeds = errors.New("access: a credential cannot exceed the one making it")

// KeySpec returns spec bounded by its maker p at now: an error wrapping
// [ErrExceeds] when it asks for a scope p lacks or ids outside p's
// prefix, or p has expired; when p expires, the key expires no later
// ([keys.Spec.NotAfter]: an expiry asked for beyond p's, or none, becomes
// p's).
func (p Principal) KeySpec(spec keys.Spec, now time.Time) (keys.Spec, error) {
	if !p.Scopes.Has(spec.Scopes) || !p.Manages(spec.Prefix) {
		return keys.Spec{}, fmt.Errorf("%w: a key cannot grant scopes or ids beyond those of the key creating it", ErrExceeds)
	}
	if !p.ExpiresAt.IsZero() {
		if !now.Before(p.ExpiresAt) {
			return keys.Spec{}, fmt.Errorf("%w: the key creating it has expired", ErrExceeds)
		}
		if spec.NotAfter.IsZero() || spec.NotAfter.After(p.ExpiresAt) {
			spec.NotAfter = p.ExpiresAt
		}
	}
	return spec, nil
}

// LinkExpiry returns when a link p makes that asks to expire at want
// expires: want, or p's own expiry when that comes first.
func (p Principal) LinkExpiry(want time.Time) time.Time {
	if !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(want) {
		return p.ExpiresAt
	}
	return want
}

// Action is what a request does. The zero Action is undeclared: a route
// must name one.
type Action uint8

// The actions.
const (
	// Public needs no credentials and is never decided.
	Public Action = iota + 1
	// Read reads a blob (GET, HEAD, links).
	Read
	// List lists blobs.
	List
	// Write creates a blob (POST, PUT, tus).
	Write
	// Delete deletes a blob.
	Delete
	// Admin manages keys.
	Admin
	// Any needs credentials but no scope: a request for a route or
	// method that does not exist, answered 404 or 405 once authenticated.
	Any
)

var actionNames = [...]string{"undeclared", "public", "read", "list", "write", "delete", "admin", "any"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", a)
}

// scope is the scope a needs.
func (a Action) scope() keys.Scope {
	switch a {
	case Read, List:
		return keys.Read
	case Write:
		return keys.Write
	case Delete:
		return keys.Delete
	}
	return keys.Admin
}

// TargetKind is what a request's target names.
type TargetKind uint8

// The kinds of target.
const (
	// NoTarget: the request touches no blob (key management, a tus
	// collection).
	NoTarget TargetKind = iota
	// BlobID: the request touches the blob [Target.ID].
	BlobID
	// ListPrefix: the request lists the ids starting with [Target.ID].
	ListPrefix
	// LateID: the id arrives in the body; the protocol admits it with
	// [Principal.Admits] before storing anything.
	LateID
)

// Target is the blob id or listing prefix a request touches.
type Target struct {
	Kind TargetKind
	ID   string
}

// Check is one more action on one more target that a request performs:
// a move deletes its source and writes its destination.
type Check struct {
	Action Action
	Target Target
}

// Request is the facts of one request.
type Request struct {
	Principal Principal
	// Refused, when not nil, is why the presented credentials were
	// refused; Principal is then anonymous.
	Refused error
	Action  Action
	Target  Target
	// Also are the further actions the request performs, each decided
	// like Action and Target (scope, then confinement of a blob id).
	Also []Check
	// Client identifies the client's address for the rate limit of
	// requests without a principal.
	Client string
	// Now is the time of the request.
	Now time.Time
}

// Verdict is the outcome of a decision.
type Verdict uint8

// The verdicts.
const (
	// Allow: the request may proceed.
	Allow Verdict = iota
	// Limited: over the rate limit; retry after [Decision.RetryAfter].
	Limited
	// Unauthenticated: no credentials, or invalid ones.
	Unauthenticated
	// InvalidLink: a signed link that is expired, tampered with or used
	// for anything but reading its blob.
	InvalidLink
	// Forbidden: the principal lacks the action's scope.
	Forbidden
	// Absent: the target is outside the principal's confinement, and is
	// answered as if it did not exist.
	Absent
)

// Decision is the answer to a [Request].
type Decision struct {
	Verdict Verdict
	// Reason explains a refusal in words safe to show the client.
	Reason string
	// Challenge is the RFC 6750 error of an [Unauthenticated] refusal's
	// challenge ("invalid_token", "invalid_request"), or "".
	Challenge string
	// RetryAfter is how long a [Limited] client should wait.
	RetryAfter time.Duration
	// ListPrefix is the prefix an allowed listing uses: the longer of the
	// asked prefix and the principal's when one starts with the other (a
	// key confined to "team/a/" listing "team/" lists "team/a/").
	ListPrefix string
	// ListNothing is set when the listing asked for shares no id with the
	// principal's prefix: the page is empty.
	ListNothing bool
}

// Config configures a [Controller].
type Config struct {
	// Token is the operator's API_TOKEN.
	Token string
	// Keys, when not nil, authenticates API keys.
	Keys *keys.Keyring
	// Links, when not nil, verifies signed links.
	Links *links.Signer
	// Allow, when not nil, takes one request of key from the rate limit,
	// or reports how long until one is allowed.
	Allow func(key string) (retryAfter time.Duration, ok bool)
}

// Controller extracts principals and decides requests. It is safe for
// concurrent use.
type Controller struct {
	cfg      Config
	tokenSum [sha256.Size]byte
}

// New returns a Controller configured by c.
func New(c Config) *Controller {
	return &Controller{cfg: c, tokenSum: sha256.Sum256([]byte(c.Token))}
}

// Decide decides r. It reads nothing but r and the rate limit.
func (c *Controller) Decide(r Request) Decision {
	if c.cfg.Allow != nil {
		key := "addr:" + r.Client
		if p := r.Principal; (p.Kind == Key || p.Kind == Operator) && r.Refused == nil {
			key = "key:" + p.KeyID
		}
		if wait, ok := c.cfg.Allow(key); !ok {
			return Decision{Verdict: Limited, RetryAfter: wait, Reason: "too many requests; retry after the time Retry-After gives"}
		}
	}
	p := r.Principal
	switch {
	case r.Refused != nil && errors.Is(r.Refused, links.ErrInvalid):
		return Decision{Verdict: InvalidLink, Reason: "the signed link is expired or invalid"}
	case r.Refused != nil:
		d := Decision{Verdict: Unauthenticated, Reason: "the credentials are not valid", Challenge: "invalid_token"}
		var ce *CredentialError
		if errors.As(r.Refused, &ce) {
			d.Reason, d.Challenge = ce.Detail, ce.Challenge
		}
		return d
	case p.Kind == Anonymous:
		return Decision{Verdict: Unauthenticated, Reason: "the Authorization header is missing; send Authorization: Bearer <token>"}
	case !p.ExpiresAt.IsZero() && !r.Now.Before(p.ExpiresAt):
		if p.Kind == Link {
			return Decision{Verdict: InvalidLink, Reason: "the signed link is expired or invalid"}
		}
		return Decision{Verdict: Unauthenticated, Reason: "the bearer token is not valid", Challenge: "invalid_token"}
	case p.Kind == Link && (r.Action != Read || r.Target.Kind != BlobID || r.Target.ID != p.LinkID):
		return Decision{Verdict: InvalidLink, Reason: "a signed link serves GET and HEAD of its blob's bytes (alt=media) only"}
	case r.Action < Read || r.Action > Any:
		return Decision{Verdict: Forbidden, Reason: "the route declares no action this server decides"}
	case r.Action != Any && !p.Scopes.Has(r.Action.scope()):
		return Decision{Verdict: Forbidden, Reason: "the key lacks the " + r.Action.scope().String() + " scope this request needs"}
	}
	for _, c := range r.Also {
		if c.Action < Read || c.Action > Admin {
			return Decision{Verdict: Forbidden, Reason: "the route declares no action this server decides"}
		}
		if !p.Scopes.Has(c.Action.scope()) {
			return Decision{Verdict: Forbidden, Reason: "the key lacks the " + c.Action.scope().String() + " scope this request needs"}
		}
	}
	for _, c := range r.Also {
		if c.Target.Kind == BlobID && !p.Admits(c.Target.ID) {
			return Decision{Verdict: Absent, Reason: "no blob has this id"}
		}
	}
	switch r.Target.Kind {
	case BlobID:
		if !p.Admits(r.Target.ID) {
			return Decision{Verdict: Absent, Reason: "no blob has this id"}
		}
	case ListPrefix:
		switch asked := r.Target.ID; {
		case strings.HasPrefix(asked, p.Prefix):
			return Decision{ListPrefix: asked}
		case strings.HasPrefix(p.Prefix, asked):
			return Decision{ListPrefix: p.Prefix}
		}
		return Decision{ListNothing: true}
	}
	return Decision{}
}

// CredentialError is why presented credentials do not authenticate.
type CredentialError struct {
	// Challenge is the RFC 6750 error of the WWW-Authenticate challenge:
	// "invalid_token", "invalid_request", or "" when none was presented.
	Challenge string
	// Detail explains it to the client.
	Detail string
}

func (e *CredentialError) Error() string { return "access: " + e.Detail }

// Bearer returns the principal of a request's Authorization header values
// (RFC 6750): the operator for API_TOKEN, compared in constant time, or an
// API key's. Credentials that do not authenticate give a
// *[CredentialError]; a key store that cannot be asked, an error wrapping
// [keys.ErrUnavailable] or the store's.
func (c *Controller) Bearer(ctx context.Context, values []string) (Principal, error) {
	if len(values) == 0 {
		return Principal{}, &CredentialError{Detail: "the Authorization header is missing; send Authorization: Bearer <token>"}
	}
	if len(values) > 1 {
		return Principal{}, &CredentialError{Challenge: "invalid_request", Detail: "send exactly one Authorization header"}
	}
	// RFC 6750 section 2.1: the scheme, then one or more spaces.
	scheme, token, _ := strings.Cut(values[0], " ")
	token = strings.TrimLeft(token, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return Principal{}, &CredentialError{Detail: "use the Bearer authentication scheme"}
	}
	if token == "" {
		return Principal{}, &CredentialError{Challenge: "invalid_request", Detail: "the bearer token is empty"}
	}
	// Comparing fixed-length digests keeps the comparison's time
	// independent of the token, its length included.
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], c.tokenSum[:]) == 1 {
		return OperatorPrincipal, nil
	}
	invalid := &CredentialError{Challenge: "invalid_token", Detail: "the bearer token is not valid"}
	if c.cfg.Keys == nil || !keys.IsToken(token) {
		return Principal{}, invalid
	}
	k, err := c.cfg.Keys.Authenticate(ctx, token)
	switch {
	case err == nil:
		return Principal{Kind: Key, KeyID: k.KeyID, Scopes: k.Scopes, Prefix: k.Prefix, ExpiresAt: k.ExpiresAt}, nil
	case errors.Is(err, keys.ErrInvalidToken):
		return Principal{}, invalid
	}
	return Principal{}, err
}

// Link returns the principal of a signed link to the blob id in the query
// q of a request of method, verified by its HMAC and expiry without any
// lookup; an invalid link gives an error wrapping [links.ErrInvalid].
func (c *Controller) Link(method, id string, q url.Values, now time.Time) (Principal, error) {
	if c.cfg.Links == nil {
		return Principal{}, fmt.Errorf("%w: signed links are not configured", links.ErrInvalid)
	}
	l, err := c.cfg.Links.Verify(method, id, q, now)
	if err != nil {
		return Principal{}, err
	}
	return Principal{Kind: Link, KeyID: LinkKeyID, Scopes: keys.Read, LinkID: id, LinkVersion: l.Version, ExpiresAt: l.Expires}, nil
}

// S3Key returns the principal of the API key whose S3 access key id is id
// and its S3 secret access key, with which the S3 front door verifies a
// request's signature before asking [Controller.Decide]. A key unknown,
// without S3 credentials, revoked or expired gives an error wrapping
// [keys.ErrInvalidToken]; a key store that cannot be asked, one wrapping
// [keys.ErrUnavailable] or the store's.
func (c *Controller) S3Key(ctx context.Context, id string) (Principal, string, error) {
	if c.cfg.Keys == nil {
		return Principal{}, "", keys.ErrInvalidToken
	}
	k, secret, err := c.cfg.Keys.S3Secret(ctx, id)
	if err != nil {
		return Principal{}, "", err
	}
	return Principal{Kind: Key, KeyID: k.KeyID, Scopes: k.Scopes, Prefix: k.Prefix, ExpiresAt: k.ExpiresAt}, secret, nil
}
