package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/keys"
)

// A route is one row of the route table: a path pattern, the methods it
// answers with the scope each needs, and its handler. The table is the one
// place where authorization is decided: [API.authorize] runs on the
// request's headers alone, before any handler and so before any body byte
// is read.
type route struct {
	// pattern names the route in logs and metrics; one ending in "{...}"
	// matches every path below prefix.
	pattern string
	prefix  string
	// public routes need no token and are not rate limited.
	public  bool
	methods []methodScope
	// serve handles an authorized request; rest is the escaped path after
	// prefix. nil means the route is reserved but not served by this build
	// (404 once authorized).
	serve func(a *API, w http.ResponseWriter, r *http.Request, rest string)
}

// methodScope is a method a route answers and the scope it needs.
type methodScope struct {
	method string
	scope  keys.Scope
}

// Shorthands of the route table.
var (
	get, head, post = http.MethodGet, http.MethodHead, http.MethodPost
	put, del, patch = http.MethodPut, http.MethodDelete, http.MethodPatch
	options         = http.MethodOptions
)

// routes is the route table. DESIGN section 8: read (GET, HEAD, list,
// links), write (create by POST, PUT or tus), delete, admin (keys).
var routes = []*route{
	{pattern: "/healthz", public: true, methods: []methodScope{{get, 0}, {head, 0}}, serve: (*API).health},
	{pattern: "/readyz", public: true, methods: []methodScope{{get, 0}, {head, 0}}, serve: (*API).ready},
	{pattern: "/metrics", public: true, methods: []methodScope{{get, 0}, {head, 0}}, serve: (*API).metrics},
	{pattern: openapiPath, public: true, methods: []methodScope{{get, 0}, {head, 0}}, serve: (*API).openapi},
	{pattern: blobsPath, methods: []methodScope{{get, keys.Read}, {head, keys.Read}, {post, keys.Write}}, serve: (*API).blobs},
	{pattern: blobPrefix + "{id}", prefix: blobPrefix,
		methods: []methodScope{{get, keys.Read}, {head, keys.Read}, {put, keys.Write}, {del, keys.Delete}}, serve: (*API).blobItem},
	{pattern: linksPath, methods: []methodScope{{post, keys.Read}}, serve: (*API).links},
	{pattern: uploadsPrefix + "{upload}", prefix: uploadsPrefix,
		methods: []methodScope{{post, keys.Write}, {head, keys.Write}, {patch, keys.Write}, {del, keys.Write}, {options, keys.Write}},
		serve:   (*API).uploadsRoute},
	{pattern: keysPath, methods: []methodScope{{get, keys.Admin}, {post, keys.Admin}}, serve: (*API).keysCollection},
	{pattern: keyPrefix + "{key_id}", prefix: keyPrefix, methods: []methodScope{{get, keys.Admin}, {del, keys.Admin}}, serve: (*API).keyItem},
}

// unknownRoute answers every /v1/ path no route matches: 404 to any
// authenticated request.
var unknownRoute = &route{pattern: "unknown"}

// match returns the route of the escaped path and the rest of the path
// after its prefix, or nil.
func match(path string) (*route, string) {
	for _, rt := range routes {
		if rt.prefix == "" && path == rt.pattern {
			return rt, ""
		}
		if rt.prefix != "" && strings.HasPrefix(path, rt.prefix) {
			return rt, path[len(rt.prefix):]
		}
	}
	if path+"/" == uploadsPrefix { // tus creation may be sent without the slash
		return match(uploadsPrefix)
	}
	return nil, ""
}

// scopeOf returns the scope the method needs on rt, and whether rt answers
// it at all.
func (rt *route) scopeOf(method string) (keys.Scope, bool) {
	for _, m := range rt.methods {
		if m.method == method {
			return m.scope, true
		}
	}
	return 0, false
}

// allowHeader is the Allow header of rt.
func (rt *route) allowHeader() string {
	names := make([]string, len(rt.methods))
	for i, m := range rt.methods {
		names[i] = m.method
	}
	return strings.Join(names, ", ")
}

// linkKeyID is the key id logged for requests let through by a signed link.
const linkKeyID = "signed-link"

// principalKey is the context key of the request's [keys.Principal].
type principalKey struct{}

// PrincipalFrom returns the principal an authorized request acts for: the
// key's id, scopes and prefix. Handlers that learn a blob id from the body
// (a JSON create, a tus upload's metadata) must check it with
// [keys.Principal.Permits] before storing anything, answering 404 as if
// absent when it is outside the key's prefix.
func PrincipalFrom(ctx context.Context) (keys.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(keys.Principal)
	return p, ok
}

// permits reports whether the request's principal may see and touch the
// blob id; when not, it answers 404 blob_not_found, as for an absent blob.
func permits(w http.ResponseWriter, r *http.Request, id string) bool {
	if p, ok := PrincipalFrom(r.Context()); !ok || p.Permits(id) {
		return true
	}
	writeProblem(w, http.StatusNotFound, codeBlobNotFound, "no blob has this id")
	return false
}

