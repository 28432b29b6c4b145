package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/httpapi"
	"github.com/simpledrive/simpledrive/internal/links"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// The access matrix: every route and method of the route table against
// every kind of principal, each cell's expected status written once in
// matrixRows. Columns, in the order of each row's statuses:
var matrixColumns = []string{
	"operator", "read", "write", "delete", "admin", // the operator and single-scope keys
	// a key with every scope confined to team-a/, with ids inside, outside
	// and crafted to look inside
	"inside", "outside", "encoded", "dotdot", "prefix-of-prefix", "no-slash", "look-alike", "fullwidth",
	"expired", "revoked", "revoked-other", // keys refused: expired, revoked on this server, on the other
	"link", "link-tampered", "link-expired", // signed links to the cell's blob, no token
	"none", // no credentials
}

// matrixIDs are the blob ids each column touches, %d being the cell's
// number, and how the id is written in a path ("" for escapeID of the id).
var matrixIDs = map[string]struct{ id, path string }{
	"inside":           {"team-a/c%d", ""},
	"outside":          {"team-b/c%d", ""},
	"encoded":          {"team-a/c%d", "team%%2Da%%2Fc%d"},               // percent-encoding of the inside id
	"dotdot":           {"team-a/../team-b/c%d", "team-a/../team-b/c%d"}, // an id of its own, never cleaned
	"prefix-of-prefix": {"team-c%d", ""},
	"no-slash":         {"team-ac%d", ""},
	"look-alike":       {"team\u2010a/c%d", ""}, // U+2010 HYPHEN
	"fullwidth":        {"team-a\uff0fc%d", ""}, // U+FF0F FULLWIDTH SOLIDUS
}

// A matrixRow is one request of one route and method; its statuses are
// the expected status for each column of matrixColumns.
type matrixRow struct {
	statuses        string
	method, pattern string
	// request returns the path (with query) and body of the cell's
	// request; setup, run with the operator's token before it, makes what
	// the request needs.
	request func(c *matrixCell) (path, body string)
	setup   func(c *matrixCell)
	headers map[string]string
}

func blobItem(form string) func(c *matrixCell) (string, string) {
	return func(c *matrixCell) (string, string) { return "/v1/blobs/" + c.path + form, "" }
}

func noBody(path string) func(*matrixCell) (string, string) {
	return func(*matrixCell) (string, string) { return path, "" }
}

var tusHeaders = map[string]string{"Tus-Resumable": "1.0.0"}

