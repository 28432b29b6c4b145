package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/config"
)

// Regression tests of issue 18's findings 1 to 4: where features meet, a
// credential must not reach beyond what it was given.

// TestLinkConfinedLikeItsKey (finding 1): a key confined to team-a/ cannot
// make a link to an id outside it (404 as if absent, nothing signed), and
// a link made by a key that expires expires no later than the key.
func TestLinkConfinedLikeItsKey(t *testing.T) {
	h := startServer(t, stackConfig(t, keyStacks[0]))
	expectStatus(t, h.putRaw("team-b/secret.txt", []byte("secret"), nil), http.StatusCreated)
	expectStatus(t, h.putRaw("team-a/mine.txt", []byte("mine"), nil), http.StatusCreated)
	k := h.createKey(`{"name":"team a","scopes":["read"],"prefix":"team-a/","expires_in":120}`)
	post := func(body string) response {
		return h.request(http.MethodPost, "/v1/links", strings.NewReader(body), bearer(k.Token))
	}
	r := post(`{"id":"team-b/secret.txt","expires_in":60}`)
	expectProblem(t, r, http.StatusNotFound, "blob_not_found")
	r = post(`{"id":"team-a/mine.txt","expires_in":3600}`)
	expectStatus(t, r, http.StatusCreated)
	var link struct {
		URL       string `json:"url"`
		ExpiresAt string `json:"expires_at"`
	}
	if err := json.Unmarshal(r.body, &link); err != nil {
		t.Fatal(err)
	}
	linkExpiry, keyExpiry := parseTime(t, link.ExpiresAt), parseTime(t, *k.ExpiresAt)
	if linkExpiry.After(keyExpiry) {
		t.Errorf("a link made by a key expiring at %v expires at %v", keyExpiry, linkExpiry)
	}
	u, err := url.Parse(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, h.anonymous(http.MethodGet, u.RequestURI(), nil), http.StatusOK)
}

// TestTusDecidedByTheUpload (finding 2): an upload is decided against the
// blob id it recorded at creation. A key confined to team-a/ that learns
// the URL of the operator's upload for team-b/x gets 404 on HEAD, PATCH
// and DELETE, and neither the blob nor the upload is touched.
func TestTusDecidedByTheUpload(t *testing.T) {
	for _, s := range keyStacks {
		t.Run(s.name, func(t *testing.T) {
			srv := startServer(t, stackConfig(t, s))
			h := &tusHarness{harness: srv.harness}
			loc := h.create("team-b/x", 1)
			k := srv.createKey(`{"name":"team a","scopes":["read","write","delete"],"prefix":"team-a/"}`)
			auth := map[string]string{"Authorization": "Bearer " + k.Token}
			r := h.tus(http.MethodHead, loc, nil, auth)
			if r.StatusCode != http.StatusNotFound || r.Header.Get("Upload-Metadata") != "" || r.Header.Get("Upload-Offset") != "" {
				t.Errorf("HEAD of another prefix's upload = %d, Upload-Metadata %q; want 404 and nothing of it",
					r.StatusCode, r.Header.Get("Upload-Metadata"))
			}
			expectProblem(t, h.patch(loc, 0, []byte("x"), auth), http.StatusNotFound, "upload_not_found")
			expectProblem(t, h.get("team-b/x"), http.StatusNotFound, "blob_not_found")
			override := map[string]string{"Authorization": auth["Authorization"], "X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0"}
			expectProblem(t, h.tus(http.MethodPost, loc, []byte("x"), override), http.StatusNotFound, "upload_not_found")
			expectProblem(t, h.get("team-b/x"), http.StatusNotFound, "blob_not_found")
			expectProblem(t, h.tus(http.MethodDelete, loc, nil, auth), http.StatusNotFound, "upload_not_found")
			// The upload is intact: its owner finishes it.
			if got := h.offset(loc); got != 0 {
				t.Fatalf("offset after the refused requests = %d", got)
			}
			expectStatus(t, h.patch(loc, 0, []byte("x"), nil), http.StatusNoContent)
			expectStatus(t, h.get("team-b/x"), http.StatusOK)
			// Inside its prefix the key uses tus as before.
			own := h.tus(http.MethodPost, "/v1/uploads", nil, map[string]string{
				"Authorization": auth["Authorization"], "Upload-Length": "2", "Upload-Metadata": metadata("id", "team-a/y"),
			})
			expectStatus(t, own, http.StatusCreated)
			expectStatus(t, h.tus(http.MethodHead, own.Header.Get("Location"), nil, auth), http.StatusOK)
			expectStatus(t, h.patch(own.Header.Get("Location"), 0, []byte("yy"), auth), http.StatusNoContent)
			expectStatus(t, h.request(http.MethodGet, blobPath("team-a/y"), nil, auth), http.StatusOK)
		})
	}
}

