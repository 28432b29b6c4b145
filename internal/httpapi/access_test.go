package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// keyStacks are the metadata databases API keys are tested on.
var keyStacks = []stack{{"SQLite", sqliteDB}, {"PostgreSQL", postgresDB}}

// server is a real app behind an httptest server, with its captured log.
type server struct {
	*harness
	app  *app.App
	logs *syncBuffer
}

// startServer serves the real app configured by c, logging at debug level
// into a buffer the test can scan.
func startServer(t *testing.T, c config.Config) *server {
	t.Helper()
	logs := &syncBuffer{}
	a, err := app.New(context.Background(), c, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return &server{harness: serve(t, a.Handler()), app: a, logs: logs}
}

// stackConfig is the test configuration wired as s, edited by edit.
func stackConfig(t *testing.T, s stack, edit ...func(*config.Config)) config.Config {
	c := testConfig(t)
	s.configure(t, &c)
	for _, e := range edit {
		e(&c)
	}
	return c
}

// bearer returns the headers that authenticate with tok.
func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// createdKey is a decoded 201 of POST /v1/keys.
type createdKey struct {
	KeyID     string   `json:"key_id"`
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	Prefix    *string  `json:"prefix"`
	CreatedAt string   `json:"created_at"`
	ExpiresAt *string  `json:"expires_at"`
	Token     string   `json:"token"`
}

// createKey makes a key over HTTP with the operator's token.
func (h *harness) createKey(body string) createdKey {
	h.t.Helper()
	r := h.request(http.MethodPost, "/v1/keys", strings.NewReader(body), nil)
	expectStatus(h.t, r, http.StatusCreated)
	var k createdKey
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&k); err != nil {
		h.t.Fatalf("decoding %s: %v", r.body, err)
	}
	if r.Header.Get("Location") != "/v1/keys/"+k.KeyID || r.Header.Get("Cache-Control") != "no-store" {
		h.t.Fatalf("201 headers: Location %q, Cache-Control %q", r.Header.Get("Location"), r.Header.Get("Cache-Control"))
	}
	return k
}

// TestScopes: each scope allows exactly its routes. For every route and
// method of the API and every single-scope key, the request succeeds as
// it would with API_TOKEN when the scope is the one the route needs, and
// is answered 403 forbidden, with nothing done, otherwise.
func TestScopes(t *testing.T) {
	for _, s := range keyStacks {
		t.Run(s.name, func(t *testing.T) {
			h := startServer(t, stackConfig(t, s))
			testScopes(t, h)
		})
	}
}

