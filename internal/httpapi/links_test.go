package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/links"
)

// link asks POST /v1/links for a link to id and returns its URL.
func (h *harness) link(id string, expiresIn int) string {
	h.t.Helper()
	body, _ := json.Marshal(map[string]any{"id": id, "expires_in": expiresIn})
	r := h.request(http.MethodPost, "/v1/links", strings.NewReader(string(body)), nil)
	expectStatus(h.t, r, http.StatusCreated)
	var out struct {
		URL       string `json:"url"`
		ExpiresAt string `json:"expires_at"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || !strings.HasPrefix(out.URL, h.url+blobPathPrefix) {
		h.t.Fatalf("POST /v1/links = %s; want an absolute URL under %s", r.body, h.url)
	}
	return strings.TrimPrefix(out.URL, h.url)
}

const blobPathPrefix = "/v1/blobs/"

// anonymous sends a request without a token.
func (h *harness) anonymous(method, path string, headers map[string]string) response {
	h.t.Helper()
	all := map[string]string{"Authorization": ""}
	for k, v := range headers {
		all[k] = v
	}
	return h.request(method, path, nil, all)
}

func TestLinks(t *testing.T) {
	h := startStack(t, stacks[0])
	id := "shared/report 2026?.pdf"
	data := []byte("the quarterly report, in full")
	expectStatus(t, h.putRaw(id, data, map[string]string{"Content-Type": "application/pdf"}), http.StatusCreated)
	expectStatus(t, h.putRaw("other", []byte("other bytes"), nil), http.StatusCreated)
	link := h.link(id, 600)

	t.Run("Valid", func(t *testing.T) {
		r := h.anonymous(http.MethodGet, link, nil)
		expectStatus(t, r, http.StatusOK)
		if string(r.body) != string(data) || r.Header.Get("Content-Type") != "application/pdf" {
			t.Fatalf("GET through the link = %q %q", r.body, r.Header.Get("Content-Type"))
		}
		r = h.anonymous(http.MethodHead, link, nil)
		expectStatus(t, r, http.StatusOK)
		if r.Header.Get("Content-Length") != "29" {
			t.Fatalf("HEAD through the link: Content-Length %q", r.Header.Get("Content-Length"))
		}
		r = h.anonymous(http.MethodGet, link, map[string]string{"Range": "bytes=4-12"})
		expectStatus(t, r, http.StatusPartialContent)
		if string(r.body) != "quarterly" {
			t.Fatalf("ranged GET through the link = %q", r.body)
		}
		r = h.anonymous(http.MethodGet, link+"&download=1", nil)
		expectStatus(t, r, http.StatusOK)
		if !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("download=1 through the link: Content-Disposition %q", r.Header.Get("Content-Disposition"))
		}
	})
	t.Run("Expired", func(t *testing.T) {
		// Signed with the key the server derives from its token, so only
		// the expiry is wrong.
		signer := links.NewSigner(links.DeriveKey(token), time.Hour)
		meta := decodeObject(t, h.request(http.MethodGet, blobPath(id)+"?meta=1", nil, nil))
		created, _ := time.Parse(time.RFC3339Nano, meta.CreatedAt)
		b := links.Blob{ID: id, CreatedAt: created}
		past := signer.Sign(b, time.Now().Add(-time.Second))
		expectProblem(t, h.anonymous(http.MethodGet, blobPath(id)+"?"+past.Encode(), nil), http.StatusForbidden, "invalid_signature")
		future := signer.Sign(b, time.Now().Add(time.Minute))
		expectStatus(t, h.anonymous(http.MethodGet, blobPath(id)+"?"+future.Encode(), nil), http.StatusOK)
	})
	t.Run("Tampered", func(t *testing.T) {
		u, _ := url.Parse(link)
		q := u.Query()
		sig := q.Get("sig")
		q.Set("sig", strings.ToUpper(sig[:1])+sig[1:]+"A")
		expectProblem(t, h.anonymous(http.MethodGet, u.Path+"?"+q.Encode(), nil), http.StatusForbidden, "invalid_signature")
		q = u.Query()
		q.Set("expires", q.Get("expires")+"0")
		expectProblem(t, h.anonymous(http.MethodGet, u.Path+"?"+q.Encode(), nil), http.StatusForbidden, "invalid_signature")
		q = u.Query()
		q.Del("sig")
		expectProblem(t, h.anonymous(http.MethodGet, u.Path+"?"+q.Encode(), nil), http.StatusForbidden, "invalid_signature")
	})
	t.Run("OtherID", func(t *testing.T) {
		u, _ := url.Parse(link)
		expectProblem(t, h.anonymous(http.MethodGet, blobPath("other")+"?"+u.RawQuery, nil), http.StatusForbidden, "invalid_signature")
		expectProblem(t, h.anonymous(http.MethodGet, blobPath("missing")+"?"+u.RawQuery, nil), http.StatusForbidden, "invalid_signature")
	})
	t.Run("OtherMethodOrForm", func(t *testing.T) {
		u, _ := url.Parse(link)
		expectProblem(t, h.anonymous(http.MethodDelete, link, nil), http.StatusForbidden, "invalid_signature")
		expectProblem(t, h.anonymous(http.MethodPut, link, nil), http.StatusForbidden, "invalid_signature")
		q := u.Query()
		q.Del("alt")
		expectProblem(t, h.anonymous(http.MethodGet, u.Path+"?"+q.Encode(), nil), http.StatusForbidden, "invalid_signature") // JSON GET
		q.Set("meta", "1")
		expectProblem(t, h.anonymous(http.MethodGet, u.Path+"?"+q.Encode(), nil), http.StatusForbidden, "invalid_signature")
		expectProblem(t, h.anonymous(http.MethodGet, "/v1/blobs?"+u.RawQuery, nil), http.StatusUnauthorized, "unauthorized") // list
		expectStatus(t, h.get(id), http.StatusOK)                                                                            // still there
	})
	t.Run("DeleteAndRecreate", func(t *testing.T) {
		id := "recreated"
		expectStatus(t, h.putRaw(id, data, nil), http.StatusCreated)
		link := h.link(id, 600)
		expectStatus(t, h.anonymous(http.MethodGet, link, nil), http.StatusOK)
		expectStatus(t, h.request(http.MethodDelete, blobPath(id), nil, nil), http.StatusNoContent)
		expectProblem(t, h.anonymous(http.MethodGet, link, nil), http.StatusForbidden, "invalid_signature")
		expectStatus(t, h.putRaw(id, data, nil), http.StatusCreated) // the very same bytes
		expectProblem(t, h.anonymous(http.MethodGet, link, nil), http.StatusForbidden, "invalid_signature")
		expectStatus(t, h.anonymous(http.MethodGet, h.link(id, 600), nil), http.StatusOK)
	})
	t.Run("CreateErrors", func(t *testing.T) {
		post := func(body string, headers map[string]string) response {
			return h.request(http.MethodPost, "/v1/links", strings.NewReader(body), headers)
		}
		expectProblem(t, post(`{"id":"missing","expires_in":60}`, nil), http.StatusNotFound, "blob_not_found")
		expectProblem(t, post(`{"id":"other","expires_in":604801}`, nil), http.StatusBadRequest, "invalid_request")
		expectProblem(t, post(`{"id":"other","expires_in":0}`, nil), http.StatusBadRequest, "invalid_request")
		expectProblem(t, post(`{"id":"other","expires_in":1.5}`, nil), http.StatusBadRequest, "invalid_request")
		expectProblem(t, post(`{"id":"other","Expires_In":60}`, nil), http.StatusBadRequest, "invalid_request")
		expectProblem(t, post(`{"expires_in":60}`, nil), http.StatusBadRequest, "invalid_request")
		expectProblem(t, post(`{"id":"\ud800"}`, nil), http.StatusBadRequest, "invalid_id")
		expectProblem(t, post(`{"id":"other"}`, map[string]string{"Content-Type": "text/plain"}), http.StatusUnsupportedMediaType, "unsupported_media_type")
		expectProblem(t, post(`{"id":"other"}`, map[string]string{"Authorization": ""}), http.StatusUnauthorized, "unauthorized")
		expectStatus(t, post(`{"id":"other"}`, nil), http.StatusCreated)
	})
}

// TestLinksPublicURL: behind a proxy, links are built under PUBLIC_URL
// instead of the address the request came to.
func TestLinksPublicURL(t *testing.T) {
	h := startStack(t, stacks[0], func(c *config.Config) { c.PublicURL = "https://drive.example.com/base/" })
	expectStatus(t, h.putRaw("a b", []byte("bytes"), nil), http.StatusCreated)
	r := h.request(http.MethodPost, "/v1/links", strings.NewReader(`{"id":"a b"}`), nil)
	expectStatus(t, r, http.StatusCreated)
	var out struct{ URL string }
	json.Unmarshal(r.body, &out)
	const want = "https://drive.example.com/base/v1/blobs/a%20b?alt=media&"
	if !strings.HasPrefix(out.URL, want) {
		t.Fatalf("link %q; want it under %q", out.URL, want)
	}
	path := strings.TrimPrefix(out.URL, "https://drive.example.com/base")
	expectStatus(t, h.anonymous(http.MethodGet, path, nil), http.StatusOK)
}

func TestLinksWithSigningKey(t *testing.T) {
	key := strings.Repeat("k", 32)
	h := startStack(t, stacks[0], func(c *config.Config) { c.SigningKey = key })
	expectStatus(t, h.putRaw("a", []byte("bytes"), nil), http.StatusCreated)
	expectStatus(t, h.anonymous(http.MethodGet, h.link("a", 60), nil), http.StatusOK)
	// A link of a server with the derived key does not work here.
	other := startStack(t, stacks[0])
	expectStatus(t, other.putRaw("a", []byte("bytes"), nil), http.StatusCreated)
	u, _ := url.Parse(other.link("a", 60))
	expectProblem(t, h.anonymous(http.MethodGet, u.Path+"?"+u.RawQuery, nil), http.StatusForbidden, "invalid_signature")
}

func TestCORS(t *testing.T) {
	const origin = "https://app.example.com"
	h := startStack(t, stacks[0], func(c *config.Config) { c.CORSOrigins = []string{origin} })
	for _, path := range []string{"/v1/uploads", "/v1/uploads/abc", "/v1/blobs", "/v1/blobs/x", "/v1/links"} {
		r := h.anonymous(http.MethodOptions, path, map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "upload-offset, tus-resumable",
		})
		expectStatus(t, r, http.StatusNoContent)
		if r.Header.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "PATCH") ||
			!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Upload-Offset") || !strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Fatalf("preflight of %s: %v", path, r.Header)
		}
	}
	r := h.anonymous(http.MethodOptions, "/v1/uploads", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight of another origin allowed: %v", r.Header)
	}
	expectStatus(t, h.putRaw("c", []byte("x"), nil), http.StatusCreated)
	r = h.request(http.MethodGet, blobPath("c")+"?alt=media", nil, map[string]string{"Origin": origin})
	expectStatus(t, r, http.StatusOK)
	if r.Header.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "Upload-Offset") ||
		!strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "ETag") {
		t.Fatalf("GET with Origin: %v", r.Header)
	}
	r = h.request(http.MethodGet, blobPath("c")+"?alt=media", nil, map[string]string{"Origin": "https://evil.example"})
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("a response to another origin carries Access-Control-Allow-Origin")
	}
	// Without CORS_ORIGINS nothing is allowed.
	plain := startStack(t, stacks[0])
	r = plain.anonymous(http.MethodOptions, "/v1/uploads", map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST"})
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS allowed without CORS_ORIGINS")
	}
}
