package httpapi

import (
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/httpx"
	"github.com/simpledrive/simpledrive/internal/links"
)

// Signed links (DESIGN section 7): POST /v1/links makes them; a GET or
// HEAD of /v1/blobs/{id}?alt=media carrying expires and sig is served
// without a token when package links verifies it, and nothing else is.

const (
	linksPath = "/v1/links"
	// defaultLinkExpiry is the life of a link made without expires_in.
	defaultLinkExpiry = time.Hour
	// maxLinkBody bounds the body of POST /v1/links.
	maxLinkBody = 16 << 10
)

// linkResponse is the body of a 201 from POST /v1/links.
type linkResponse struct {
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
}

// createLink serves POST /v1/links {"id": "...", "expires_in": seconds}.
func (a *API) createLink(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			httpx.WriteProblem(w, http.StatusUnsupportedMediaType, httpx.CodeUnsupportedMedia, "send the request as application/json")
			return
		}
	}
	id, seconds, err := parseLinkRequest(http.MaxBytesReader(w, r.Body, maxLinkBody))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	expiry := defaultLinkExpiry
	if seconds != nil {
		expiry = time.Duration(*seconds) * time.Second
	}
	if max := a.cfg.Links.MaxExpiry(); expiry <= 0 || expiry > max || (seconds != nil && *seconds > int64(max/time.Second)) {
		a.fail(w, r, httpx.InvalidRequest("expires_in must be 1 to %d seconds (LINK_MAX_EXPIRY)", int64(max/time.Second)))
		return
	}
	// The route declares the id as coming from the body: a key confined to
	// a prefix sees an id outside it as absent, and its links expire no
	// later than it does.
	if !admit(w, r, id) {
		return
	}
	b, err := a.svc.Stat(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	expires := grantFrom(r).principal.LinkExpiry(time.Now().Add(expiry)).Truncate(time.Second)
	q := a.cfg.Links.Sign(links.Blob{ID: b.ID, CreatedAt: b.CreatedAt}, expires)
	writeJSON(w, http.StatusCreated, linkResponse{
		URL:       a.publicURL(r, blobPrefix+url.PathEscape(b.ID)+"?"+q.Encode()),
		ExpiresAt: expires.UTC().Format(time.RFC3339),
	})
}

// parseLinkRequest reads {"id": string, "expires_in": integer} strictly
// ([decodeStrict]), id required.
func parseLinkRequest(r io.Reader) (string, *int64, error) {
	var req struct {
		ID        string `json:"id" strictjson:"required"`
		ExpiresIn *int64 `json:"expires_in"`
	}
	if err := decodeStrict(r, maxLinkBody, &req); err != nil {
		return "", nil, err
	}
	return req.ID, req.ExpiresIn, blob.ValidateID(req.ID)
}

// links serves POST /v1/links, when links are configured.
func (a *API) links(w http.ResponseWriter, r *http.Request, _ string) {
	if a.cfg.Links == nil {
		httpx.WriteProblem(w, http.StatusNotFound, httpx.CodeNotFound, "signed links are not configured")
		return
	}
	a.createLink(w, r)
}
