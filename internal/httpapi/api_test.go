package httpapi_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/testenv"
)

// apiCase is one case of an API suite.
type apiCase struct {
	name string
	fn   func(t *testing.T, h *harness)
}

// apiSuite is the API suite of the seed's contract: each case on a
// server of its own.
var apiSuite = []apiCase{
	{"RoundTrips", testRoundTrips},
	{"IDs", testIDs},
	{"CreateResponse", testCreateResponse},
	{"Duplicate", testDuplicate},
	{"UnknownID", testUnknownID},
	{"MalformedJSON", testMalformedJSON},
	{"InvalidID", testInvalidID},
	{"InvalidBase64", testInvalidBase64},
	{"LineBreaksInBase64", testLineBreaksInBase64},
	{"TooLarge", testTooLarge},
	{"ContentType", testContentType},
	{"Auth", testAuth},
	{"AuthBeforeBody", testAuthBeforeBody},
	{"Routes", testRoutes},
	{"ConditionalGet", testConditionalGet},
	{"ConcurrentCreatesOfOneID", testConcurrentCreates},
}

// TestAPI runs the API suite on every stack, through the real HTTP stack.
func TestAPI(t *testing.T) {
	for _, s := range stacks {
		t.Run(s.name, func(t *testing.T) {
			for _, c := range apiSuite {
				t.Run(c.name, func(t *testing.T) {
					skipCaseUnderRace(t, s, c)
					c.fn(t, startStack(t, s))
				})
			}
		})
	}
}

// raceCases are the suites' cases whose point is a race: under the race
// detector they still run on every stack.
var raceCases = []string{"ConcurrentCreatesOfOneID"}