// authorize decides whether r may use rt, on its headers alone: the
// signed-link hook, then the bearer token (API_TOKEN or an API key), the
// rate limit, the method and the scope. It answers the request itself
// (401, 403, 405, 429, 503) and returns false when r may not go on;
// otherwise it returns r with its principal in the context.
func (a *API) authorize(w *recorder, r *http.Request, rt *route, rest string) (*http.Request, bool) {
	p, ok := a.linkPrincipal(w, r, rt, rest)
	if !ok {
		return nil, false
	}
	var failure *authFailure
	if p.KeyID == "" {
		p, failure = a.authenticate(r)
		if failure != nil && failure.unavailable != nil {
			a.fail(w, r, failure.unavailable)
			return nil, false
		}
	}
	// Requests without a valid key are limited by client address, so
	// guessing tokens is limited too.
	limitKey := "key:" + p.KeyID
	if p.KeyID == "" || p.KeyID == linkKeyID {
		limitKey = "addr:" + access.ClientKey(r.RemoteAddr)
	}
	if !a.rateLimit(w, limitKey) {
		return nil, false
	}
	if failure != nil {
		a.challenge(w, failure.errCode, failure.detail)
		return nil, false
	}
	w.keyID = p.KeyID
	if rt == unknownRoute {
		writeProblem(w, http.StatusNotFound, codeNotFound, "no such route")
		return nil, false
	}
	need, ok := rt.scopeOf(r.Method)
	if !ok {
		w.Header().Set("Allow", rt.allowHeader())
		writeProblem(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, r.Method+" is not allowed here")
		return nil, false
	}
	if !p.Scopes.Has(need) {
		writeProblem(w, http.StatusForbidden, codeForbidden, "the key lacks the "+need.String()+" scope this request needs")
		return nil, false
	}
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p)), true
}

// linkPrincipal returns the principal of a valid signed link, or the zero
// principal when r carries none. It answers 403 and returns false for an
// invalid link.
func (a *API) linkPrincipal(w http.ResponseWriter, r *http.Request, rt *route, rest string) (keys.Principal, bool) {
	if a.cfg.Links == nil || rt.prefix != blobPrefix {
		return keys.Principal{}, true
	}
	id, err := url.PathUnescape(rest)
	if err != nil {
		return keys.Principal{}, true // the handler answers 400
	}
	ok, err := a.allowLink(r, id)
	if err != nil {
		a.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "signed link refused", slog.String("error", err.Error()))
		writeProblem(w, http.StatusForbidden, codeInvalidSignature, "the signed link is expired or invalid")
		return keys.Principal{}, false
	}
	if ok {
		return keys.Principal{KeyID: linkKeyID, Scopes: keys.Read, Prefix: id}, true
	}
	return keys.Principal{}, true
}

// authFailure is why a request has no principal: a 401 to answer, or a key
// store that could not be asked (503).
type authFailure struct {
	errCode, detail string
	unavailable     error
}

// authenticate returns the principal of r's bearer token (RFC 6750): the
// operator for API_TOKEN, compared in constant time, or an API key's.
func (a *API) authenticate(r *http.Request) (keys.Principal, *authFailure) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return keys.Principal{}, &authFailure{detail: "the Authorization header is missing; send Authorization: Bearer <token>"}
	}
	if len(values) > 1 {
		return keys.Principal{}, &authFailure{errCode: "invalid_request", detail: "send exactly one Authorization header"}
	}
	// RFC 6750 section 2.1: the scheme, then one or more spaces.
	scheme, token, _ := strings.Cut(values[0], " ")
	token = strings.TrimLeft(token, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return keys.Principal{}, &authFailure{detail: "use the Bearer authentication scheme"}
	}
	if token == "" {
		return keys.Principal{}, &authFailure{errCode: "invalid_request", detail: "the bearer token is empty"}
	}
	// Comparing fixed-length digests keeps the comparison's time
	// independent of the token, its length included.
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) == 1 {
		return keys.Operator, nil
	}
	invalid := &authFailure{errCode: "invalid_token", detail: "the bearer token is not valid"}
	if a.cfg.Keys == nil || !keys.IsToken(token) {
		return keys.Principal{}, invalid
	}
	p, err := a.cfg.Keys.Authenticate(r.Context(), token)
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, keys.ErrInvalidToken):
		return keys.Principal{}, invalid
	}
	return keys.Principal{}, &authFailure{unavailable: err}
}

// challenge answers 401 with a WWW-Authenticate challenge, with
// error="invalid_token" when a bearer token was sent but is wrong and
// error="invalid_request" when the header is malformed.
func (a *API) challenge(w http.ResponseWriter, errCode, detail string) {
	challenge := `Bearer realm="simpledrive"`
	if errCode != "" {
		challenge += `, error="` + errCode + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeProblem(w, http.StatusUnauthorized, codeUnauthorized, detail)
}

// rateLimit answers 429 with Retry-After and returns false when the
// limiter of key has no token for the request.
func (a *API) rateLimit(w http.ResponseWriter, key string) bool {
	wait, ok := a.limiter.Allow(key)
	if ok {
		return true
	}
	if a.cfg.Metrics != nil {
		a.cfg.Metrics.RateLimited()
	}
	w.Header().Set("Retry-After", strconv.Itoa(access.RetryAfterSeconds(wait)))
	writeProblem(w, http.StatusTooManyRequests, codeRateLimited, "too many requests; retry after the time Retry-After gives")
	return false
}