var matrixRows = []matrixRow{
	//op  rd  wr  dl  adm in  out enc ..  tm- tma lk  fw  exp rev rvB lnk lnT lnX no
	{"200 200 403 403 403 200 200 200 200 200 200 200 200 401 401 401 401 401 401 401", "GET", "/v1/blobs", listing, nil, nil},
	{"200 200 403 403 403 200 200 200 200 200 200 200 200 401 401 401 401 401 401 401", "HEAD", "/v1/blobs", listing, nil, nil},
	{"201 403 201 403 403 201 404 201 201 404 404 404 404 401 401 401 401 401 401 401", "POST", "/v1/blobs", jsonCreate, nil, nil},
	{"200 200 403 403 403 200 404 200 200 404 404 404 404 401 401 401 403 403 403 401", "GET", "/v1/blobs/{id}", blobItem(""), stored, nil},
	{"200 200 403 403 403 200 404 200 200 404 404 404 404 401 401 401 200 403 403 401", "GET", "/v1/blobs/{id}", blobItem("?alt=media"), stored, nil},
	{"200 200 403 403 403 200 404 200 200 404 404 404 404 401 401 401 403 403 403 401", "GET", "/v1/blobs/{id}", blobItem("?meta=1"), stored, nil},
	{"200 200 403 403 403 200 404 200 200 404 404 404 404 401 401 401 403 403 403 401", "HEAD", "/v1/blobs/{id}", blobItem(""), stored, nil},
	{"200 200 403 403 403 200 404 200 200 404 404 404 404 401 401 401 200 403 403 401", "HEAD", "/v1/blobs/{id}", blobItem("?alt=media"), stored, nil},
	{"201 403 201 403 403 201 404 201 201 404 404 404 404 401 401 401 403 403 403 401", "PUT", "/v1/blobs/{id}", rawPut, nil, nil},
	{"204 403 403 204 403 204 404 204 204 404 404 404 404 401 401 401 403 403 403 401", "DELETE", "/v1/blobs/{id}", blobItem(""), stored, nil},
	{"201 403 403 403 403 201 404 201 201 404 404 404 404 401 401 401 403 403 403 401", "POST", "/v1/blobs/{id}", transfer("move_to"), stored, nil},
	{"201 403 403 403 403 201 404 201 201 404 404 404 404 401 401 401 403 403 403 401", "POST", "/v1/blobs/{id}", transfer("copy_to"), stored, nil},
	{"200 200 403 403 403 200 200 200 200 200 200 200 200 401 401 401 401 401 401 401", "GET", "/v1/usage", usage, nil, nil},
	{"200 200 403 403 403 200 200 200 200 200 200 200 200 401 401 401 401 401 401 401", "HEAD", "/v1/usage", usage, nil, nil},
	{"201 201 403 403 403 201 404 201 201 404 404 404 404 401 401 401 401 401 401 401", "POST", "/v1/links", linkRequest, stored, nil},
	{"201 403 201 403 403 201 404 201 201 404 404 404 404 401 401 401 401 401 401 401", "POST", "/v1/uploads/{upload}", tusCreate, nil, tusHeaders},
	{"200 403 200 403 403 200 404 200 200 404 404 404 404 401 401 401 401 401 401 401", "HEAD", "/v1/uploads/{upload}", uploadPath, uploading, tusHeaders},
	{"204 403 204 403 403 204 404 204 204 404 404 404 404 401 401 401 401 401 401 401", "PATCH", "/v1/uploads/{upload}", tusPatch, uploading, tusPatchHeaders},
	{"204 403 204 403 403 204 404 204 204 404 404 404 404 401 401 401 401 401 401 401", "DELETE", "/v1/uploads/{upload}", uploadPath, uploading, tusHeaders},
	{"204 403 204 403 403 204 204 204 204 204 204 204 204 401 401 401 401 401 401 401", "OPTIONS", "/v1/uploads/{upload}", noBody("/v1/uploads"), nil, nil},
	{"200 403 403 403 200 200 200 200 200 200 200 200 200 401 401 401 401 401 401 401", "GET", "/v1/keys", noBody("/v1/keys"), nil, nil},
	{"201 403 403 403 403 201 201 201 201 201 201 201 201 401 401 401 401 401 401 401", "POST", "/v1/keys", keyCreate, nil, nil}, // an admin-only key cannot grant read
	{"200 403 403 403 200 200 200 200 200 200 200 200 200 401 401 401 401 401 401 401", "GET", "/v1/keys/{key_id}", keyItem, keyMade, nil},
	{"204 403 403 403 204 204 204 204 204 204 204 204 204 401 401 401 401 401 401 401", "DELETE", "/v1/keys/{key_id}", keyItem, keyMade, nil},
	{"200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200", "GET", "/healthz", noBody("/healthz"), nil, nil},
	{"200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200", "HEAD", "/healthz", noBody("/healthz"), nil, nil},
	{"200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200", "GET", "/readyz", noBody("/readyz"), nil, nil},
	{"200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200", "HEAD", "/readyz", noBody("/readyz"), nil, nil},
	{"200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200", "GET", "/metrics", noBody("/metrics"), nil, nil},
	{"200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200", "HEAD", "/metrics", noBody("/metrics"), nil, nil},
	{"200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200", "GET", "/openapi.json", noBody("/openapi.json"), nil, nil},
	{"200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200", "HEAD", "/openapi.json", noBody("/openapi.json"), nil, nil},
}

// A matrixCell is one request of the matrix.
type matrixCell struct {
	t        *testing.T
	m        *matrix
	n        int
	id, path string // the blob id, and how the path writes it
	upload   string // the path of the operator's upload of id (uploading)
	keyID    string // a key confined to team-a/sub/ (keyMade)
}

func listing(c *matrixCell) (string, string) { return "/v1/blobs?prefix=" + url.QueryEscape(c.id), "" }
func usage(c *matrixCell) (string, string)   { return "/v1/usage?prefix=" + url.QueryEscape(c.id), "" }