// skipCaseUnderRace skips case c of a suite on stack s under the race
// detector, unless s is one of testenv.RaceStacks or c one of raceCases.
func skipCaseUnderRace(t *testing.T, s stack, c apiCase) {
	t.Helper()
	if !slices.Contains(raceCases, c.name) {
		testenv.SkipStackUnderRace(t, s.name)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func testRoundTrips(t *testing.T, h *harness) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	cases := map[string][]byte{
		"all-bytes": all,
		"empty":     {},
		"5MiB":      randomBytes(t, 5<<20),
		// Around the 48 KiB blocks a GET reads and encodes at a time.
		"block-1": randomBytes(t, 48<<10-1),
		"block":   randomBytes(t, 48<<10),
		"block+1": randomBytes(t, 48<<10+1),
		"2blocks": randomBytes(t, 96<<10),
	}
	for id, data := range cases {
		expectStatus(t, h.postBlob(id, data), http.StatusCreated)
		got := decodeBlob(t, h.get(id))
		decoded, err := base64.StdEncoding.DecodeString(got.Data)
		if err != nil || !bytes.Equal(decoded, data) {
			t.Fatalf("%s: GET returned %d other bytes (err %v)", id, len(decoded), err)
		}
		if got.ID != id || got.Size != int64(len(data)) {
			t.Fatalf("%s: GET = id %q size %d; want %q, %d", id, got.ID, got.Size, id, len(data))
		}
	}
}

func testIDs(t *testing.T, h *harness) {
	ids := []string{
		"ünïcødé/日本語/☃ 🎉",
		"a/b",
		"..",
		"../../etc/passwd",
		"./x//y/",
		"with space and %25 and ?query#frag",
		"Case", "case",
		strings.Repeat("é", 512), // 1024 bytes
	}
	for i, id := range ids {
		data := []byte(fmt.Sprint("blob ", i))
		expectStatus(t, h.postBlob(id, data), http.StatusCreated)
		got := decodeBlob(t, h.get(id))
		if got.ID != id || got.Data != base64.StdEncoding.EncodeToString(data) {
			t.Fatalf("id %q: GET = %+v", id, got)
		}
	}
	// "a/b" and "a%2Fb" name one blob.
	raw := h.request(http.MethodGet, "/v1/blobs/a/b", nil, nil)
	expectStatus(t, raw, http.StatusOK)
	if decodeBlob(t, raw).ID != "a/b" {
		t.Fatalf("GET /v1/blobs/a/b = %s", raw.body)
	}
	// ".." reaches the blob whose id is "..", never another route.
	dots := h.request(http.MethodGet, "/v1/blobs/..", nil, nil)
	expectStatus(t, dots, http.StatusOK)
	if decodeBlob(t, dots).ID != ".." {
		t.Fatalf("GET /v1/blobs/.. = %s", dots.body)
	}
}

func testCreateResponse(t *testing.T, h *harness) {
	data := []byte("created")
	created := h.postBlob("a/b c", data)
	expectStatus(t, created, http.StatusCreated)
	if ct := created.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	c := decodeBlob(t, created)
	if c.ID != "a/b c" || c.Size != int64(len(data)) || c.Data != "" {
		t.Fatalf("201 body = %s", created.body)
	}
	parseTime(t, c.CreatedAt)
	sum := sha256.Sum256(data)
	wantTag := `"` + hex.EncodeToString(sum[:]) + `"`
	if tag := created.Header.Get("ETag"); tag != wantTag {
		t.Errorf("ETag = %q; want %q", tag, wantTag)
	}
	loc := created.Header.Get("Location")
	if loc != "/v1/blobs/a%2Fb%20c" {
		t.Errorf("Location = %q", loc)
	}
	for range 2 { // identical on every read
		got := h.request(http.MethodGet, loc, nil, nil)
		expectStatus(t, got, http.StatusOK)
		g := decodeBlob(t, got)
		if g.CreatedAt != c.CreatedAt || g.Size != c.Size || g.ID != c.ID {
			t.Fatalf("GET %s = %s; POST said %s", loc, got.body, created.body)
		}
		if tag := got.Header.Get("ETag"); tag != wantTag {
			t.Errorf("GET ETag = %q; want %q", tag, wantTag)
		}
		if got.ContentLength != int64(len(got.body)) {
			t.Errorf("Content-Length %d, body %d bytes", got.ContentLength, len(got.body))
		}
	}
	full := h.request(http.MethodGet, loc, nil, nil)
	head := h.request(http.MethodHead, loc, nil, nil)
	expectStatus(t, head, http.StatusOK)
	if head.Header.Get("ETag") != wantTag || len(head.body) != 0 || head.ContentLength != int64(len(full.body)) {
		t.Errorf("HEAD = %v %q; want the GET's ETag and Content-Length %d", head.Header, head.body, len(full.body))
	}
}

func testDuplicate(t *testing.T, h *harness) {
	expectStatus(t, h.postBlob("dup", []byte("first")), http.StatusCreated)
	expectProblem(t, h.postBlob("dup", []byte("second")), http.StatusConflict, "blob_exists")
	if got := decodeBlob(t, h.get("dup")); got.Data != base64.StdEncoding.EncodeToString([]byte("first")) {
		t.Fatalf("the duplicate overwrote the blob: %+v", got)
	}
}

func testUnknownID(t *testing.T, h *harness) {
	expectProblem(t, h.get("never-stored"), http.StatusNotFound, "blob_not_found")
	expectStatus(t, h.request(http.MethodHead, "/v1/blobs/never-stored", nil, nil), http.StatusNotFound)
}

func testMalformedJSON(t *testing.T, h *harness) {
	bodies := []string{
		``,
		`not json`,
		`[]`,
		`"string"`,
		`{`,
		`{"id":"x","data":"eA=="`,
		`{"id":"x"}`,
		`{"data":"eA=="}`,
		`{}`,
		`{"id":null,"data":"eA=="}`,
		`{"id":"x","data":null}`,
		`{"id":1,"data":"eA=="}`,
		`{"id":"x","data":["eA=="]}`,
		`{"id":"x","data":"eA==","extra":1}`,
		`{"ID":"x","data":"eA=="}`,
		`{"id":"x","Data":"eA=="}`,
		`{"id":"x","id":"y","data":"eA=="}`,
		`{"id":"x","data":"eA=="} trailing`,
		`{"id":"x","data":"eA=="}{}`,
		`{"id":"x" "data":"eA=="}`,
		`{"id":"x","data":"eA==",}`,
		`{"id":"x\q","data":"eA=="}`,
		"{\"id\":\"x\ty\",\"data\":\"eA==\"}",
	}
	for _, body := range bodies {
		r := h.post(body)
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("POST %q = %d %s; want 400", body, r.StatusCode, r.body)
			continue
		}
		expectProblem(t, r, http.StatusBadRequest, "invalid_request")
	}
	// Nothing was stored by any of them.
	expectProblem(t, h.get("x"), http.StatusNotFound, "blob_not_found")
}

