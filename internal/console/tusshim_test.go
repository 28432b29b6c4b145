package console_test

// A stand-in for the tus uploads (/v1/uploads/) and signed links
// (/v1/links) of DESIGN section 7, used by the browser test only while the
// server under test does not route them yet (the tus branch has not
// landed): it speaks the same wire protocol in front of the real server
// and finishes each upload with a raw PUT. Delete this file once the
// server answers OPTIONS /v1/uploads/ itself.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

type shim struct {
	backend string // http://host:port of the real server
	token   string
	dir     string
	proxy   *httputil.ReverseProxy
	key     []byte

	mu      sync.Mutex
	next    int
	uploads map[string]*shimUpload
}

type shimUpload struct {
	mu          sync.Mutex
	blobID, ct  string
	length, off int64
	path        string
}

func newShim(backend, token, dir string) *shim {
	u, _ := url.Parse(backend)
	p := httputil.NewSingleHostReverseProxy(u)
	p.FlushInterval = -1
	return &shim{backend: backend, token: token, dir: dir, proxy: p, key: []byte("shim-key"), uploads: map[string]*shimUpload{}}
}

func shimProblem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail, "code": code})
}

func (s *shim) sign(id string, expires int64) string {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%s\n%d", id, expires)
	return hex.EncodeToString(m.Sum(nil))
}

func (s *shim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/v1/links":
		s.link(w, r)
	case strings.HasPrefix(p, "/v1/uploads"):
		if r.Header.Get("Authorization") != "Bearer "+s.token {
			shimProblem(w, 401, "unauthorized", "missing or invalid bearer token")
			return
		}
		w.Header().Set("Tus-Resumable", "1.0.0")
		id := strings.Trim(strings.TrimPrefix(p, "/v1/uploads"), "/")
		s.upload(w, r, id)
	case strings.HasPrefix(p, "/v1/blobs/") && r.URL.Query().Has("sig"):
		q := r.URL.Query()
		id, _ := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/v1/blobs/"))
		exp, _ := strconv.ParseInt(q.Get("expires"), 10, 64)
		if !hmac.Equal([]byte(q.Get("sig")), []byte(s.sign(id, exp))) || time.Now().Unix() > exp || q.Get("alt") != "media" {
			shimProblem(w, 403, "invalid_signature", "the link has expired or its signature is not valid for this blob")
			return
		}
		q.Del("sig")
		q.Del("expires")
		r2 := r.Clone(r.Context())
		r2.URL.RawQuery = q.Encode()
		r2.Header.Set("Authorization", "Bearer "+s.token)
		s.proxy.ServeHTTP(w, r2)
	default:
		s.proxy.ServeHTTP(w, r)
	}
}

func (s *shim) exists(id string) (bool, error) {
	req, _ := http.NewRequest(http.MethodHead, s.backend+"/v1/blobs/"+escapeID(id)+"?meta=1", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	res.Body.Close()
	return res.StatusCode == 200, nil
}

func escapeID(id string) string {
	parts := strings.Split(id, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func (s *shim) link(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		shimProblem(w, 401, "unauthorized", "missing or invalid bearer token")
		return
	}
	var body struct {
		ID        string `json:"id"`
		ExpiresIn int64  `json:"expires_in"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.ExpiresIn <= 0 {
		shimProblem(w, 400, "invalid_request", "bad link request")
		return
	}
	if ok, err := s.exists(body.ID); err != nil || !ok {
		shimProblem(w, 404, "blob_not_found", "no blob has this id")
		return
	}
	exp := time.Now().Unix() + body.ExpiresIn
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	json.NewEncoder(w).Encode(map[string]string{"url": fmt.Sprintf("/v1/blobs/%s?alt=media&expires=%d&sig=%s", escapeID(body.ID), exp, s.sign(body.ID, exp))})
}

func (s *shim) upload(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method == http.MethodPost && id == "" {
		md := map[string]string{}
		for _, kv := range strings.Split(r.Header.Get("Upload-Metadata"), ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), " ")
			b, _ := base64.StdEncoding.DecodeString(v)
			md[k] = string(b)
		}
		length, err := strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64)
		if err != nil || md["id"] == "" {
			shimProblem(w, 400, "invalid_request", "Upload-Length and an id are required")
			return
		}
		if ok, err := s.exists(md["id"]); err != nil || ok {
			shimProblem(w, 409, "blob_exists", "a blob with this id already exists")
			return
		}
		s.mu.Lock()
		s.next++
		uid := strconv.Itoa(s.next)
		u := &shimUpload{blobID: md["id"], ct: md["content_type"], length: length, path: filepath.Join(s.dir, "upload-"+uid)}
		s.uploads[uid] = u
		s.mu.Unlock()
		os.WriteFile(u.path, nil, 0o600)
		w.Header().Set("Location", "/v1/uploads/"+uid)
		w.Header().Set("Upload-Offset", "0")
		w.WriteHeader(201)
		if length == 0 {
			s.finish(u)
		}
		return
	}
	s.mu.Lock()
	u := s.uploads[id]
	s.mu.Unlock()
	if u == nil {
		shimProblem(w, 404, "upload_not_found", "no such upload")
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	switch r.Method {
	case http.MethodHead:
		w.Header().Set("Upload-Offset", strconv.FormatInt(u.off, 10))
		w.Header().Set("Upload-Length", strconv.FormatInt(u.length, 10))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(200)
	case http.MethodDelete:
		s.mu.Lock()
		delete(s.uploads, id)
		s.mu.Unlock()
		os.Remove(u.path)
		w.WriteHeader(204)
	case http.MethodPatch:
		off, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
		if err != nil || off != u.off {
			shimProblem(w, 409, "offset_mismatch", "Upload-Offset is not the upload's offset")
			return
		}
		f, err := os.OpenFile(u.path, os.O_WRONLY, 0)
		if err != nil {
			shimProblem(w, 500, "internal", err.Error())
			return
		}
		f.Seek(off, io.SeekStart)
		n, err := io.Copy(f, io.LimitReader(r.Body, u.length-off))
		f.Close()
		u.off += n
		if err != nil {
			return // the client went away; HEAD tells it where to go on
		}
		if u.off == u.length {
			if status := s.finish(u); status != 201 {
				shimProblem(w, status, "blob_exists", "a blob with this id already exists")
				return
			}
		}
		w.Header().Set("Upload-Offset", strconv.FormatInt(u.off, 10))
		w.WriteHeader(204)
	default:
		shimProblem(w, 405, "method_not_allowed", r.Method+" is not allowed here")
	}
}

func (s *shim) finish(u *shimUpload) int {
	f, err := os.Open(u.path)
	if err != nil {
		return 500
	}
	defer f.Close()
	req, _ := http.NewRequest(http.MethodPut, s.backend+"/v1/blobs/"+escapeID(u.blobID), f)
	req.ContentLength = u.length
	req.Header.Set("Authorization", "Bearer "+s.token)
	if u.ct != "" {
		req.Header.Set("Content-Type", u.ct)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 502
	}
	res.Body.Close()
	return res.StatusCode
}
