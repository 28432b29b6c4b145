package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"io"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/httpapi"
)

// The OpenAPI document (openapi.json) is kept true by three checks against
// the server: its routes and methods both ways (against the route table,
// httpapi.OpenAPIRoutes, and probes of the running server), its problem
// codes both ways (the package's code... constants, read with go/parser),
// and real requests through the real stack validated with kin-openapi,
// requests and responses alike.

// loadOpenAPI loads and validates the document as the server serves it.
func loadOpenAPI(t *testing.T, h *harness) (*openapi3.T, []byte) {
	t.Helper()
	r := h.request(http.MethodGet, "/openapi.json", nil, map[string]string{"Authorization": ""})
	expectStatus(t, r, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q; want application/json", ct)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(r.body)
	if err != nil {
		t.Fatalf("loading the document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi = %q; want 3.1", doc.OpenAPI)
	}
	return doc, r.body
}

// docPath matches an escaped request path against the document's path
// templates, returning the template and its parameters. A template
// parameter matches the rest of the path when it ends the template (a
// blob id holds slashes), one segment otherwise.
func docPath(doc *openapi3.T, escaped string) (string, map[string]string, bool) {
	for _, tmpl := range doc.Paths.InMatchingOrder() {
		params := map[string]string{}
		open := strings.IndexByte(tmpl, '{')
		if open < 0 {
			if tmpl == escaped {
				return tmpl, params, true
			}
			continue
		}
		end := strings.IndexByte(tmpl, '}')
		if end != len(tmpl)-1 || !strings.HasPrefix(escaped, tmpl[:open]) || len(escaped) == open {
			continue
		}
		params[tmpl[open+1:end]] = escaped[open:]
		return tmpl, params, true
	}
	return "", nil, false
}

// concretePath turns a template into a path that exercises it.
func concretePath(tmpl string) string {
	if i := strings.IndexByte(tmpl, '{'); i >= 0 {
		return tmpl[:i] + "openapi-probe"
	}
	return tmpl
}

// routed reports whether the router served r: anything but its own 404
// not_found and 405.
func routed(r response) bool {
	if r.StatusCode == http.StatusMethodNotAllowed {
		return false
	}
	if r.StatusCode == http.StatusNotFound {
		var p struct{ Code string }
		json.Unmarshal(r.body, &p)
		return p.Code != "not_found"
	}
	return true
}

// packageFiles parses the non-test Go files of package httpapi, of the
// protocol it mounts (tusapi) and of the plumbing they share (httpx).
func packageFiles(t *testing.T, fset *gotoken.FileSet) []*ast.File {
	t.Helper()
	// The protocols this package serves and the plumbing they share.
	var names []string
	for _, pattern := range []string{"*.go", "../httpx/*.go", "../tusapi/*.go"} {
		matched, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, matched...)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// stringConsts returns the string constants a declaration defines.
func stringConsts(d *ast.GenDecl) map[string]string {
	out := map[string]string{}
	if d.Tok != gotoken.CONST {
		return out
	}
	for _, spec := range d.Specs {
		vs := spec.(*ast.ValueSpec)
		for i, name := range vs.Names {
			if i >= len(vs.Values) {
				continue
			}
			if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == gotoken.STRING {
				out[name.Name], _ = strconv.Unquote(lit.Value)
			}
		}
	}
	return out
}

// serverProblemCodes returns the values of the package's problem code
// constants (named code...).
func serverProblemCodes(t *testing.T) map[string]string {
	t.Helper()
	codes := map[string]string{}
	for _, f := range packageFiles(t, gotoken.NewFileSet()) {
		for _, d := range f.Decls {
			if d, ok := d.(*ast.GenDecl); ok {
				for name, v := range stringConsts(d) {
					if strings.HasPrefix(name, "code") || strings.HasPrefix(name, "Code") {
						codes[v] = name
					}
				}
			}
		}
	}
	if len(codes) < 10 {
		t.Fatalf("found only %d problem codes: %v", len(codes), codes)
	}
	return codes
}

// documentCodes returns every problem code the document enumerates: the
// const or enum of each "code" property, with where it appears.
func documentCodes(raw []byte) map[string][]string {
	var tree any
	json.Unmarshal(raw, &tree)
	codes := map[string][]string{}
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch v := v.(type) {
		case map[string]any:
			if props, ok := v["properties"].(map[string]any); ok {
				if code, ok := props["code"].(map[string]any); ok {
					if c, ok := code["const"].(string); ok {
						codes[c] = append(codes[c], where)
					}
					if e, ok := code["enum"].([]any); ok {
						for _, c := range e {
							codes[c.(string)] = append(codes[c.(string)], where)
						}
					}
				}
			}
			for k, child := range v {
				walk(child, where+"/"+k)
			}
		case []any:
			for i, child := range v {
				walk(child, where+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(tree, "#")
	return codes
}

func TestOpenAPIDocument(t *testing.T) {
	h := startStack(t, stacks[0])
	doc, raw := loadOpenAPI(t, h)

	t.Run("served", func(t *testing.T) {
		r := h.request(http.MethodGet, "/openapi.json", nil, map[string]string{"Authorization": ""})
		etag := r.Header.Get("ETag")
		if etag == "" || r.Header.Get("Cache-Control") == "" {
			t.Fatalf("headers %v; want ETag and Cache-Control", r.Header)
		}
		if strings.Contains(string(raw), token) {
			t.Fatal("the document holds the API token")
		}
		// It is the same whatever the configuration: nothing of it leaks.
		other := startStack(t, stacks[0], func(c *config.Config) {
			c.APIToken, c.MaxBlobBytes, c.MaxUploadBytes, c.SigningKey = "tok-Zq81x", 1234567, 7654321, "key-Zq81x"
		})
		r2 := other.request(http.MethodGet, "/openapi.json", nil, map[string]string{"Authorization": ""})
		if !bytes.Equal(r2.body, raw) || r2.Header.Get("ETag") != etag {
			t.Fatal("the document differs between configurations")
		}
		for _, s := range []string{"1234567", "7654321", "Zq81x"} {
			if strings.Contains(string(raw), s) {
				t.Fatalf("the document holds the configured %q", s)
			}
		}
	})

	t.Run("routes", func(t *testing.T) {
		// (1) Every route and method of the route table is documented: the
		// document's paths under each route (a prefix route covers
		// several, as /v1/uploads/ does the collection and its uploads)
		// hold each of its methods, and a method a path of the document
		// lacks is one the server refuses there...
		table := httpapi.OpenAPIRoutes()
		under := map[string][]string{} // route pattern -> document paths
		for tmpl := range doc.Paths.Map() {
			p := concretePath(tmpl)
			rt := httpapi.OpenAPIMatch(p)
			if rt == "" {
				t.Errorf("the document has %s; no route of the server matches %s", tmpl, p)
				continue
			}
			under[rt] = append(under[rt], tmpl)
		}
		for _, rt := range table {
			if len(under[rt.Pattern]) == 0 {
				t.Errorf("the server routes %s (%v); the document has no path for it", rt.Pattern, rt.Methods)
				continue
			}
			for _, m := range rt.Methods {
				var found bool
				for _, tmpl := range under[rt.Pattern] {
					if doc.Paths.Value(tmpl).GetOperation(m) != nil {
						found = true
					} else if r := h.request(m, concretePath(tmpl), nil, nil); routed(r) {
						t.Errorf("the server serves %s %s (%d); the document has no %s %s", m, concretePath(tmpl), r.StatusCode, m, tmpl)
					}
				}
				if !found {
					t.Errorf("the server routes %s %s; the document has no %s under it", m, rt.Pattern, m)
				}
			}
		}
		// ...and every documented path and method is in the route table
		// and served: neither the router's 404 nor a 405.
		for tmpl, item := range doc.Paths.Map() {
			rt := httpapi.OpenAPIMatch(concretePath(tmpl))
			for m := range item.Operations() {
				i := slices.IndexFunc(table, func(r httpapi.OpenAPIRoute) bool { return r.Pattern == rt })
				if i < 0 || !slices.Contains(table[i].Methods, m) {
					t.Errorf("the document has %s %s; the route table has no %s on %q", m, tmpl, m, rt)
				}
				if r := h.request(m, concretePath(tmpl), nil, nil); !routed(r) {
					t.Errorf("the document has %s %s; the server answers %d %s", m, tmpl, r.StatusCode, truncate(r.body))
				}
			}
			// Public routes are the document's operations without security.
			for m, op := range item.Operations() {
				i := slices.IndexFunc(table, func(r httpapi.OpenAPIRoute) bool { return r.Pattern == rt })
				if i >= 0 && table[i].Public != (op.Security != nil && len(*op.Security) == 0) {
					t.Errorf("%s %s: public is %v in the route table; the document's security says otherwise", m, tmpl, table[i].Public)
				}
			}
		}
	})

	t.Run("codes", func(t *testing.T) {
		// (2) Every problem code of the package is in the document, and
		// every code in the document is one of the package's.
		server := serverProblemCodes(t)
		documented := documentCodes(raw)
		for code, name := range server {
			if len(documented[code]) == 0 {
				t.Errorf("problem code %s (%q) is not in the document", name, code)
			}
		}
		for code, where := range documented {
			if _, ok := server[code]; !ok {
				t.Errorf("the document names problem code %q (%s); the server has none such", code, where[0])
			}
		}
	})
}

// validator sends requests to a harness and validates each request and
// response against the document.
type validator struct {
	t        *testing.T
	h        *harness
	doc      *openapi3.T
	statuses map[int]bool
}

// exchange is one request of the suite.
type exchange struct {
	method, path string
	headers      map[string]string
	body         []byte
	// status is the status the server must answer; code its problem code
	// (not checked for HEAD, which has no body).
	status int
	code   string
	// invalid: the document itself says the request is wrong (a header,
	// parameter or body its schemas refuse), so request validation must
	// fail too.
	invalid bool
}

// bearerAuth is the document's one security scheme: a bearer token.
func bearerAuth(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "bearer" {
		return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
	}
	if scheme, tok, _ := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " "); !strings.EqualFold(scheme, "bearer") || tok == "" {
		return errors.New("no bearer token")
	}
	return nil
}

func (v *validator) do(x exchange) response {
	t := v.t
	t.Helper()
	headers := map[string]string{}
	if x.body == nil {
		headers["Content-Type"] = ""
	}
	for k, val := range x.headers {
		headers[k] = val
	}
	var body io.Reader
	if x.body != nil {
		body = bytes.NewReader(x.body)
	}
	r := v.h.request(x.method, x.path, body, headers)
	name := x.method + " " + x.path
	if r.StatusCode != x.status {
		t.Errorf("%s = %d %s; want %d", name, r.StatusCode, truncate(r.body), x.status)
		return r
	}
	v.statuses[r.StatusCode] = true
	if r.Header.Get("X-Request-Id") == "" {
		t.Errorf("%s: no X-Request-Id", name)
	}
	if x.code != "" && x.method != http.MethodHead {
		var p struct{ Code string }
		json.Unmarshal(r.body, &p)
		if p.Code != x.code {
			t.Errorf("%s: code %q; want %q", name, p.Code, x.code)
		}
	}

	// The request, rebuilt as sent.
	req := r.Request.Clone(context.Background())
	if x.body != nil {
		req.Body = io.NopCloser(bytes.NewReader(x.body))
	}
	tmpl, params, ok := docPath(v.doc, req.URL.EscapedPath())
	var op *openapi3.Operation
	var item *openapi3.PathItem
	if ok {
		item = v.doc.Paths.Value(tmpl)
		op = item.GetOperation(x.method)
	}
	if op == nil {
		// The router's own answers are the document's NotFound and
		// MethodNotAllowed responses.
		want := map[int]string{http.StatusNotFound: "NotFound", http.StatusMethodNotAllowed: "MethodNotAllowed"}[r.StatusCode]
		ref := v.doc.Components.Responses[want]
		if ref == nil {
			t.Errorf("%s: %d is not documented (no operation, and no router response for it)", name, r.StatusCode)
			return r
		}
		v.checkResponse(name, r, ref.Value, nil)
		return r
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      &routers.Route{Spec: v.doc, Path: tmpl, PathItem: item, Method: x.method, Operation: op},
		Options:    &openapi3filter.Options{AuthenticationFunc: bearerAuth, IncludeResponseStatus: true, MultiError: true},
	}
	err := openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case x.invalid && err == nil:
		t.Errorf("%s: the document accepts this request; the server refuses it with %d", name, r.StatusCode)
	case !x.invalid && err != nil:
		t.Errorf("%s: the request does not match the document: %v", name, err)
	}
	ref := op.Responses.Status(r.StatusCode)
	if ref == nil {
		t.Errorf("%s: status %d is not documented for %s %s", name, r.StatusCode, x.method, tmpl)
		return r
	}
	v.checkResponse(name, r, ref.Value, in)
	return r
}

// checkResponse validates r against the documented response: its headers
// and body with openapi3filter, which skips HEAD and 304 responses, so
// the required headers are also checked here for every response.
func (v *validator) checkResponse(name string, r response, doc *openapi3.Response, in *openapi3filter.RequestValidationInput) {
	t := v.t
	t.Helper()
	for hname, href := range doc.Headers {
		if href.Value.Required && r.Header.Get(hname) == "" {
			t.Errorf("%s: %d lacks the required header %s", name, r.StatusCode, hname)
		}
	}
	if len(doc.Content) == 0 && len(r.body) > 0 {
		t.Errorf("%s: %d has a body %q; the document describes none", name, r.StatusCode, truncate(r.body))
	}
	if in == nil {
		// A router response: validate its problem document by hand.
		mt := doc.Content.Get(r.Header.Get("Content-Type"))
		if mt == nil {
			t.Errorf("%s: Content-Type %q is not documented", name, r.Header.Get("Content-Type"))
			return
		}
		var value any
		if err := json.Unmarshal(r.body, &value); err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if err := mt.Schema.Value.VisitJSON(value, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s: the body does not match the document: %v", name, err)
		}
		return
	}
	if r.Request.Method == http.MethodHead || r.StatusCode == http.StatusNotModified {
		return
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 r.StatusCode,
		Header:                 r.Header,
		Body:                   io.NopCloser(bytes.NewReader(r.body)),
		Options:                in.Options,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s: the %d response does not match the document: %v", name, r.StatusCode, err)
	}
}

func TestOpenAPIRequests(t *testing.T) {
	h := startStack(t, stacks[0], func(c *config.Config) {
		c.MaxBlobBytes, c.MaxUploadBytes = 1<<10, 4<<10
	})
	doc, _ := loadOpenAPI(t, h)
	v := &validator{t: t, h: h, doc: doc, statuses: map[int]bool{}}
	noAuth := map[string]string{"Authorization": ""}
	tus := func(kv ...string) map[string]string {
		m := map[string]string{"Tus-Resumable": "1.0.0"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	digest := func(b []byte) string {
		sum := sha256.Sum256(b)
		return base64.StdEncoding.EncodeToString(sum[:])
	}

	// The document and the probes.
	r := v.do(exchange{method: "GET", path: "/openapi.json", headers: noAuth, status: 200})
	v.do(exchange{method: "GET", path: "/openapi.json", headers: map[string]string{"Authorization": "", "If-None-Match": r.Header.Get("ETag")}, status: 304})
	v.do(exchange{method: "HEAD", path: "/openapi.json", headers: noAuth, status: 200})
	v.do(exchange{method: "GET", path: "/healthz", headers: noAuth, status: 200})
	v.do(exchange{method: "HEAD", path: "/healthz", headers: noAuth, status: 200})

	// The router's own answers.
	v.do(exchange{method: "GET", path: "/nowhere", headers: noAuth, status: 404, code: "not_found"})
	v.do(exchange{method: "GET", path: "/v1/nowhere", status: 404, code: "not_found"})
	v.do(exchange{method: "POST", path: "/healthz", headers: noAuth, status: 405, code: "method_not_allowed"})
	v.do(exchange{method: "PATCH", path: "/v1/blobs", status: 405, code: "method_not_allowed"})

	// The seed's JSON create and read.
	const id = "docs/a b.txt"
	path := blobPath(id)
	json201 := v.do(exchange{method: "POST", path: "/v1/blobs", body: []byte(createBody(id, []byte("hello, world"))),
		headers: map[string]string{"Content-Type": "application/json"}, status: 201})
	etag := json201.Header.Get("ETag")
	jsonCT := map[string]string{"Content-Type": "application/json"}
	v.do(exchange{method: "POST", path: "/v1/blobs", body: []byte(createBody(id, []byte("again"))), headers: jsonCT, status: 409, code: "blob_exists"})
	v.do(exchange{method: "POST", path: "/v1/blobs", body: []byte(`{"id": "x", "data": 1}`), headers: jsonCT, status: 400, code: "invalid_request", invalid: true})
	v.do(exchange{method: "POST", path: "/v1/blobs", body: []byte(`{"id": "x", "data": "!!!!"}`), headers: jsonCT, status: 400, code: "invalid_base64"})
	v.do(exchange{method: "POST", path: "/v1/blobs", body: []byte(`{"id": "", "data": ""}`), headers: jsonCT, status: 400, code: "invalid_id", invalid: true})
	v.do(exchange{method: "POST", path: "/v1/blobs", body: []byte(createBody("big", make([]byte, 2<<10))), headers: jsonCT, status: 413, code: "too_large"})
	v.do(exchange{method: "POST", path: "/v1/blobs", body: []byte(createBody("x", nil)), headers: map[string]string{"Content-Type": "text/plain"}, status: 415, code: "unsupported_media_type", invalid: true})
	v.do(exchange{method: "POST", path: "/v1/blobs", body: []byte(createBody("x", nil)), headers: map[string]string{"Authorization": "", "Content-Type": "application/json"}, status: 401, code: "unauthorized", invalid: true})
	v.do(exchange{method: "POST", path: "/v1/blobs", body: []byte(createBody("x", nil)), headers: map[string]string{"Authorization": "Bearer wrong", "Content-Type": "application/json"}, status: 401, code: "unauthorized"})
	v.do(exchange{method: "GET", path: path, status: 200})
	v.do(exchange{method: "HEAD", path: path, status: 200})
	v.do(exchange{method: "GET", path: path, headers: map[string]string{"If-None-Match": etag}, status: 304})
	v.do(exchange{method: "GET", path: path + "?meta=1", status: 200})
	v.do(exchange{method: "GET", path: path + "?alt=bogus", status: 400, code: "invalid_request", invalid: true})
	v.do(exchange{method: "GET", path: blobPath("absent"), status: 404, code: "blob_not_found"})
	v.do(exchange{method: "GET", path: "/v1/blobs/a%01b", status: 400, code: "invalid_id"})

	// Raw bytes: PUT, media reads, ranges and conditions.
	const rawID = "raw/notes.txt"
	raw := []byte("0123456789abcdef")
	rawPath := blobPath(rawID)
	put := v.do(exchange{method: "PUT", path: rawPath, body: raw, headers: map[string]string{"Content-Type": "text/plain", "Content-Digest": "sha-256=:" + digest(raw) + ":"}, status: 201})
	rawTag := put.Header.Get("ETag")
	v.do(exchange{method: "PUT", path: rawPath, body: raw, headers: map[string]string{"Content-Type": "text/plain"}, status: 409, code: "blob_exists"})
	v.do(exchange{method: "PUT", path: blobPath("raw/bad-digest"), body: raw, headers: map[string]string{"Content-Type": "text/plain", "Content-Digest": "sha-256=:" + digest([]byte("other")) + ":"}, status: 400, code: "digest_mismatch"})
	v.do(exchange{method: "PUT", path: blobPath("raw/big"), body: make([]byte, 5<<10), headers: map[string]string{"Content-Type": "application/octet-stream"}, status: 413, code: "too_large"})
	media := rawPath + "?alt=media"
	v.do(exchange{method: "GET", path: media, status: 200})
	v.do(exchange{method: "HEAD", path: media, status: 200})
	if r := v.do(exchange{method: "GET", path: media + "&download=1", status: 200}); r.Header.Get("Content-Disposition") == "" {
		t.Error("download=1 without Content-Disposition")
	}
	v.do(exchange{method: "GET", path: media, headers: map[string]string{"Range": "bytes=2-5"}, status: 206})
	v.do(exchange{method: "GET", path: media, headers: map[string]string{"Range": "bytes=-3"}, status: 206})
	v.do(exchange{method: "HEAD", path: media, headers: map[string]string{"Range": "bytes=4-"}, status: 206})
	v.do(exchange{method: "GET", path: media, headers: map[string]string{"Range": "bytes=0-1,4-5"}, status: 200})
	v.do(exchange{method: "GET", path: media, headers: map[string]string{"Range": "bytes=100-"}, status: 416, code: "range_not_satisfiable"})
	v.do(exchange{method: "GET", path: media, headers: map[string]string{"If-None-Match": rawTag}, status: 304})
	v.do(exchange{method: "GET", path: media, headers: map[string]string{"If-Match": `"nope"`}, status: 412, code: "precondition_failed"})
	v.do(exchange{method: "GET", path: media, headers: map[string]string{"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}, status: 412, code: "precondition_failed"})
	v.do(exchange{method: "GET", path: rawPath + "?meta=1", status: 200})

	// Listing.
	list := v.do(exchange{method: "GET", path: "/v1/blobs?delimiter=/&limit=1", status: 200})
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	json.Unmarshal(list.body, &page)
	if page.NextCursor == "" {
		t.Fatal("a listing of one per page has no next_cursor")
	}
	v.do(exchange{method: "GET", path: "/v1/blobs?delimiter=/&limit=1&cursor=" + url.QueryEscape(page.NextCursor), status: 200})
	v.do(exchange{method: "GET", path: "/v1/blobs?prefix=raw/", status: 200})
	v.do(exchange{method: "HEAD", path: "/v1/blobs", status: 200})
	v.do(exchange{method: "GET", path: "/v1/blobs?limit=0", status: 400, code: "invalid_request", invalid: true})
	v.do(exchange{method: "GET", path: "/v1/blobs?cursor=%21%21", status: 400, code: "invalid_request"})

	// Replace, move, copy and usage (DESIGN section 12).
	ev := v.do(exchange{method: "PUT", path: blobPath("ev/a"), body: []byte("first"), headers: map[string]string{"Content-Type": "text/plain"}, status: 201})
	v.do(exchange{method: "PUT", path: blobPath("ev/a"), body: []byte("second"), headers: map[string]string{"Content-Type": "text/plain", "If-Match": ev.Header.Get("ETag")}, status: 201})
	v.do(exchange{method: "PUT", path: blobPath("ev/a"), body: []byte("third"), headers: map[string]string{"Content-Type": "text/plain", "If-Match": ev.Header.Get("ETag")}, status: 412, code: "precondition_failed"})
	v.do(exchange{method: "PUT", path: blobPath("ev/a"), body: []byte("third"), headers: map[string]string{"Content-Type": "text/plain", "If-None-Match": "*"}, status: 409, code: "blob_exists"})
	v.do(exchange{method: "POST", path: blobPath("ev/a") + "?copy_to=ev%2Fb", status: 201})
	v.do(exchange{method: "POST", path: blobPath("ev/a") + "?move_to=ev%2Fb", status: 409, code: "blob_exists"})
	v.do(exchange{method: "POST", path: blobPath("ev/a") + "?move_to=ev%2Fc", status: 201})
	v.do(exchange{method: "POST", path: blobPath("ev/a") + "?move_to=ev%2Fd", status: 404, code: "blob_not_found"})
	v.do(exchange{method: "POST", path: blobPath("ev/c"), status: 400, code: "invalid_request"})
	v.do(exchange{method: "GET", path: "/v1/usage", status: 200})
	v.do(exchange{method: "GET", path: "/v1/usage?prefix=ev/", status: 200})
	v.do(exchange{method: "HEAD", path: "/v1/usage", status: 200})

	// Signed links.
	link := v.do(exchange{method: "POST", path: "/v1/links", body: []byte(`{"id": "raw/notes.txt", "expires_in": 60}`), headers: jsonCT, status: 201})
	var l struct{ URL string }
	json.Unmarshal(link.body, &l)
	l.URL = strings.TrimPrefix(l.URL, v.h.url)
	v.do(exchange{method: "GET", path: l.URL, headers: noAuth, status: 200})
	v.do(exchange{method: "HEAD", path: l.URL, headers: noAuth, status: 200})
	v.do(exchange{method: "GET", path: l.URL + "0", headers: noAuth, status: 403, code: "invalid_signature"})
	v.do(exchange{method: "DELETE", path: l.URL, status: 403, code: "invalid_signature"})
	v.do(exchange{method: "POST", path: "/v1/links", body: []byte(`{"id": "absent"}`), headers: jsonCT, status: 404, code: "blob_not_found"})
	v.do(exchange{method: "POST", path: "/v1/links", body: []byte(`{"id": "raw/notes.txt", "expires_in": 0}`), headers: jsonCT, status: 400, code: "invalid_request", invalid: true})
	v.do(exchange{method: "POST", path: "/v1/links", body: []byte(`{"id": "raw/notes.txt"}`), headers: map[string]string{"Content-Type": "text/plain"}, status: 415, code: "unsupported_media_type", invalid: true})

	// Deletes.
	v.do(exchange{method: "DELETE", path: path, status: 204})
	v.do(exchange{method: "DELETE", path: path, status: 404, code: "blob_not_found"})

	// tus.
	v.do(exchange{method: "OPTIONS", path: "/v1/uploads", status: 204})
	v.do(exchange{method: "OPTIONS", path: "/v1/uploads/anything", status: 204})
	created := v.do(exchange{method: "POST", path: "/v1/uploads", headers: tus("Upload-Length", "10", "Upload-Metadata", "id "+b64("tus/one.bin")+",content_type "+b64("application/octet-stream")), status: 201})
	up := created.Header.Get("Location")
	v.do(exchange{method: "HEAD", path: up, headers: tus(), status: 200})
	v.do(exchange{method: "HEAD", path: up, status: 412, code: "unsupported_tus_version", invalid: true})
	v.do(exchange{method: "PATCH", path: up, body: []byte("01234"), headers: tus("Content-Type", "application/offset+octet-stream", "Upload-Offset", "3"), status: 409, code: "offset_mismatch"})
	v.do(exchange{method: "PATCH", path: up, body: []byte("01234"), headers: tus("Content-Type", "application/offset+octet-stream", "Upload-Offset", "0", "Upload-Checksum", "sha256 "+digest([]byte("other"))), status: 460, code: "checksum_mismatch"})
	v.do(exchange{method: "PATCH", path: up, body: []byte("01234"), headers: tus("Content-Type", "text/plain", "Upload-Offset", "0"), status: 415, code: "unsupported_media_type", invalid: true})
	v.do(exchange{method: "PATCH", path: up, body: []byte("01234"), headers: tus("Content-Type", "application/offset+octet-stream", "Upload-Offset", "-1"), status: 400, code: "invalid_request", invalid: true})
	v.do(exchange{method: "PATCH", path: up, body: []byte("01234"), headers: tus("Content-Type", "application/offset+octet-stream", "Upload-Offset", "0", "Upload-Checksum", "sha256 "+digest([]byte("01234"))), status: 204})
	v.do(exchange{method: "PATCH", path: up, body: []byte("567890"), headers: tus("Content-Type", "application/offset+octet-stream", "Upload-Offset", "5"), status: 413, code: "too_large"})
	v.do(exchange{method: "PATCH", path: up, body: []byte("56789"), headers: tus("Content-Type", "application/offset+octet-stream", "Upload-Offset", "5"), status: 204})
	v.do(exchange{method: "GET", path: blobPath("tus/one.bin") + "?meta=1", status: 200})
	v.do(exchange{method: "POST", path: "/v1/uploads", headers: tus("Upload-Length", "10", "Upload-Metadata", "id "+b64("tus/one.bin")), status: 409, code: "blob_exists"})
	v.do(exchange{method: "POST", path: "/v1/uploads", headers: tus("Upload-Length", "1000000", "Upload-Metadata", "id "+b64("tus/huge")), status: 413, code: "too_large"})
	v.do(exchange{method: "POST", path: "/v1/uploads", headers: tus("Upload-Length", "10"), status: 400, code: "invalid_request", invalid: true})
	v.do(exchange{method: "POST", path: "/v1/uploads", headers: map[string]string{"Upload-Length": "10", "Upload-Metadata": "id " + b64("tus/x")}, status: 412, code: "unsupported_tus_version", invalid: true})
	v.do(exchange{method: "POST", path: "/v1/uploads", body: []byte("abc"), headers: tus("Content-Type", "application/offset+octet-stream", "Upload-Defer-Length", "1", "Upload-Metadata", "filename "+b64("tus/deferred")), status: 201})
	deferred := v.do(exchange{method: "POST", path: "/v1/uploads", headers: tus("Upload-Defer-Length", "1", "Upload-Metadata", "id "+b64("tus/two")), status: 201})
	v.do(exchange{method: "HEAD", path: deferred.Header.Get("Location"), headers: tus(), status: 200})
	v.do(exchange{method: "DELETE", path: deferred.Header.Get("Location"), headers: tus(), status: 204})
	v.do(exchange{method: "HEAD", path: deferred.Header.Get("Location"), headers: tus(), status: 404})
	v.do(exchange{method: "DELETE", path: "/v1/uploads/absent", headers: tus(), status: 404, code: "upload_not_found"})

	// Probes.
	v.do(exchange{method: "GET", path: "/readyz", headers: noAuth, status: 200})
	v.do(exchange{method: "HEAD", path: "/readyz", headers: noAuth, status: 200})
	v.do(exchange{method: "GET", path: "/metrics", headers: noAuth, status: 200})

	// API keys, and a key without the scope a request needs.
	v.do(exchange{method: "GET", path: "/v1/keys", status: 200})
	key := v.do(exchange{method: "POST", path: "/v1/keys", body: []byte(`{"name": "reader", "scopes": ["read"], "prefix": "raw/", "expires_in": 3600}`), headers: jsonCT, status: 201})
	var k struct{ KeyID, Token string }
	json.Unmarshal(key.body, &k)
	k.KeyID = key.Header.Get("Location")
	reader := map[string]string{"Authorization": "Bearer " + k.Token}
	v.do(exchange{method: "GET", path: k.KeyID, status: 200})
	v.do(exchange{method: "GET", path: "/v1/keys", status: 200})
	v.do(exchange{method: "GET", path: rawPath + "?meta=1", headers: reader, status: 200})
	v.do(exchange{method: "GET", path: blobPath("tus/one.bin") + "?meta=1", headers: reader, status: 404, code: "blob_not_found"})
	v.do(exchange{method: "PUT", path: blobPath("raw/by-reader"), body: raw, headers: map[string]string{"Authorization": "Bearer " + k.Token, "Content-Type": "text/plain"}, status: 403, code: "forbidden"})
	v.do(exchange{method: "GET", path: "/v1/keys", headers: reader, status: 403, code: "forbidden"})
	v.do(exchange{method: "POST", path: "/v1/keys", body: []byte(`{"name": "x", "scopes": ["everything"]}`), headers: jsonCT, status: 400, code: "invalid_request", invalid: true})
	writer := v.do(exchange{method: "POST", path: "/v1/keys", body: []byte(`{"name": "writer", "scopes": ["write"], "prefix": "raw/"}`), headers: jsonCT, status: 201})
	var wk struct{ Token string }
	json.Unmarshal(writer.body, &wk)
	outside := map[string]string{"Authorization": "Bearer " + wk.Token, "Content-Type": "application/json"}
	v.do(exchange{method: "POST", path: "/v1/blobs", body: []byte(createBody("elsewhere", []byte("x"))), headers: outside, status: 404, code: "blob_not_found"})
	v.do(exchange{method: "POST", path: "/v1/blobs", body: []byte(`{"data": "eA==", "id": "elsewhere"}`), headers: outside, status: 404, code: "blob_not_found"})
	v.do(exchange{method: "PUT", path: blobPath("elsewhere"), body: raw, headers: outside, status: 404, code: "blob_not_found"})
	v.do(exchange{method: "POST", path: "/v1/uploads", headers: map[string]string{"Authorization": "Bearer " + wk.Token, "Tus-Resumable": "1.0.0", "Upload-Length": "1", "Upload-Metadata": "id " + b64("elsewhere")}, status: 404, code: "blob_not_found"})
	v.do(exchange{method: "POST", path: "/v1/blobs", body: []byte(`{"data": "eA==", "id": "raw/late"}`), headers: outside, status: 201})
	v.do(exchange{method: "DELETE", path: k.KeyID, status: 204})
	v.do(exchange{method: "GET", path: rawPath + "?meta=1", headers: reader, status: 401, code: "unauthorized"})
	v.do(exchange{method: "GET", path: "/v1/keys/absent", status: 404, code: "key_not_found"})

	// The rate limiter.
	limited := startStack(t, stacks[0], func(c *config.Config) { c.Ops.RateLimitRPS, c.Ops.RateLimitBurst = 0.01, 1 })
	lv := &validator{t: t, h: limited, doc: doc, statuses: v.statuses}
	lv.do(exchange{method: "GET", path: "/v1/blobs", status: 200})
	lv.do(exchange{method: "GET", path: "/v1/blobs", status: 429, code: "rate_limited"})

	// The bound on open uploads.
	capped := startStack(t, stacks[0], func(c *config.Config) { c.MaxOpenUploads = 1 })
	cv := &validator{t: t, h: capped, doc: doc, statuses: v.statuses}
	for i, status := range []int{201, 429} {
		cv.do(exchange{method: "POST", path: "/v1/uploads", headers: map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "1",
			"Upload-Metadata": "id " + b64(fmt.Sprintf("capped/%d", i))}, status: status, code: map[int]string{429: "too_many_uploads"}[status]})
	}

	var missing []int
	for _, s := range []int{200, 201, 204, 206, 304, 400, 401, 403, 404, 405, 409, 412, 413, 415, 416, 429, 460} {
		if !v.statuses[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		t.Errorf("no exchange produced %v", missing)
	}
	t.Logf("statuses validated: %v", slices.Sorted(maps.Keys(v.statuses)))
}