func testInvalidID(t *testing.T, h *harness) {
	bodies := []string{
		`{"id":"","data":"eA=="}`,
		`{"id":"` + strings.Repeat("a", 1025) + `","data":"eA=="}`,
		`{"id":"` + strings.Repeat("é", 512) + `a","data":"eA=="}`,
		`{"id":"a\u0000b","data":"eA=="}`,
		`{"id":"line\nbreak","data":"eA=="}`,
		`{"id":"del\u007f","data":"eA=="}`,
		`{"id":"c1\u0085","data":"eA=="}`,
		`{"id":"lone \ud800 surrogate","data":"eA=="}`,
		`{"id":"lone \udc00 low","data":"eA=="}`,
		`{"id":"reversed \udc00\ud800","data":"eA=="}`,
		"{\"id\":\"bad \xff utf8\",\"data\":\"eA==\"}",
		"{\"id\":\"overlong \xc0\xaf\",\"data\":\"eA==\"}",
	}
	for _, body := range bodies {
		expectProblem(t, h.post(body), http.StatusBadRequest, "invalid_id")
	}
	// A valid surrogate pair is one character.
	expectStatus(t, h.post(`{"id":"pair \ud83c\udf89","data":"eA=="}`), http.StatusCreated)
	if got := decodeBlob(t, h.get("pair 🎉")); got.ID != "pair 🎉" {
		t.Fatalf("surrogate pair id stored as %q", got.ID)
	}
	// Ids that break the rules are refused on GET too.
	expectProblem(t, h.get(strings.Repeat("a", 1025)), http.StatusBadRequest, "invalid_id")
	expectProblem(t, h.request(http.MethodGet, "/v1/blobs/a%00b", nil, nil), http.StatusBadRequest, "invalid_id")
}

func testInvalidBase64(t *testing.T, h *harness) {
	for _, data := range []string{
		"eA",        // missing padding
		"eA=",       // short padding
		"-_-_",      // URL-safe alphabet
		"+/+/ +/+/", // space
		"eA==eA==",  // data after padding
		"eB==",      // non-zero padding bits
		"!!!!",
		"\\u00e9AAA", // non-ASCII
	} {
		expectProblem(t, h.post(`{"id":"b64","data":"`+data+`"}`), http.StatusBadRequest, "invalid_base64")
	}
	expectProblem(t, h.post("{\"id\":\"b64\",\"data\":\"\xff\xfe\"}"), http.StatusBadRequest, "invalid_base64")
	expectProblem(t, h.get("b64"), http.StatusNotFound, "blob_not_found")
}

func testLineBreaksInBase64(t *testing.T, h *harness) {
	data := randomBytes(t, 200)
	enc := base64.StdEncoding.EncodeToString(data)
	wrapped := enc[:76] + `\r\n` + enc[76:152] + `\n` + enc[152:]
	expectStatus(t, h.post(`{"id":"wrapped","data":"`+wrapped+`"}`), http.StatusCreated)
	if got := decodeBlob(t, h.get("wrapped")); got.Data != enc {
		t.Fatal("line-wrapped base64 decoded to other bytes")
	}
	// Escaped characters inside the base64 text are JSON, and allowed.
	expectStatus(t, h.post(`{"id":"escaped","data":"\u0065\u0041=="}`), http.StatusCreated)
	if got := decodeBlob(t, h.get("escaped")); got.Data != "eA==" {
		t.Fatalf("escaped base64 stored as %q", got.Data)
	}
}

