package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/httpx"
	"github.com/simpledrive/simpledrive/internal/httpx/connlimit"
	"github.com/simpledrive/simpledrive/internal/links"
)

// A route is one row of the route table: a path pattern, the methods it
// answers, each with the action it performs and where the id it touches
// comes from, and its handler. The table is the one place where access is
// decided: [API.authorize] extracts the request's facts as its row says
// and asks package access, on the request's headers alone, before any
// handler runs and so before any body byte is read. Handlers never test
// scopes or prefixes.
type route struct {
	// pattern names the route in logs and metrics; one ending in "{...}"
	// matches every path below prefix.
	pattern string
	prefix  string
	methods []method
	// links: a GET or HEAD carrying a signed link's parameters is
	// authenticated by the link instead of a bearer token.
	links bool
	// overridable: a POST's X-HTTP-Method-Override names the method (tus
	// clients behind proxies that drop PATCH), before anything is decided.
	overridable bool
	// header, when not nil, returns what is set on every response of the
	// route, refusals included.
	header func(a *API) http.Header
	// serve handles an authorized request; rest is the escaped path after
	// prefix.
	serve func(a *API, w http.ResponseWriter, r *http.Request, rest string)
}

// method is a method a route answers, the action it performs and where
// the blob id or listing prefix it touches comes from.
type method struct {
	name   string
	action access.Action
	target *targetSource
}

// targetSource is where a method finds what it touches.
type targetSource struct {
	name string
	// extract returns the target of r; an error is answered once r is
	// authorized.
	extract func(a *API, r *http.Request, rest string) (access.Target, error)
	// absent is the problem code of a target outside the principal's
	// confinement, answered 404 as if absent.
	absent string
	// also, when not nil, returns the further actions r performs besides
	// the method's on target, decided with it: a move's delete of its
	// source and write of its destination. It reads the query and
	// headers alone.
	also func(r *http.Request, target access.Target) []access.Check
}

// The target sources of the route table.
var (
	// noTarget: the request touches no blob (public routes, key
	// management, tus collections).
	noTarget = &targetSource{name: "none", extract: func(*API, *http.Request, string) (access.Target, error) {
		return access.Target{}, nil
	}}
	// fromPath: the blob id is the rest of the path, percent-decoded.
	fromPath = &targetSource{name: "path", absent: httpx.CodeBlobNotFound, extract: func(_ *API, _ *http.Request, rest string) (access.Target, error) {
		id, err := url.PathUnescape(rest)
		if err != nil {
			return access.Target{}, errBadPathEscape
		}
		return access.Target{Kind: access.BlobID, ID: id}, nil
	}}
	// fromQuery: a listing of the ids under the query's prefix.
	fromQuery = &targetSource{name: "query", extract: func(_ *API, r *http.Request, _ string) (access.Target, error) {
		return access.Target{Kind: access.ListPrefix, ID: r.URL.Query().Get("prefix")}, nil
	}}
	// fromBody: the id arrives in the body; the handler admits it with
	// [API.admit] before storing or revealing anything.
	fromBody = &targetSource{name: "body", absent: httpx.CodeBlobNotFound, extract: func(*API, *http.Request, string) (access.Target, error) {
		return access.Target{Kind: access.LateID}, nil
	}}
	// fromUploadMetadata: a tus creation's blob id, from Upload-Metadata.
	fromUploadMetadata = &targetSource{name: "tus metadata", absent: httpx.CodeBlobNotFound, extract: func(a *API, r *http.Request, _ string) (access.Target, error) {
		if a.cfg.Tus == nil {
			return access.Target{}, nil // the handler answers 404
		}
		return a.cfg.Tus.CreationTarget(r), nil
	}}
	// fromUpload: the blob id a tus upload recorded at its creation.
	fromUpload = &targetSource{name: "tus upload", absent: codeUploadNotFound, extract: func(a *API, r *http.Request, rest string) (access.Target, error) {
		if a.cfg.Tus == nil {
			return access.Target{}, nil // the handler answers 404
		}
		return a.cfg.Tus.UploadTarget(r.Context(), rest)
	}}
)