// TestKeyOutlivesNoMaker (finding 3): a key made by a key that expires
// expires no later than its maker, whether it asks for no expiry or a
// later one; an earlier one is kept.
func TestKeyOutlivesNoMaker(t *testing.T) {
	h := startServer(t, stackConfig(t, keyStacks[0]))
	maker := h.createKey(`{"name":"maker","scopes":["read","admin"],"expires_in":120}`)
	makerExpiry := parseTime(t, *maker.ExpiresAt)
	for _, c := range []struct {
		body    string
		earlier bool
	}{
		{`{"name":"forever","scopes":["read"]}`, false},
		{`{"name":"longer","scopes":["read"],"expires_in":86400}`, false},
		{`{"name":"shorter","scopes":["read"],"expires_in":60}`, true},
	} {
		r := h.request(http.MethodPost, "/v1/keys", strings.NewReader(c.body), bearer(maker.Token))
		expectStatus(t, r, http.StatusCreated)
		var made createdKey
		if err := json.Unmarshal(r.body, &made); err != nil {
			t.Fatal(err)
		}
		if made.ExpiresAt == nil {
			t.Errorf("%s: the key made by a key expiring at %v never expires", c.body, makerExpiry)
			continue
		}
		got := parseTime(t, *made.ExpiresAt)
		switch {
		case got.After(makerExpiry):
			t.Errorf("%s: expires at %v, after its maker (%v)", c.body, got, makerExpiry)
		case c.earlier && !got.Before(makerExpiry.Add(-30*time.Second)):
			t.Errorf("%s: expires at %v; want the minute asked for", c.body, got)
		}
	}
}

// TestForgedLinksLimited (finding 4): requests carrying forged links pass
// the rate limiter like any other, and a link's signature is checked
// before its blob is looked up.
func TestForgedLinksLimited(t *testing.T) {
	h := startServer(t, stackConfig(t, keyStacks[0], func(c *config.Config) { c.Ops.RateLimitRPS, c.Ops.RateLimitBurst = 0.01, 1 }))
	expectStatus(t, h.putRaw("victim", []byte("x"), nil), http.StatusCreated)
	forged := "?alt=media&expires=4102444800&v=1&sig=" + strings.Repeat("A", 43)
	statuses := map[int]int{}
	for range 30 {
		statuses[h.anonymous(http.MethodGet, blobPath("victim")+forged, nil).StatusCode]++
	}
	if statuses[http.StatusForbidden] != 1 || statuses[http.StatusTooManyRequests] != 29 {
		t.Errorf("30 forged links at a burst of 1: %v; want one 403 and 29 429", statuses)
	}
	// The refusal of a forged link to an id that does not exist is the
	// signature's, not the lookup's.
	other := startServer(t, stackConfig(t, keyStacks[0]))
	expectProblem(t, other.anonymous(http.MethodGet, blobPath("absent")+forged, nil), http.StatusForbidden, "invalid_signature")
	if logs := other.logs.String(); !strings.Contains(logs, "signature does not match") || strings.Contains(logs, "link's blob") {
		t.Errorf("the forged link was refused after a lookup, not by its signature:\n%s", logs)
	}
}

// TestOpenUploadsBounded (issue 19, finding 5): open tus uploads are
// bounded per principal (MAX_OPEN_UPLOADS) and in all
// (MAX_OPEN_UPLOADS_TOTAL), answered 429 too_many_uploads; finished and
// terminated uploads free their place. Upload-Metadata is bounded too.
func TestOpenUploadsBounded(t *testing.T) {
	for _, s := range keyStacks {
		t.Run(s.name, func(t *testing.T) {
			srv := startServer(t, stackConfig(t, s, func(c *config.Config) { c.MaxOpenUploads, c.MaxOpenUploadsTotal = 2, 3 }))
			h := &tusHarness{harness: srv.harness}
			a := bearer(srv.createKey(`{"name":"a","scopes":["write","read"]}`).Token)
			b := bearer(srv.createKey(`{"name":"b","scopes":["write"]}`).Token)
			create := func(auth map[string]string, id string) response {
				headers := map[string]string{"Upload-Length": "1", "Upload-Metadata": metadata("id", id)}
				for k, v := range auth {
					headers[k] = v
				}
				return h.tus(http.MethodPost, "/v1/uploads", nil, headers)
			}
			a1, a2 := create(a, "a1"), create(a, "a2")
			expectStatus(t, a1, http.StatusCreated)
			expectStatus(t, a2, http.StatusCreated)
			expectProblem(t, create(a, "a3"), http.StatusTooManyRequests, "too_many_uploads") // a's own bound
			expectStatus(t, create(nil, "o1"), http.StatusCreated)                            // the operator's first
			expectProblem(t, create(b, "b1"), http.StatusTooManyRequests, "too_many_uploads") // the server's bound
			expectStatus(t, h.tus(http.MethodDelete, a1.Header.Get("Location"), nil, a), http.StatusNoContent)
			expectStatus(t, create(b, "b1"), http.StatusCreated)
			expectStatus(t, h.patch(a2.Header.Get("Location"), 0, []byte("x"), a), http.StatusNoContent) // finished
			expectStatus(t, create(a, "a4"), http.StatusCreated)
			expectStatus(t, h.request(http.MethodGet, blobPath("a2"), nil, a), http.StatusOK)

			big := map[string]string{"Upload-Length": "1", "Upload-Metadata": metadata("id", "big", "note", strings.Repeat("n", 3100))}
			expectProblem(t, h.tus(http.MethodPost, "/v1/uploads", nil, big), http.StatusBadRequest, "invalid_request")
		})
	}
}