// transfer moves or copies the cell's blob to an id inside team-a/.
func transfer(op string) func(c *matrixCell) (string, string) {
	return func(c *matrixCell) (string, string) {
		return "/v1/blobs/" + c.path + "?" + op + "=" + url.QueryEscape(fmt.Sprintf("team-a/dest%d", c.n)), ""
	}
}
func jsonCreate(c *matrixCell) (string, string) {
	return "/v1/blobs", createBody(c.id, []byte("x"))
}
func rawPut(c *matrixCell) (string, string) { return "/v1/blobs/" + c.path, "x" }
func linkRequest(c *matrixCell) (string, string) {
	body, _ := json.Marshal(map[string]any{"id": c.id, "expires_in": 60})
	return "/v1/links", string(body)
}
func tusCreate(c *matrixCell) (string, string)  { return "/v1/uploads", "" }
func uploadPath(c *matrixCell) (string, string) { return c.upload, "" }
func tusPatch(c *matrixCell) (string, string)   { return c.upload, "x" }
func keyCreate(c *matrixCell) (string, string) {
	return "/v1/keys", `{"name":"made","scopes":["read"],"prefix":"team-a/made/"}`
}
func keyItem(c *matrixCell) (string, string) { return "/v1/keys/" + c.keyID, "" }

var tusPatchHeaders = map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}

// stored stores the cell's blob.
func stored(c *matrixCell) {
	expectStatus(c.t, c.m.a.putRaw(c.id, []byte("x"), nil), http.StatusCreated)
}

// uploading creates an upload of one byte for the cell's blob.
func uploading(c *matrixCell) {
	r := c.m.a.request(http.MethodPost, "/v1/uploads", nil, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": "1", "Upload-Metadata": metadata("id", c.id), "Content-Type": "",
	})
	expectStatus(c.t, r, http.StatusCreated)
	c.upload = r.Header.Get("Location")
}

// keyMade makes a key confined inside team-a/.
func keyMade(c *matrixCell) {
	c.keyID = c.m.a.createKey(`{"name":"victim","scopes":["read"],"prefix":"team-a/sub/"}`).KeyID
}

// matrix is two servers over one PostgreSQL database and one storage
// directory, as two replicas, and the credentials of the columns.
type matrix struct {
	a, b   *server
	tokens map[string]string
}

// TestAccessMatrix checks every cell of the route x principal matrix, and
// that every route and method of the route table has a row.
func TestAccessMatrix(t *testing.T) {
	covered := map[string]bool{}
	for _, row := range matrixRows {
		covered[row.method+" "+row.pattern] = true
		if got := len(strings.Fields(row.statuses)); got != len(matrixColumns) {
			t.Fatalf("%s %s: %d statuses for %d columns", row.method, row.pattern, got, len(matrixColumns))
		}
	}
	for _, rt := range httpapi.OpenAPIRoutes() {
		for _, m := range rt.Methods {
			if !covered[m+" "+rt.Pattern] {
				t.Errorf("the route table has %s %s, and the access matrix no row for it", m, rt.Pattern)
			}
		}
	}
	m := startMatrix(t)
	n, failed := 0, 0
	for _, row := range matrixRows {
		want := strings.Fields(row.statuses)
		for i, col := range matrixColumns {
			n++
			c := &matrixCell{t: t, m: m, n: n}
			c.id, c.path = fmt.Sprintf("m/c%d", n), ""
			if p, ok := matrixIDs[col]; ok {
				c.id = fmt.Sprintf(p.id, n)
				if p.path != "" {
					c.path = fmt.Sprintf(p.path, n)
				}
			} else if strings.HasPrefix(col, "link") {
				c.id = fmt.Sprintf("team-a/c%d", n)
			}
			if c.path == "" {
				c.path = escapeID(c.id)
			}
			if row.setup != nil {
				row.setup(c)
			}
			r := m.send(c, row, col)
			if got := strconv.Itoa(r.StatusCode); got != want[i] {
				failed++
				t.Errorf("%s %s as %s (id %q) = %s %s; want %s", row.method, row.pattern, col, c.id, got, truncate(r.body), want[i])
			}
			if row.pattern == "/v1/blobs" && row.method == "GET" && r.StatusCode == http.StatusOK && matrixIDs[col].id != "" {
				checkConfinedListing(t, r, col)
			}
		}
	}
	t.Logf("access matrix: %d rows (%d route methods) x %d principals = %d cells, %d differing", len(matrixRows), len(covered), len(matrixColumns), n, failed)
}

// checkConfinedListing fails unless a listing by the team-a/ key shows
// only ids under team-a/.
func checkConfinedListing(t *testing.T, r response, col string) {
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
		if !strings.HasPrefix(b.ID, "team-a/") {
			t.Errorf("the listing of a key confined to team-a/ (%s) shows %q", col, b.ID)
		}
	}
}