// The target sources of the everyday operations (everyday.go): the id in
// the path, plus what the query or headers add.
var (
	// fromPathReplacing: a PUT with If-Match deletes the blob it replaces.
	fromPathReplacing = &targetSource{name: "path (If-Match: and delete)", absent: httpx.CodeBlobNotFound, extract: fromPath.extract, also: replaceChecks}
	// fromPathTransferring: a move or copy writes the destination named
	// in its query, and a move deletes its source.
	fromPathTransferring = &targetSource{name: "path (and move_to or copy_to in the query)", absent: httpx.CodeBlobNotFound, extract: fromPath.extract, also: transferChecks}
)

// errBadPathEscape is an id in a path that is not validly percent-encoded.
var errBadPathEscape = errors.New("httpapi: the id in the path is not validly percent-encoded")

// Shorthands of the route table.
var (
	get, head, post = http.MethodGet, http.MethodHead, http.MethodPost
	put, del, patch = http.MethodPut, http.MethodDelete, http.MethodPatch
	options         = http.MethodOptions
)

// public is the methods of a route served without credentials.
func public(names ...string) []method {
	ms := make([]method, len(names))
	for i, n := range names {
		ms[i] = method{n, access.Public, noTarget}
	}
	return ms
}

// routes is the route table. DESIGN section 8: read (GET, HEAD, links),
// list, write (create by POST, PUT or tus), delete, admin (keys).
var routes = newRoutes(
	&route{pattern: "/healthz", methods: public(get, head), serve: (*API).health},
	&route{pattern: "/readyz", methods: public(get, head), serve: (*API).ready},
	&route{pattern: "/metrics", methods: public(get, head), serve: (*API).metrics},
	&route{pattern: openapiPath, methods: public(get, head), serve: (*API).openapi},
	&route{pattern: blobsPath, methods: []method{
		{get, access.List, fromQuery}, {head, access.List, fromQuery}, {post, access.Write, fromBody},
	}, serve: (*API).blobs},
	&route{pattern: blobPrefix + "{id}", prefix: blobPrefix, links: true, methods: []method{
		{get, access.Read, fromPath}, {head, access.Read, fromPath}, {put, access.Write, fromPathReplacing}, {del, access.Delete, fromPath},
		{post, access.Read, fromPathTransferring},
	}, serve: (*API).blobItem},
	&route{pattern: usagePath, methods: []method{{get, access.List, fromQuery}, {head, access.List, fromQuery}}, serve: (*API).usage},
	&route{pattern: linksPath, methods: []method{{post, access.Read, fromBody}}, serve: (*API).links},
	&route{pattern: uploadsPrefix + "{upload}", prefix: uploadsPrefix, overridable: true, header: (*API).tusHeader, methods: []method{
		{post, access.Write, fromUploadMetadata}, {head, access.Write, fromUpload}, {patch, access.Write, fromUpload},
		{del, access.Write, fromUpload}, {options, access.Write, noTarget},
	}, serve: (*API).tus},
	&route{pattern: keysPath, methods: []method{{get, access.Admin, noTarget}, {post, access.Admin, noTarget}}, serve: (*API).keysCollection},
	&route{pattern: keyPrefix + "{key_id}", prefix: keyPrefix, methods: []method{
		{get, access.Admin, noTarget}, {del, access.Admin, noTarget},
	}, serve: (*API).keyItem},
)