func testTooLarge(t *testing.T, h *harness) {
	const limit = 6 << 20 // testConfig's MAX_BLOB_BYTES
	expectStatus(t, h.postBlob("at-limit", make([]byte, limit)), http.StatusCreated)
	// The same size, MIME-wrapped with CRLF every 76 characters, fits too.
	enc := base64.StdEncoding.EncodeToString(randomBytes(t, limit))
	var wrapped strings.Builder
	for len(enc) > 76 {
		wrapped.WriteString(enc[:76] + `\r\n`)
		enc = enc[76:]
	}
	wrapped.WriteString(enc)
	expectStatus(t, h.post(`{"id":"wrapped-at-limit","data":"`+wrapped.String()+`"}`), http.StatusCreated)
	expectProblem(t, h.postBlob("over-limit", make([]byte, limit+1)), http.StatusRequestEntityTooLarge, "too_large")
	expectProblem(t, h.get("over-limit"), http.StatusNotFound, "blob_not_found")

	// A body far over the limit, streamed without Content-Length, is cut
	// off while it is read.
	huge := io.MultiReader(strings.NewReader(`{"id":"huge","data":"`), io.LimitReader(repeatReader('A'), 64<<20), strings.NewReader(`"}`))
	r := h.request(http.MethodPost, "/v1/blobs", struct{ io.Reader }{huge}, nil)
	expectProblem(t, r, http.StatusRequestEntityTooLarge, "too_large")

	// A Content-Length over the limit is refused before reading: with
	// Expect: 100-continue the client waits for the verdict before sending.
	req, _ := http.NewRequest(http.MethodPost, h.url+"/v1/blobs", io.LimitReader(repeatReader('A'), 64<<20))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	req.ContentLength = 64 << 20
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("Content-Length over the limit: %v; want a 413 answer", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("Content-Length over the limit = %d; want 413", resp.StatusCode)
	}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func testContentType(t *testing.T, h *harness) {
	body := createBody("typed", []byte("x"))
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/jsonx", "multipart/form-data; boundary=x"} {
		r := h.request(http.MethodPost, "/v1/blobs", strings.NewReader(body), map[string]string{"Content-Type": ct})
		expectProblem(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
	}
	r := h.request(http.MethodPost, "/v1/blobs", strings.NewReader(body), map[string]string{"Content-Type": "application/json; charset=utf-8"})
	expectStatus(t, r, http.StatusCreated)
	r = h.request(http.MethodPost, "/v1/blobs", strings.NewReader(createBody("untyped", []byte("x"))), map[string]string{"Content-Type": ""})
	expectStatus(t, r, http.StatusCreated)
}

func testAuth(t *testing.T, h *harness) {
	expectStatus(t, h.postBlob("guarded", []byte("x")), http.StatusCreated)
	cases := []struct {
		name, header, wantChallenge string
	}{
		{"no header", "", `Bearer realm="simpledrive"`},
		{"wrong token", "Bearer wrong", `Bearer realm="simpledrive", error="invalid_token"`},
		{"token plus suffix", "Bearer " + token + "x", `Bearer realm="simpledrive", error="invalid_token"`},
		{"truncated token", "Bearer " + token[:len(token)-1], `Bearer realm="simpledrive", error="invalid_token"`},
		{"Bearer alone", "Bearer", `Bearer realm="simpledrive", error="invalid_request"`},
		{"Bearer and a space", "Bearer ", `Bearer realm="simpledrive", error="invalid_request"`},
		{"Basic with the token", "Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+token)), `Bearer realm="simpledrive"`},
		{"bare token", token, `Bearer realm="simpledrive"`},
		{"trailing garbage", "Bearer " + token + " garbage", `Bearer realm="simpledrive", error="invalid_token"`},
		{"spaces alone", "Bearer   ", `Bearer realm="simpledrive", error="invalid_request"`},
	}
	for _, c := range cases {
		headers := map[string]string{"Authorization": c.header}
		for _, r := range []response{
			h.request(http.MethodGet, "/v1/blobs/guarded", nil, headers),
			h.request(http.MethodPost, "/v1/blobs", strings.NewReader(createBody("new", []byte("x"))), headers),
		} {
			expectProblem(t, r, http.StatusUnauthorized, "unauthorized")
			if got := r.Header.Get("WWW-Authenticate"); got != c.wantChallenge {
				t.Errorf("%s: WWW-Authenticate = %q; want %q", c.name, got, c.wantChallenge)
			}
		}
	}
	expectProblem(t, h.get("new"), http.StatusNotFound, "blob_not_found")
	// The scheme name is case-insensitive, and one or more spaces may
	// follow it (RFC 6750 section 2.1).
	for _, auth := range []string{"bearer " + token, "BEARER " + token, "bEaReR " + token, "Bearer  " + token, "Bearer    " + token} {
		r := h.request(http.MethodGet, "/v1/blobs/guarded", nil, map[string]string{"Authorization": auth})
		expectStatus(t, r, http.StatusOK)
	}
	// Unknown /v1/ routes are guarded too.
	expectProblem(t, h.request(http.MethodGet, "/v1/other", nil, map[string]string{"Authorization": ""}), http.StatusUnauthorized, "unauthorized")
}

// testAuthBeforeBody sends an upload's headers alone, with a wrong token or
// none, and waits for the answer before sending any of its body: only a
// server that decides before reading the body can answer 401 then. The
// deadline is a failure bound: a server reading first would wait for the
// body forever.
func testAuthBeforeBody(t *testing.T, h *harness) {
	addr := strings.TrimPrefix(h.url, "http://")
	for _, auth := range []string{"Authorization: Bearer wrong\r\n", ""} {
		for _, contentType := range []string{"application/json", "text/plain"} {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "POST /v1/blobs HTTP/1.1\r\nHost: x\r\n%sContent-Type: %s\r\nContent-Length: %d\r\n\r\n", auth, contentType, 32<<20)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				c.Close()
				t.Fatalf("no answer to headers alone (%v): the server waits for the body before checking the token", err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			c.Close()
			expectProblem(t, response{resp, body}, http.StatusUnauthorized, "unauthorized")
		}
	}
}

func testRoutes(t *testing.T, h *harness) {
	expectProblem(t, h.request(http.MethodGet, "/nowhere", nil, nil), http.StatusNotFound, "not_found")
	expectProblem(t, h.request(http.MethodGet, "/v1/nothing", nil, nil), http.StatusNotFound, "not_found")
	expectProblem(t, h.request(http.MethodGet, "/v2/blobs", nil, nil), http.StatusNotFound, "not_found")
	cases := []struct{ method, path, allow string }{
		{http.MethodPut, "/v1/blobs", "GET, HEAD, POST"},
		{http.MethodDelete, "/v1/blobs", "GET, HEAD, POST"},
		{http.MethodPatch, "/v1/blobs/x", "GET, HEAD, PUT, DELETE, POST"},
		{http.MethodPost, "/healthz", "GET, HEAD"},
	}
	for _, c := range cases {
		r := h.request(c.method, c.path, nil, nil)
		expectProblem(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
		if got := r.Header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow = %q; want %q", c.method, c.path, got, c.allow)
		}
	}
	health := h.request(http.MethodGet, "/healthz", nil, map[string]string{"Authorization": ""})
	expectStatus(t, health, http.StatusOK)
}

func testConditionalGet(t *testing.T, h *harness) {
	created := h.postBlob("cached", []byte("x"))
	expectStatus(t, created, http.StatusCreated)
	tag := created.Header.Get("ETag")
	r := h.request(http.MethodGet, "/v1/blobs/cached", nil, map[string]string{"If-None-Match": tag})
	expectStatus(t, r, http.StatusNotModified)
	if r.Header.Get("ETag") != tag || len(r.body) != 0 {
		t.Fatalf("304 with ETag %q and %d body bytes; want %q and none", r.Header.Get("ETag"), len(r.body), tag)
	}
	for _, match := range []string{"*", `"other", ` + tag, "W/" + tag} {
		r = h.request(http.MethodGet, "/v1/blobs/cached", nil, map[string]string{"If-None-Match": match})
		expectStatus(t, r, http.StatusNotModified)
	}
	r = h.request(http.MethodGet, "/v1/blobs/cached", nil, map[string]string{"If-None-Match": `"other"`})
	expectStatus(t, r, http.StatusOK)
	if decodeBlob(t, r).Data != "eA==" {
		t.Fatalf("GET after a failed If-None-Match = %s", r.body)
	}
}

// testConcurrentCreates sends 50 POSTs of one id at once: exactly one 201,
// 49 409s, and the winner's bytes intact.
func testConcurrentCreates(t *testing.T, h *harness) {
	const n = 50
	statuses := make([]int, n)
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		bodies[i] = randomBytes(t, 4096+i)
		body := createBody("contended", bodies[i])
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, h.url+"/v1/blobs", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	winner := -1
	for i, s := range statuses {
		switch s {
		case http.StatusCreated:
			if winner >= 0 {
				t.Fatalf("two creates won: %d and %d", winner, i)
			}
			winner = i
		case http.StatusConflict:
		default:
			t.Fatalf("create %d answered %d", i, s)
		}
	}
	if winner < 0 {
		t.Fatal("no create won")
	}
	got := decodeBlob(t, h.get("contended"))
	if got.Data != base64.StdEncoding.EncodeToString(bodies[winner]) {
		t.Fatal("the stored bytes are not the winner's")
	}
}