// send sends the cell's request with the column's credentials.
func (m *matrix) send(c *matrixCell, row matrixRow, col string) response {
	path, body := row.request(c)
	headers := map[string]string{"Authorization": "", "Content-Type": ""}
	for k, v := range row.headers {
		headers[k] = v
	}
	switch {
	case row.method == "POST" && row.pattern == "/v1/uploads/{upload}":
		headers["Upload-Length"] = "1"
		headers["Upload-Metadata"] = metadata("id", c.id)
	case strings.HasPrefix(path, "/v1/blobs") || strings.HasPrefix(path, "/v1/links") || strings.HasPrefix(path, "/v1/keys"):
		if body != "" {
			headers["Content-Type"] = "application/json"
		}
	}
	server := m.a
	switch {
	case col == "revoked-other":
		server = m.b
		headers["Authorization"] = "Bearer " + m.tokens[col]
	case strings.HasPrefix(col, "link"):
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + m.linkQuery(c, col)
	case col == "none":
	default:
		token, ok := m.tokens[col]
		if !ok {
			token = m.tokens["team-a"]
		}
		headers["Authorization"] = "Bearer " + token
	}
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
		return server.request(row.method, path, rd, headers)
	}
	return server.request(row.method, path, nil, headers)
}

// linkQuery returns the expires, v and sig of a link to the cell's blob,
// valid, tampered with or expired, without alt (the row's form decides).
// The blob is stored first when the row did not.
func (m *matrix) linkQuery(c *matrixCell, col string) string {
	meta := m.a.request(http.MethodGet, blobPath(c.id)+"?meta=1", nil, nil)
	if meta.StatusCode == http.StatusNotFound {
		stored(c)
		meta = m.a.request(http.MethodGet, blobPath(c.id)+"?meta=1", nil, nil)
	}
	expectStatus(c.t, meta, http.StatusOK)
	var b struct {
		CreatedAt string `json:"created_at"`
	}
	json.Unmarshal(meta.body, &b)
	expires := time.Now().Add(time.Minute)
	if col == "link-expired" {
		expires = time.Now().Add(-time.Second)
	}
	q := links.NewSigner(links.DeriveKey(token), time.Hour).Sign(links.Blob{ID: c.id, CreatedAt: parseTime(c.t, b.CreatedAt)}, expires)
	q.Del("alt")
	if col == "link-tampered" {
		sig := []byte(q.Get("sig"))
		sig[0] ^= 1
		q.Set("sig", string(sig))
	}
	return q.Encode()
}

// startMatrix starts the two servers and makes the columns' keys: the
// expired key has expired, the revoked ones are refused by both servers
// (the other server once its key cache, warmed before the revocation,
// has let the key go).
func startMatrix(t *testing.T) *matrix {
	dbURL := testenv.PostgresURL(t)
	c := testConfig(t)
	c.DatabaseURL = dbURL
	c.Ops.KeyCacheTTL = 200 * time.Millisecond
	m := &matrix{a: startServer(t, c), b: startServer(t, c), tokens: map[string]string{}}
	m.tokens["operator"] = token
	for _, scope := range []string{"read", "write", "delete", "admin"} {
		m.tokens[scope] = m.a.createKey(`{"name":"` + scope + `","scopes":["` + scope + `"]}`).Token
	}
	m.tokens["team-a"] = m.a.createKey(`{"name":"team a","scopes":["read","write","delete","admin"],"prefix":"team-a/"}`).Token
	expired := m.a.createKey(`{"name":"expired","scopes":["read","write","delete","admin"],"expires_in":1}`)
	m.tokens["expired"] = expired.Token
	for _, col := range []string{"revoked", "revoked-other"} {
		k := m.a.createKey(`{"name":"` + col + `","scopes":["read","write","delete","admin"]}`)
		m.tokens[col] = k.Token
		expectStatus(t, m.a.request(http.MethodGet, "/v1/blobs", nil, bearer(k.Token)), http.StatusOK)
		expectStatus(t, m.b.request(http.MethodGet, "/v1/blobs", nil, bearer(k.Token)), http.StatusOK) // b caches it
		expectStatus(t, m.a.request(http.MethodDelete, "/v1/keys/"+k.KeyID, nil, nil), http.StatusNoContent)
	}
	// Waiting out the other server's cache and the expiry is what the two
	// columns test.
	for m.b.request(http.MethodGet, "/v1/blobs", nil, bearer(m.tokens["revoked-other"])).StatusCode != http.StatusUnauthorized {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Until(parseTime(t, *expired.ExpiresAt)))
	return m
}