func testScopes(t *testing.T, h *server) {
	scopes := []string{"read", "write", "delete", "admin"}
	tokens := map[string]string{}
	for _, sc := range scopes {
		tokens[sc] = h.createKey(`{"name":"` + sc + ` only","scopes":["` + sc + `"]}`).Token
	}
	expectStatus(t, h.putRaw("existing", []byte("x"), nil), http.StatusCreated)
	type check func(t *testing.T, id string)
	blobGone := func(t *testing.T, id string) {
		expectProblem(t, h.get(id), http.StatusNotFound, "blob_not_found")
	}
	blobThere := func(t *testing.T, id string) { expectStatus(t, h.get(id), http.StatusOK) }
	cases := []struct {
		method, path string // %s: a fresh blob id, or a fresh key id for /v1/keys/
		body         string
		need         string
		status       int
		setup        func(t *testing.T, id string) // run before, with the operator's token
		denied       check                         // what must hold after a 403
	}{
		{method: "GET", path: "/v1/blobs", need: "read", status: 200},
		{method: "HEAD", path: "/v1/blobs", need: "read", status: 200},
		{method: "GET", path: "/v1/blobs?prefix=ex&delimiter=/", need: "read", status: 200},
		{method: "GET", path: "/v1/blobs/existing", need: "read", status: 200},
		{method: "HEAD", path: "/v1/blobs/existing", need: "read", status: 200},
		{method: "GET", path: "/v1/blobs/existing?alt=media", need: "read", status: 200},
		{method: "HEAD", path: "/v1/blobs/existing?alt=media", need: "read", status: 200},
		{method: "GET", path: "/v1/blobs/existing?meta=1", need: "read", status: 200},
		{method: "POST", path: "/v1/blobs", body: `{"id":"%s","data":"eA=="}`, need: "write", status: 201, denied: blobGone},
		{method: "PUT", path: "/v1/blobs/%s", body: "x", need: "write", status: 201, denied: blobGone},
		{method: "DELETE", path: "/v1/blobs/%s", need: "delete", status: 204,
			setup: func(t *testing.T, id string) { expectStatus(t, h.putRaw(id, []byte("x"), nil), 201) }, denied: blobThere},
		// Signed links and tus: the scope is decided before the handler,
		// which then answers what the protocol says (tus wants its
		// Tus-Resumable header: 412 without it).
		{method: "POST", path: "/v1/links", body: `{"id":"existing","expires_in":60}`, need: "read", status: 201},
		{method: "GET", path: "/v1/usage", need: "read", status: 200},
		{method: "HEAD", path: "/v1/usage", need: "read", status: 200},
		{method: "POST", path: "/v1/uploads", need: "write", status: 412},
		{method: "POST", path: "/v1/uploads/", need: "write", status: 412},
		{method: "PATCH", path: "/v1/uploads/abc", body: "x", need: "write", status: 412},
		{method: "HEAD", path: "/v1/uploads/abc", need: "write", status: 412},
		{method: "DELETE", path: "/v1/uploads/abc", need: "write", status: 412},
		{method: "GET", path: "/v1/keys", need: "admin", status: 200},
		{method: "POST", path: "/v1/keys", body: `{"name":"made","scopes":["admin"]}`, need: "admin", status: 201},
		{method: "GET", path: "/v1/keys/%s", need: "admin", status: 200},
		{method: "DELETE", path: "/v1/keys/%s", need: "admin", status: 204},
	}
	n := 0
	for _, c := range cases {
		for _, sc := range scopes {
			n++
			id := fmt.Sprintf("scoped-%d", n)
			if strings.HasPrefix(c.path, "/v1/keys/") {
				id = h.createKey(`{"name":"victim","scopes":["read"]}`).KeyID
			}
			if c.setup != nil {
				c.setup(t, id)
			}
			path, body := c.path, c.body
			if strings.Contains(path, "%s") {
				path = fmt.Sprintf(path, escapeID(id))
			}
			if strings.Contains(body, "%s") {
				body = fmt.Sprintf(body, id)
			}
			var rd io.Reader
			if body != "" {
				rd = strings.NewReader(body)
			}
			r := h.request(c.method, path, rd, bearer(tokens[sc]))
			name := fmt.Sprintf("%s %s with %s", c.method, c.path, sc)
			if sc != c.need {
				if r.StatusCode != http.StatusForbidden {
					t.Errorf("%s = %d %s; want 403", name, r.StatusCode, truncate(r.body))
					continue
				}
				if c.method != http.MethodHead {
					expectProblem(t, r, http.StatusForbidden, "forbidden")
				}
				if c.denied != nil {
					c.denied(t, id)
				}
				continue
			}
			if r.StatusCode != c.status {
				t.Errorf("%s = %d %s; want %d", name, r.StatusCode, truncate(r.body), c.status)
			}
		}
	}
	// A refused upload is answered on its headers alone: the body is never
	// waited for.
	for _, req := range []string{"PUT /v1/blobs/early", "POST /v1/blobs"} {
		status := headersOnly(t, h.harness, req, tokens["read"])
		if status != http.StatusForbidden {
			t.Errorf("%s with a read key, headers alone: %d; want 403 before the body", req, status)
		}
	}
}

