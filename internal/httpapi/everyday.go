package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/httpx"
)

// The everyday operations of DESIGN section 12: replace on purpose (a PUT
// with If-Match, see [API.put]), move and copy on the server (POST
// /v1/blobs/{id}?move_to= or ?copy_to=) and GET /v1/usage.

const usagePath = "/v1/usage"

// writeCondition is what the conditional headers of a PUT ask for.
type writeCondition struct {
	// replace is true when If-Match is sent: the blob must exist and
	// match, and is replaced.
	replace bool
	// ifMatch is the If-Match header.
	ifMatch string
}

// putCondition reads If-Match and If-None-Match of a PUT: If-Match
// replaces (RFC 9110 section 13.1.1); If-None-Match: * is a create, as a
// PUT without either is, and any other If-None-Match is refused.
func putCondition(r *http.Request) (writeCondition, error) {
	im, inm := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	if inm != "" && strings.TrimSpace(inm) != "*" {
		return writeCondition{}, httpx.InvalidRequest("If-None-Match on a PUT must be *: blobs are created, or replaced with If-Match")
	}
	if im != "" && inm != "" {
		return writeCondition{}, httpx.InvalidRequest("send If-Match (replace) or If-None-Match: * (create), not both")
	}
	return writeCondition{replace: im != "", ifMatch: im}, nil
}

// matches reports whether the blob b meets c's If-Match, by the strong
// comparison RFC 9110 prescribes.
func (c writeCondition) matches(b blob.Blob) bool {
	return etagListMatches(c.ifMatch, etag(b), true)
}

// replaceChecks is what a PUT does besides writing its target: with
// If-Match it deletes the blob it replaces.
func replaceChecks(r *http.Request, target access.Target) []access.Check {
	if r.Header.Get("If-Match") == "" {
		return nil
	}
	return []access.Check{{Action: access.Delete, Target: target}}
}

// transferChecks is what a POST /v1/blobs/{id} does besides reading its
// source: a move deletes it and writes move_to, a copy writes copy_to. A
// query naming neither, or both, adds nothing: [API.transfer] refuses it.
func transferChecks(r *http.Request, source access.Target) []access.Check {
	op, to, err := transferQuery(r)
	if err != nil {
		return nil
	}
	dest := access.Target{Kind: access.BlobID, ID: to}
	if op == "move" {
		return []access.Check{{Action: access.Delete, Target: source}, {Action: access.Write, Target: dest}}
	}
	return []access.Check{{Action: access.Write, Target: dest}}
}

// transferQuery returns the operation ("move" or "copy") and destination
// of a POST /v1/blobs/{id}: exactly one of move_to and copy_to, once.
func transferQuery(r *http.Request) (op, to string, err error) {
	q := r.URL.Query()
	moveTo, copyTo := q["move_to"], q["copy_to"]
	switch {
	case len(moveTo) == 1 && len(copyTo) == 0:
		return "move", moveTo[0], nil
	case len(copyTo) == 1 && len(moveTo) == 0:
		return "copy", copyTo[0], nil
	}
	return "", "", httpx.InvalidRequest("POST /v1/blobs/{id} needs one move_to=<id> or one copy_to=<id>")
}

// transfer serves POST /v1/blobs/{id}?move_to=<id> and ?copy_to=<id>: a
// move renames the blob by its metadata alone (read and delete on the
// source, write on the destination), a copy stores its bytes again under
// the destination without them passing through the client (read and
// write). Both answer 201 with the destination's blob object; a taken
// destination is 409. A destination outside a confined key's prefix is
// 404, as every id outside it is.
func (a *API) transfer(w http.ResponseWriter, r *http.Request, id string) {
	op, to, err := transferQuery(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	move := op == "move"
	var b blob.Blob
	if move {
		b, err = a.svc.Move(r.Context(), id, to)
	} else {
		b, err = a.svc.Copy(r.Context(), id, to)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", blobPrefix+url.PathEscape(b.ID))
	setCacheHeaders(w, b)
	writeJSON(w, http.StatusCreated, newBlobObject(b))
}

// usageResponse is the body of GET /v1/usage. The garbage members are
// absent for a confined key or a prefix: garbage no longer belongs to an
// id.
type usageResponse struct {
	Prefix         string `json:"prefix"`
	Blobs          int64  `json:"blobs"`
	Bytes          int64  `json:"bytes"`
	Uploads        int64  `json:"uploads"`
	UploadBytes    int64  `json:"upload_bytes"`
	GarbageKeys    *int64 `json:"garbage_keys,omitempty"`
	GarbageBytes   *int64 `json:"garbage_bytes,omitempty"`
	GarbagePartial *bool  `json:"garbage_partial,omitempty"`
}

// usage serves GET /v1/usage?prefix=: the blobs and bytes stored under
// the prefix (a confined key's own prefix at least) and its unfinished
// uploads; for the whole drive, also the bytes awaiting collection.
func (a *API) usage(w http.ResponseWriter, r *http.Request, _ string) {
	// The access decision narrowed the prefix to the key's (fromQuery).
	d := grantFrom(r).decision
	resp := usageResponse{Prefix: d.ListPrefix}
	if !d.ListNothing {
		u, err := a.svc.Usage(r.Context(), d.ListPrefix, d.ListPrefix == "")
		if err != nil {
			a.fail(w, r, err)
			return
		}
		resp = usageResponse{Prefix: d.ListPrefix, Blobs: u.Blobs, Bytes: u.Bytes, Uploads: u.Uploads, UploadBytes: u.UploadBytes}
		if d.ListPrefix == "" {
			resp.GarbageKeys, resp.GarbageBytes, resp.GarbagePartial = &u.GarbageKeys, &u.GarbageBytes, &u.GarbagePartial
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// publicURL returns the absolute URL of path on this server: under
// PUBLIC_URL when set, else the scheme and host the request came to.
func (a *API) publicURL(r *http.Request, path string) string {
	if a.cfg.PublicURL != "" {
		return strings.TrimSuffix(a.cfg.PublicURL, "/") + path
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}
