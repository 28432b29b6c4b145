package httpapi

import (
	"cmp"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/simpledrive/simpledrive/internal/httpx"
	"github.com/simpledrive/simpledrive/internal/keys"
)

// Paths of key management (DESIGN section 8).
const (
	keysPath  = "/v1/keys"
	keyPrefix = "/v1/keys/"
)

// maxKeyRequest bounds the body of POST /v1/keys.
const maxKeyRequest = 16 << 10

// keyObject is the JSON form of a key. Token is set only in the answer to
// its creation.
type keyObject struct {
	KeyID      string   `json:"key_id"`
	Name       string   `json:"name"`
	Scopes     []string `json:"scopes"`
	Prefix     *string  `json:"prefix"`
	CreatedAt  string   `json:"created_at"`
	ExpiresAt  *string  `json:"expires_at"`
	RevokedAt  *string  `json:"revoked_at,omitempty"`
	LastUsedAt *string  `json:"last_used_at,omitempty"`
	Token      string   `json:"token,omitempty"`
	// S3 says whether the key has S3 credentials; its access key id is
	// the key id. The secret access key is set only in the answer to the
	// key's creation.
	S3                bool   `json:"s3,omitempty"`
	S3AccessKeyID     string `json:"s3_access_key_id,omitempty"`
	S3SecretAccessKey string `json:"s3_secret_access_key,omitempty"`
}

func newKeyObject(k keys.Key, listing bool) keyObject {
	o := keyObject{KeyID: k.ID, Name: k.Name, Scopes: k.Scopes.Names(), CreatedAt: formatTime(k.CreatedAt), S3: k.S3Sealed != ""}
	if o.S3 {
		o.S3AccessKeyID = k.ID
	}
	if k.Prefix != "" {
		o.Prefix = &k.Prefix
	}
	o.ExpiresAt = optionalTime(k.ExpiresAt)
	if listing {
		o.RevokedAt, o.LastUsedAt = optionalTime(k.RevokedAt), optionalTime(k.LastUsedAt)
	}
	return o
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func optionalTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := formatTime(t)
	return &s
}

// keysCollection serves POST and GET /v1/keys.
func (a *API) keysCollection(w http.ResponseWriter, r *http.Request, _ string) {
	if a.cfg.Keys == nil {
		httpx.WriteProblem(w, http.StatusNotFound, httpx.CodeNotFound, "API keys are not enabled on this server")
		return
	}
	r, cancel := a.serverWork(r)
	defer cancel()
	if r.Method == http.MethodPost {
		a.createKey(w, r)
		return
	}
	all, err := a.cfg.Keys.List(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	caller := grantFrom(r).principal
	out := struct {
		Keys []keyObject `json:"keys"`
	}{Keys: []keyObject{}}
	for _, k := range all {
		if caller.Manages(k.Prefix) {
			out.Keys = append(out.Keys, newKeyObject(k, true))
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

// keyRequest is the body of POST /v1/keys.
type keyRequest struct {
	Name      string   `json:"name" strictjson:"required"`
	Scopes    []string `json:"scopes" strictjson:"required"`
	Prefix    string   `json:"prefix"`
	ExpiresIn *int64   `json:"expires_in"`
	S3        bool     `json:"s3"`
}

// createKey serves POST /v1/keys. A key never grants more than its
// creator holds ([access.Principal.KeySpec]): its scopes are among the
// creator's, its prefix inside the creator's (403 forbidden otherwise),
// and it expires no later than the creator.
func (a *API) createKey(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			httpx.WriteProblem(w, http.StatusUnsupportedMediaType, httpx.CodeUnsupportedMedia, "send the body as application/json")
			return
		}
	}
	req, err := parseKeyRequest(http.MaxBytesReader(w, r.Body, maxKeyRequest))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	scopes, err := keys.ParseScopes(req.Scopes)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	spec, err := grantFrom(r).principal.KeySpec(keys.Spec{
		Name: req.Name, Scopes: scopes, Prefix: req.Prefix, ExpiresIn: time.Duration(*cmp.Or(req.ExpiresIn, new(int64))) * time.Second,
		S3: req.S3,
	}, time.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	key, secrets, err := a.cfg.Keys.CreateKey(r.Context(), spec)
	if errors.Is(err, keys.ErrNoS3Key) {
		httpx.WriteProblem(w, http.StatusBadRequest, httpx.CodeInvalidRequest, "this server does not make S3 credentials")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	obj := newKeyObject(key, false)
	obj.Token, obj.S3SecretAccessKey = secrets.Token, secrets.S3SecretAccessKey
	w.Header().Set("Location", keyPrefix+key.ID)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, obj)
}

// parseKeyRequest decodes a POST /v1/keys body strictly ([decodeStrict]).
func parseKeyRequest(body io.Reader) (keyRequest, error) {
	var req keyRequest
	if err := decodeStrict(body, maxKeyRequest, &req); err != nil {
		return keyRequest{}, err
	}
	if n := req.ExpiresIn; n != nil && (*n <= 0 || *n > math.MaxInt64/int64(time.Second)) {
		return keyRequest{}, httpx.InvalidRequest("expires_in must be a positive number of seconds")
	}
	return req, nil
}

// keyItem serves GET and DELETE /v1/keys/{key_id}. A key outside what the
// caller may manage answers 404, as if absent.
func (a *API) keyItem(w http.ResponseWriter, r *http.Request, rest string) {
	if a.cfg.Keys == nil {
		httpx.WriteProblem(w, http.StatusNotFound, httpx.CodeNotFound, "API keys are not enabled on this server")
		return
	}
	id, err := url.PathUnescape(rest)
	if err != nil {
		a.fail(w, r, keys.ErrNotFound)
		return
	}
	r, cancel := a.serverWork(r)
	defer cancel()
	key, err := a.cfg.Keys.Get(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !grantFrom(r).principal.Manages(key.Prefix) {
		a.fail(w, r, keys.ErrNotFound)
		return
	}
	if r.Method == http.MethodGet {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, newKeyObject(key, true))
		return
	}
	if err := a.cfg.Keys.Revoke(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
