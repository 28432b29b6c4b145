package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestReplaceOnPurpose: PUT with If-Match replaces when the ETag matches,
// answers 412 otherwise and for * on an absent id; without If-Match, and
// with If-None-Match: *, an existing id is still 409; replacing needs
// the delete scope besides write.
func TestReplaceOnPurpose(t *testing.T) {
	for _, s := range keyStacks {
		t.Run(s.name, func(t *testing.T) {
			h := startServer(t, stackConfig(t, s))
			text := map[string]string{"Content-Type": "text/plain"}
			with := func(kv ...string) map[string]string {
				m := map[string]string{"Content-Type": "text/plain"}
				for i := 0; i < len(kv); i += 2 {
					m[kv[i]] = kv[i+1]
				}
				return m
			}
			first := h.putRaw("doc", []byte("first"), text)
			expectStatus(t, first, http.StatusCreated)
			tag := first.Header.Get("ETag")

			expectProblem(t, h.putRaw("doc", []byte("x"), text), http.StatusConflict, "blob_exists")
			expectProblem(t, h.putRaw("doc", []byte("x"), with("If-None-Match", "*")), http.StatusConflict, "blob_exists")
			expectProblem(t, h.putRaw("doc", []byte("x"), with("If-Match", `"`+strings.Repeat("0", 64)+`"`)), http.StatusPreconditionFailed, "precondition_failed")
			expectProblem(t, h.putRaw("doc", []byte("x"), with("If-Match", "W/"+tag)), http.StatusPreconditionFailed, "precondition_failed")
			expectProblem(t, h.putRaw("absent", []byte("x"), with("If-Match", "*")), http.StatusPreconditionFailed, "precondition_failed")
			expectProblem(t, h.putRaw("doc", []byte("x"), with("If-None-Match", tag)), http.StatusBadRequest, "invalid_request")
			writer := h.createKey(`{"name":"writer","scopes":["read","write"]}`).Token
			expectProblem(t, h.putRaw("doc", []byte("x"), with("If-Match", tag, "Authorization", "Bearer "+writer)), http.StatusForbidden, "forbidden")
			if r := h.get("doc"); !strings.Contains(string(r.body), `"Zmlyc3Q="`) {
				t.Fatalf("refused replaces changed the blob: %s", r.body)
			}

			second := h.putRaw("doc", []byte("second version"), with("If-Match", tag))
			expectStatus(t, second, http.StatusCreated)
			if b := decodeObject(t, second); b.Size != 14 || second.Header.Get("ETag") == tag {
				t.Fatalf("replace answered %s", second.body)
			}
			if r := h.request(http.MethodGet, blobPath("doc")+"?alt=media", nil, nil); string(r.body) != "second version" {
				t.Fatalf("after the replace: %q", r.body)
			}
			expectProblem(t, h.putRaw("doc", []byte("third"), with("If-Match", tag)), http.StatusPreconditionFailed, "precondition_failed")
			editor := h.createKey(`{"name":"editor","scopes":["read","write","delete"]}`).Token
			expectStatus(t, h.putRaw("doc", []byte("third"), with("If-Match", "*", "Authorization", "Bearer "+editor)), http.StatusCreated)
		})
	}
}