// newRoutes returns the route table rs, panicking unless every method of
// every route declares its action and where its target comes from, and
// every route has a handler: a route cannot be registered without them.
func newRoutes(rs ...*route) []*route {
	for _, rt := range rs {
		if rt.serve == nil || len(rt.methods) == 0 {
			panic(fmt.Sprintf("httpapi: route %s has no handler or no methods", rt.pattern))
		}
		for _, m := range rt.methods {
			if m.name == "" || m.action == 0 || m.target == nil || m.target.extract == nil {
				panic(fmt.Sprintf("httpapi: route %s %q does not declare its action and where its id comes from", rt.pattern, m.name))
			}
			if (m.action == access.Public) != (rt.methods[0].action == access.Public) {
				panic(fmt.Sprintf("httpapi: route %s mixes public and decided methods", rt.pattern))
			}
		}
	}
	return rs
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

// method returns rt's row for the request method name.
func (rt *route) method(name string) (method, bool) {
	for _, m := range rt.methods {
		if m.name == name {
			return m, true
		}
	}
	return method{}, false
}

// public reports whether rt is served without credentials.
func (rt *route) public() bool { return len(rt.methods) > 0 && rt.methods[0].action == access.Public }

// allowHeader is the Allow header of rt.
func (rt *route) allowHeader() string {
	names := make([]string, len(rt.methods))
	for i, m := range rt.methods {
		names[i] = m.name
	}
	return strings.Join(names, ", ")
}

// grant is what an authorized request may do: its principal and the
// decision, kept in the request's context for the handler.
type grant struct {
	principal access.Principal
	decision  access.Decision
	target    access.Target
}

type grantKey struct{}

// grantFrom returns the grant of an authorized request.
func grantFrom(r *http.Request) grant {
	g, _ := r.Context().Value(grantKey{}).(grant)
	return g
}

// admit reports whether the request's principal may touch the blob id
// that arrived in the body of a route declaring fromBody; when not, it
// answers 404 blob_not_found, as for an absent blob.
func admit(w http.ResponseWriter, r *http.Request, id string) bool {
	if grantFrom(r).principal.Admits(id) {
		return true
	}
	httpx.WriteProblem(w, http.StatusNotFound, httpx.CodeBlobNotFound, "no blob has this id")
	return false
}

// authorize decides whether r may use rt, on its headers alone: it
// extracts the principal (a signed link on routes that take them, else
// the bearer token), the action of the method's row and its target, and
// asks [access.Controller.Decide]. It answers the request itself (401, 403,
// 404, 405, 429, 503) and returns false when r may not go on; otherwise it
// returns r with its grant in the context.
func (a *API) authorize(w *recorder, r *http.Request, rt *route, rest string) (*http.Request, bool) {
	now := time.Now()
	m, known := rt.method(r.Method)
	req := access.Request{Action: access.Any, Client: access.ClientKey(r.RemoteAddr), Now: now}
	if known {
		req.Action = m.action
	}
	var extractErr error
	extracted := false
	if q := query(r); rt.links && links.Present(q) {
		// A link is checked from the request alone, before any lookup.
		req.Target, extractErr = fromPath.extract(a, r, rest)
		extracted = true
		switch {
		case extractErr != nil:
			req.Refused = fmt.Errorf("%w: the id is not validly percent-encoded", links.ErrInvalid)
		case q.Get("alt") != "media":
			req.Refused = fmt.Errorf("%w: a signed link serves the blob's bytes (alt=media) only", links.ErrInvalid)
		default:
			req.Principal, req.Refused = a.access.Link(r.Method, req.Target.ID, q, now)
		}
	} else {
		req.Principal, req.Refused = a.access.Bearer(r.Context(), r.Header.Values("Authorization"))
		var credErr *access.CredentialError
		if req.Refused != nil && !errors.As(req.Refused, &credErr) {
			a.fail(w, r, req.Refused) // the key store cannot be asked: 503
			return nil, false
		}
	}
	// The target is extracted, which may look an upload up, only for a
	// principal that authenticated.
	if known && !extracted && req.Refused == nil {
		req.Target, extractErr = m.target.extract(a, r, rest)
	}
	if known && extractErr == nil && m.target.also != nil {
		req.Also = m.target.also(r, req.Target)
	}
	d := a.access.Decide(req)
	if d.Verdict == access.Allow {
		w.keyID = req.Principal.KeyID
		if k := req.Principal.Kind; k == access.Operator || k == access.Key {
			connlimit.Trust(r.Context())
		}
	}
	if !a.answer(w, r, d, req.Refused, m.target) {
		return nil, false
	}
	switch {
	case rt == unknownRoute:
		httpx.WriteProblem(w, http.StatusNotFound, httpx.CodeNotFound, "no such route")
		return nil, false
	case !known:
		w.Header().Set("Allow", rt.allowHeader())
		httpx.WriteProblem(w, http.StatusMethodNotAllowed, httpx.CodeMethodNotAllowed, r.Method+" is not allowed here")
		return nil, false
	case extractErr != nil:
		a.failTarget(w, r, extractErr)
		return nil, false
	case req.Principal.Kind == access.Link && !a.linkedVersion(r, req.Principal):
		httpx.WriteProblem(w, http.StatusForbidden, httpx.CodeInvalidSignature, "the signed link is expired or invalid")
		return nil, false
	}
	g := grant{principal: req.Principal, decision: d, target: req.Target}
	ctx := access.NewContext(context.WithValue(r.Context(), grantKey{}, g), req.Principal)
	return r.WithContext(ctx), true
}

// answer writes the response of a refusal d and returns false, or returns
// true when d allows the request.
func (a *API) answer(w http.ResponseWriter, r *http.Request, d access.Decision, refused error, src *targetSource) bool {
	switch d.Verdict {
	case access.Allow:
		return true
	case access.Limited:
		if a.cfg.Metrics != nil {
			a.cfg.Metrics.RateLimited()
		}
		w.Header().Set("Retry-After", strconv.Itoa(access.RetryAfterSeconds(d.RetryAfter)))
		httpx.WriteProblem(w, http.StatusTooManyRequests, httpx.CodeRateLimited, d.Reason)
	case access.Unauthenticated:
		challenge := `Bearer realm="simpledrive"`
		if d.Challenge != "" {
			challenge += `, error="` + d.Challenge + `"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		httpx.WriteProblem(w, http.StatusUnauthorized, httpx.CodeUnauthorized, d.Reason)
	case access.InvalidLink:
		if refused != nil {
			a.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "signed link refused", slog.String("error", refused.Error()))
		}
		httpx.WriteProblem(w, http.StatusForbidden, httpx.CodeInvalidSignature, d.Reason)
	case access.Forbidden:
		httpx.WriteProblem(w, http.StatusForbidden, httpx.CodeForbidden, d.Reason)
	case access.Absent:
		code := httpx.CodeBlobNotFound
		if src != nil && src.absent != "" {
			code = src.absent
		}
		httpx.WriteProblem(w, http.StatusNotFound, code, absentDetail[code])
	}
	return false
}

// codeUploadNotFound is the code of an upload that does not exist, which
// the tus protocol answers too.
const codeUploadNotFound = "upload_not_found"

// absentDetail is the detail of a 404 answered for a target outside the
// principal's confinement: the same as for a target that does not exist.
var absentDetail = map[string]string{
	httpx.CodeBlobNotFound: "no blob has this id",
	codeUploadNotFound:     "no upload has this id",
}

// failTarget answers a target that could not be extracted.
func (a *API) failTarget(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errBadPathEscape):
		httpx.WriteProblem(w, http.StatusBadRequest, httpx.CodeInvalidID, "the id in the path is not validly percent-encoded")
	case a.cfg.Tus != nil:
		a.cfg.Tus.Fail(w, r, err) // fromUpload's lookup
	default:
		a.fail(w, r, err)
	}
}

// tus serves the tus routes through the mounted protocol.
func (a *API) tus(w http.ResponseWriter, r *http.Request, rest string) {
	if a.cfg.Tus == nil {
		httpx.WriteProblem(w, http.StatusNotFound, httpx.CodeNotFound, "resumable uploads are not configured")
		return
	}
	a.cfg.Tus.Serve(w, r, rest)
}

// tusHeader is the header of every response of the tus routes.
func (a *API) tusHeader() http.Header {
	if a.cfg.Tus == nil {
		return nil
	}
	return a.cfg.Tus.Header()
}

// linkedVersion reports whether the blob a link's principal reads is the
// version the link was made for: a blob deleted and created again is not
// reachable through an old link. It runs after the link's HMAC and expiry
// were checked, so only a valid link costs this lookup.
func (a *API) linkedVersion(r *http.Request, p access.Principal) bool {
	b, err := a.svc.Stat(r.Context(), p.LinkID)
	return err == nil && links.Version(b.CreatedAt) == p.LinkVersion
}