// headersOnly sends the headers of an upload of 32 MiB with tok and
// returns the status answered before any body byte is sent.
func headersOnly(t *testing.T, h *harness, requestLine, tok string) int {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", requestLine, tok, 32<<20)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to headers alone (%v): the server waits for the body before authorizing", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPrefixConfinement: a key confined to a prefix sees ids outside it as
// absent (get, head, create, delete) and lists only its prefix.
func TestPrefixConfinement(t *testing.T) {
	for _, s := range keyStacks {
		t.Run(s.name, func(t *testing.T) {
			h := startServer(t, stackConfig(t, s))
			for _, id := range []string{"team-a/x", "team-a/sub/y", "team-b/y", "team-ab", "root"} {
				expectStatus(t, h.putRaw(id, []byte(id), nil), http.StatusCreated)
			}
			k := h.createKey(`{"name":"team a","scopes":["read","write","delete","admin"],"prefix":"team-a/"}`)
			if k.Prefix == nil || *k.Prefix != "team-a/" {
				t.Fatalf("created key prefix = %v", k.Prefix)
			}
			auth := bearer(k.Token)
			expectStatus(t, h.request("GET", blobPath("team-a/x"), nil, auth), http.StatusOK)
			for _, id := range []string{"team-b/y", "team-ab", "root"} {
				for _, path := range []string{blobPath(id), blobPath(id) + "?alt=media", blobPath(id) + "?meta=1"} {
					expectProblem(t, h.request("GET", path, nil, auth), http.StatusNotFound, "blob_not_found")
					expectStatus(t, h.request("HEAD", path, nil, auth), http.StatusNotFound)
				}
				expectProblem(t, h.request("DELETE", blobPath(id), nil, auth), http.StatusNotFound, "blob_not_found")
				expectStatus(t, h.get(id), http.StatusOK) // still there
			}
			// Creates outside the prefix: absent, and nothing stored.
			expectProblem(t, h.request("PUT", blobPath("team-b/new"), strings.NewReader("x"), auth), http.StatusNotFound, "blob_not_found")
			expectProblem(t, h.request("POST", "/v1/blobs", strings.NewReader(createBody("team-b/new2", []byte("x"))), auth), http.StatusNotFound, "blob_not_found")
			expectProblem(t, h.get("team-b/new"), http.StatusNotFound, "blob_not_found")
			expectProblem(t, h.get("team-b/new2"), http.StatusNotFound, "blob_not_found")
			// Inside: everything works.
			expectStatus(t, h.request("PUT", blobPath("team-a/new"), strings.NewReader("x"), auth), http.StatusCreated)
			expectStatus(t, h.request("POST", "/v1/blobs", strings.NewReader(createBody("team-a/new2", []byte("x"))), auth), http.StatusCreated)
			expectStatus(t, h.request("DELETE", blobPath("team-a/new2"), nil, auth), http.StatusNoContent)

			list := func(query string) (ids, prefixes []string) {
				r := h.request("GET", "/v1/blobs"+query, nil, auth)
				expectStatus(t, r, http.StatusOK)
				var page struct {
					Blobs []struct {
						ID string `json:"id"`
					} `json:"blobs"`
					Prefixes []string `json:"prefixes"`
				}
				if err := json.Unmarshal(r.body, &page); err != nil {
					t.Fatal(err)
				}
				for _, b := range page.Blobs {
					ids = append(ids, b.ID)
				}
				return ids, page.Prefixes
			}
			for _, c := range []struct {
				query         string
				ids, prefixes []string
			}{
				{"", []string{"team-a/new", "team-a/sub/y", "team-a/x"}, nil},
				{"?prefix=team", []string{"team-a/new", "team-a/sub/y", "team-a/x"}, nil},
				{"?prefix=team-a/s", []string{"team-a/sub/y"}, nil},
				{"?prefix=team-b/", nil, nil},
				{"?prefix=r", nil, nil},
				{"?delimiter=/", []string{"team-a/new", "team-a/x"}, []string{"team-a/sub/"}},
				{"?limit=1", []string{"team-a/new"}, nil},
			} {
				ids, prefixes := list(c.query)
				if !slices.Equal(ids, c.ids) || !slices.Equal(prefixes, c.prefixes) {
					t.Errorf("list%s = %q, %q; want %q, %q", c.query, ids, prefixes, c.ids, c.prefixes)
				}
			}
			// A confined admin cannot mint a key beyond its own reach, and
			// manages only keys inside its prefix.
			for _, body := range []string{
				`{"name":"escape","scopes":["read"]}`,
				`{"name":"escape","scopes":["read"],"prefix":"team-"}`,
			} {
				expectProblem(t, h.request("POST", "/v1/keys", strings.NewReader(body), auth), http.StatusForbidden, "forbidden")
			}
			expectStatus(t, h.request("POST", "/v1/keys", strings.NewReader(`{"name":"sub","scopes":["read"],"prefix":"team-a/sub/"}`), auth), http.StatusCreated)
			outside := h.createKey(`{"name":"outside","scopes":["read"]}`)
			expectProblem(t, h.request("DELETE", "/v1/keys/"+outside.KeyID, nil, auth), http.StatusNotFound, "key_not_found")
			r := h.request("GET", "/v1/keys", nil, auth)
			if strings.Contains(string(r.body), outside.KeyID) || !strings.Contains(string(r.body), k.KeyID) {
				t.Errorf("a confined admin's listing shows keys outside its prefix or misses its own: %s", r.body)
			}
			// A read-only key cannot grant write.
			ro := h.createKey(`{"name":"ro","scopes":["read","admin"]}`)
			expectProblem(t, h.request("POST", "/v1/keys", strings.NewReader(`{"name":"rw","scopes":["write"]}`), bearer(ro.Token)), http.StatusForbidden, "forbidden")
		})
	}
}

// TestKeyLifecycle: a key is created, listed without its secret, used,
// revoked and then refused; its token never appears in any log line, nor in
// any response after the one that created it.
func TestKeyLifecycle(t *testing.T) {
	for _, s := range keyStacks {
		t.Run(s.name, func(t *testing.T) {
			h := startServer(t, stackConfig(t, s))
			k := h.createKey(`{"name":"ci uploader","scopes":["write","read"],"expires_in":3600}`)
			secret := k.Token[len("sd_"+k.KeyID+"_"):]
			if k.ExpiresAt == nil || k.Prefix != nil || !slices.Equal(k.Scopes, []string{"read", "write"}) || k.Name != "ci uploader" {
				t.Fatalf("created key = %+v", k)
			}
			var after []response
			after = append(after,
				h.request("PUT", blobPath("by-key"), strings.NewReader("x"), bearer(k.Token)),
				h.request("GET", blobPath("by-key"), nil, bearer(k.Token)),
				h.request("GET", blobPath("missing"), nil, bearer(k.Token)),
				h.request("GET", blobPath("by-key"), nil, bearer(k.Token+"x")),
				h.request("GET", "/v1/keys", nil, nil),
				h.request("GET", "/v1/keys/"+k.KeyID, nil, nil),
			)
			expectStatus(t, after[0], http.StatusCreated)
			expectStatus(t, after[1], http.StatusOK)
			expectProblem(t, after[3], http.StatusUnauthorized, "unauthorized")
			expectStatus(t, after[4], http.StatusOK)
			if !strings.Contains(string(after[4].body), `"key_id":"`+k.KeyID+`"`) {
				t.Fatalf("the listing lacks the key: %s", after[4].body)
			}
			// Requests name the key in the log.
			if !strings.Contains(h.logs.String(), `"key_id":"`+k.KeyID+`"`) {
				t.Error("the request log does not name the key id")
			}
			after = append(after, h.request("DELETE", "/v1/keys/"+k.KeyID, nil, nil))
			expectStatus(t, after[len(after)-1], http.StatusNoContent)
			// The revoking server refuses the key at once.
			r := h.request("GET", blobPath("by-key"), nil, bearer(k.Token))
			after = append(after, r)
			expectProblem(t, r, http.StatusUnauthorized, "unauthorized")
			if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="simpledrive", error="invalid_token"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			after = append(after, h.request("GET", "/v1/keys/"+k.KeyID, nil, nil))
			if !strings.Contains(string(after[len(after)-1].body), `"revoked_at":"`) {
				t.Errorf("a revoked key's revoked_at is missing: %s", after[len(after)-1].body)
			}
			expectProblem(t, h.request("DELETE", "/v1/keys/"+strings.Repeat("0", 20), nil, nil), http.StatusNotFound, "key_not_found")
			expectProblem(t, h.request("DELETE", "/v1/keys/not-an-id", nil, nil), http.StatusNotFound, "key_not_found")
			for _, r := range after {
				for _, part := range []string{k.Token, secret} {
					if strings.Contains(string(r.body), part) || strings.Contains(fmt.Sprint(r.Header), part) {
						t.Errorf("%s %s: response after creation holds the secret: %s", r.Request.Method, r.Request.URL.Path, r.body)
					}
				}
			}
			for _, part := range []string{k.Token, secret, token} {
				if strings.Contains(h.logs.String(), part) {
					t.Fatalf("a secret appears in the log:\n%s", h.logs.String())
				}
			}
		})
	}
}

// TestKeyRequests: POST /v1/keys takes exactly its documented body.
func TestKeyRequests(t *testing.T) {
	h := startServer(t, stackConfig(t, keyStacks[0]))
	for _, body := range []string{
		``, `[]`, `null`, `{}`, `{"name":"x"}`, `{"scopes":["read"]}`,
		`{"name":"x","scopes":[]}`, `{"name":"x","scopes":["root"]}`, `{"name":"x","scopes":"read"}`,
		`{"name":"x","scopes":["read"],"Name":"y"}`, `{"name":"x","scopes":["read"],"extra":1}`,
		`{"name":null,"scopes":["read"]}`, `{"name":"x","scopes":["read"],"expires_in":0}`,
		`{"name":"x","scopes":["read"],"expires_in":-5}`, `{"name":"x","scopes":["read"],"expires_in":1.5}`,
		`{"name":"x","scopes":["read"]} {}`, `{"name":"","scopes":["read"]}`,
	} {
		expectProblem(t, h.request("POST", "/v1/keys", strings.NewReader(body), nil), http.StatusBadRequest, "invalid_request")
	}
	expectProblem(t, h.request("POST", "/v1/keys", strings.NewReader(`{"name":"x","scopes":["read"]}`), map[string]string{"Content-Type": "text/plain"}),
		http.StatusUnsupportedMediaType, "unsupported_media_type")
	r := h.request("PUT", "/v1/keys", nil, nil)
	expectProblem(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
	if r.Header.Get("Allow") != "GET, POST" {
		t.Errorf("Allow = %q", r.Header.Get("Allow"))
	}
}

// TestExpiredKeyRefused: a key past its expiry is refused. The test waits
// for a one-second expiry to pass: that wait is what is tested.
func TestExpiredKeyRefused(t *testing.T) {
	for _, s := range keyStacks {
		t.Run(s.name, func(t *testing.T) {
			h := startServer(t, stackConfig(t, s))
			k := h.createKey(`{"name":"short","scopes":["read"],"expires_in":1}`)
			expires, err := time.Parse(time.RFC3339Nano, *k.ExpiresAt)
			if err != nil {
				t.Fatal(err)
			}
			if time.Now().Before(expires) {
				expectStatus(t, h.request("GET", "/v1/blobs", nil, bearer(k.Token)), http.StatusOK)
			}
			time.Sleep(time.Until(expires)) // the expiry itself is under test
			deadline := time.Now().Add(2 * time.Second)
			for {
				r := h.request("GET", "/v1/blobs", nil, bearer(k.Token))
				if r.StatusCode == http.StatusUnauthorized {
					expectProblem(t, r, http.StatusUnauthorized, "unauthorized")
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a key expired at %v still answers %d at %v", expires, r.StatusCode, time.Now())
				}
			}
		})
	}
}

// TestRevocationSeenByAnotherServer: two servers share one PostgreSQL
// schema, as two replicas would (two App instances in this test process:
// each has its own pool, keyring and cache, which is all a second process
// would add). A key revoked on one is refused by the other within 5 s.
func TestRevocationSeenByAnotherServer(t *testing.T) {
	url := testenv.PostgresURL(t)
	sameDB := func(tb testing.TB, c *config.Config) { c.DatabaseURL = url }
	a := startServer(t, stackConfig(t, stack{"a", sameDB}))
	b := startServer(t, stackConfig(t, stack{"b", sameDB}))
	k := a.createKey(`{"name":"shared","scopes":["read"]}`)
	expectStatus(t, b.request("GET", "/v1/blobs", nil, bearer(k.Token)), http.StatusOK) // b caches the key
	expectStatus(t, a.request("DELETE", "/v1/keys/"+k.KeyID, nil, nil), http.StatusNoContent)
	revoked := time.Now()
	expectProblem(t, a.request("GET", "/v1/blobs", nil, bearer(k.Token)), http.StatusUnauthorized, "unauthorized")
	// Waiting out b's cache is the point: poll until b refuses.
	for {
		sent := time.Now()
		r := b.request("GET", "/v1/blobs", nil, bearer(k.Token))
		if r.StatusCode == http.StatusUnauthorized {
			break
		}
		expectStatus(t, r, http.StatusOK)
		if sent.Sub(revoked) > 5*time.Second {
			t.Fatalf("the other server still accepts a key revoked %v before the request", sent.Sub(revoked))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("revocation seen by the other server after %v", time.Since(revoked).Round(time.Millisecond))
}