// TestReadersDuringReplace: GETs racing a series of replaces each get
// one version, whole: never a mix, a short body or an error.
func TestReadersDuringReplace(t *testing.T) {
	for _, s := range keyStacks {
		t.Run(s.name, func(t *testing.T) {
			h := startServer(t, stackConfig(t, s))
			versions := map[string]bool{}
			version := func(i int) []byte {
				v := bytes.Repeat([]byte{byte('a' + i%26)}, 64<<10+i*1000)
				versions[string(v)] = true
				return v
			}
			const n = 12
			all := make([][]byte, n)
			for i := range all {
				all[i] = version(i)
			}
			expectStatus(t, h.putRaw("hot", all[0], nil), http.StatusCreated)
			done := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var reads int
			for range 3 {
				wg.Go(func() {
					for {
						select {
						case <-done:
							return
						default:
						}
						req, _ := http.NewRequest(http.MethodGet, h.url+blobPath("hot")+"?alt=media", nil)
						req.Header.Set("Authorization", "Bearer "+token)
						resp, err := http.DefaultClient.Do(req)
						if err != nil {
							t.Errorf("GET during replaces: %v", err)
							return
						}
						body, err := io.ReadAll(resp.Body)
						resp.Body.Close()
						if err != nil || resp.StatusCode != http.StatusOK || !versions[string(body)] {
							t.Errorf("GET during replaces: %d, %d bytes, %v: not one whole version", resp.StatusCode, len(body), err)
							return
						}
						mu.Lock()
						reads++
						mu.Unlock()
					}
				})
			}
			for i := 1; i < n; i++ {
				expectStatus(t, h.putRaw("hot", all[i], map[string]string{"If-Match": "*"}), http.StatusCreated)
			}
			close(done)
			wg.Wait()
			t.Logf("%d reads during %d replaces", reads, n-1)
		})
	}
}

// TestMoveCopyAPI: move and copy keep the bytes (the SHA-256), need their
// scopes (move: read, delete and write; copy: read and write), and a
// confined key cannot reach outside its prefix with the destination.
func TestMoveCopyAPI(t *testing.T) {
	for _, s := range keyStacks {
		t.Run(s.name, func(t *testing.T) {
			h := startServer(t, stackConfig(t, s))
			data := []byte("bytes that must not change")
			want := sha256Hex(data)
			expectStatus(t, h.putRaw("team/src", data, nil), http.StatusCreated)
			key := func(scopes string, prefix string) map[string]string {
				body := `{"name":"k","scopes":[` + scopes + `]`
				if prefix != "" {
					body += `,"prefix":"` + prefix + `"`
				}
				return bearer(h.createKey(body + "}").Token)
			}
			post := func(path string, headers map[string]string) response {
				return h.request(http.MethodPost, path, nil, headers)
			}
			rw, rd, rdw := key(`"read","write"`, ""), key(`"read","delete"`, ""), key(`"read","delete","write"`, "")
			confined := key(`"read","delete","write"`, "team/")
			expectProblem(t, post(blobPath("team/src")+"?move_to=team%2Fdst", rw), http.StatusForbidden, "forbidden")
			expectProblem(t, post(blobPath("team/src")+"?move_to=team%2Fdst", rd), http.StatusForbidden, "forbidden")
			expectProblem(t, post(blobPath("team/src")+"?copy_to=team%2Fdst", rd), http.StatusForbidden, "forbidden")
			expectProblem(t, post(blobPath("team/src")+"?move_to=elsewhere", confined), http.StatusNotFound, "blob_not_found")
			expectProblem(t, post(blobPath("team/src")+"?copy_to=elsewhere", confined), http.StatusNotFound, "blob_not_found")
			expectProblem(t, post(blobPath("team/src")+"?move_to=a&copy_to=b", nil), http.StatusBadRequest, "invalid_request")
			expectProblem(t, post(blobPath("team/src")+"?move_to=a&move_to=b", nil), http.StatusBadRequest, "invalid_request")
			expectProblem(t, post(blobPath("team/src")+"?move_to=", nil), http.StatusBadRequest, "invalid_id")
			expectProblem(t, h.get("elsewhere"), http.StatusNotFound, "blob_not_found")

			cp := post(blobPath("team/src")+"?copy_to=team%2Fcopy", rw)
			expectStatus(t, cp, http.StatusCreated)
			mv := post(blobPath("team/src")+"?move_to=team%2Fmoved%20here", rdw)
			expectStatus(t, mv, http.StatusCreated)
			for _, r := range []response{cp, mv} {
				if b := decodeObject(t, r); b.SHA256 != want || b.Size != int64(len(data)) {
					t.Fatalf("move/copy answered %s; want SHA-256 %s", r.body, want)
				}
			}
			if loc := mv.Header.Get("Location"); loc != "/v1/blobs/team%2Fmoved%20here" {
				t.Fatalf("Location %q", loc)
			}
			expectProblem(t, h.get("team/src"), http.StatusNotFound, "blob_not_found")
			for _, id := range []string{"team/copy", "team/moved here"} {
				if r := h.request(http.MethodGet, blobPath(id)+"?alt=media", nil, nil); !bytes.Equal(r.body, data) {
					t.Fatalf("%s holds %q", id, r.body)
				}
			}
			expectProblem(t, post(blobPath("team/copy")+"?move_to=team%2Fmoved%20here", confined), http.StatusConflict, "blob_exists")
			expectStatus(t, post(blobPath("team/copy")+"?move_to=team%2Fz", confined), http.StatusCreated)
		})
	}
}

// TestUsageAPI: GET /v1/usage counts blobs, bytes, unfinished uploads and
// garbage for the whole drive; a prefix, or a confined key, counts its
// part and no garbage.
func TestUsageAPI(t *testing.T) {
	for _, s := range keyStacks {
		t.Run(s.name, func(t *testing.T) {
			h := startServer(t, stackConfig(t, s))
			expectStatus(t, h.putRaw("a/1", []byte("12345"), nil), http.StatusCreated)
			expectStatus(t, h.putRaw("a/2", []byte("123"), nil), http.StatusCreated)
			expectStatus(t, h.putRaw("b", []byte("1234567"), nil), http.StatusCreated)
			expectStatus(t, h.putRaw("old", []byte("1234567890"), nil), http.StatusCreated)
			expectStatus(t, h.request(http.MethodDelete, blobPath("old"), nil, nil), http.StatusNoContent)
			tus := &tusHarness{harness: h.harness}
			loc := tus.create("a/partial", 100)
			expectStatus(t, tus.patch(loc, 0, []byte("1234"), nil), http.StatusNoContent)
			usage := func(query string, headers map[string]string) string {
				r := h.request(http.MethodGet, "/v1/usage"+query, nil, headers)
				expectStatus(t, r, http.StatusOK)
				return strings.TrimSpace(string(r.body))
			}
			cases := []struct{ query, want string }{
				{"", `{"prefix":"","blobs":3,"bytes":15,"uploads":1,"upload_bytes":4,"garbage_keys":1,"garbage_bytes":10,"garbage_partial":false}`},
				{"?prefix=a/", `{"prefix":"a/","blobs":2,"bytes":8,"uploads":1,"upload_bytes":4}`},
				{"?prefix=zzz", `{"prefix":"zzz","blobs":0,"bytes":0,"uploads":0,"upload_bytes":0}`},
			}
			for _, c := range cases {
				if got := usage(c.query, nil); got != c.want {
					t.Errorf("GET /v1/usage%s = %s; want %s", c.query, got, c.want)
				}
			}
			confined := bearer(h.createKey(`{"name":"c","scopes":["read"],"prefix":"a/"}`).Token)
			for query, want := range map[string]string{
				"":          `{"prefix":"a/","blobs":2,"bytes":8,"uploads":1,"upload_bytes":4}`,
				"?prefix=b": `{"prefix":"","blobs":0,"bytes":0,"uploads":0,"upload_bytes":0}`,
			} {
				if got := usage(query, confined); got != want {
					t.Errorf("GET /v1/usage%s with a key confined to a/ = %s; want %s", query, got, want)
				}
			}
			var v map[string]any
			json.Unmarshal([]byte(usage("", nil)), &v)
			if fmt.Sprint(v["blobs"]) != "3" {
				t.Errorf("usage decoded as %v", v)
			}
		})
	}
}
