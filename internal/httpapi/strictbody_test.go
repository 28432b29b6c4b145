package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestSmallBodiesStrict: POST /v1/links and POST /v1/keys refuse, with 400
// invalid_request, every body DESIGN section 4 refuses for POST /v1/blobs:
// trailing data, unknown, duplicate or case-variant members, null, wrong
// types, invalid text. Issue 18, finding 7: a link request with a second
// closing brace was answered 201.
func TestSmallBodiesStrict(t *testing.T) {
	h := startStack(t, stack{"SQLite", sqliteDB})
	expectStatus(t, h.putRaw("x", []byte("x"), nil), http.StatusCreated)
	post := func(path, body string) response {
		return h.request(http.MethodPost, path, strings.NewReader(body), nil)
	}
	for _, c := range []struct{ path, valid string }{
		{"/v1/links", `{"id":"x","expires_in":60`},
		{"/v1/keys", `{"name":"k","scopes":["read"],"expires_in":60`},
	} {
		expectStatus(t, post(c.path, c.valid+"}"), http.StatusCreated)
		expectStatus(t, post(c.path, " \n"+c.valid+" } \r\n"), http.StatusCreated)
		for _, body := range []string{
			c.valid + "}}", c.valid + "} {}", c.valid + "}x", c.valid + "}\x00", c.valid + "}null",
			c.valid + `,"expires_in":60}`, c.valid + `,"Expires_In":60}`, c.valid + `,"extra":1}`,
			c.valid + `,"prefix":null}`, c.valid + `,"expires_in":null}`, strings.Replace(c.valid, "60", "null", 1) + "}",
			c.valid + `,"name":"\ud800"}`, c.valid + ",\"name\":\"\xff\"}", c.valid + `,"prefix":"\udc00"}`,
			strings.Replace(c.valid, "60", `"60"`, 1) + "}", strings.Replace(c.valid, "60", "6e1", 1) + "}",
			c.valid, "[" + c.valid + "}]", "",
		} {
			expectProblem(t, post(c.path, body), http.StatusBadRequest, "invalid_request")
		}
	}
	expectProblem(t, post("/v1/links", `{"id":"\ud800","expires_in":60}`), http.StatusBadRequest, "invalid_id")
	expectProblem(t, post("/v1/links", "{\"id\":\"\xff\",\"expires_in\":60}"), http.StatusBadRequest, "invalid_id")
	expectProblem(t, post("/v1/links", `{"id":"`+strings.Repeat("a", 20<<10)+`"}`), http.StatusRequestEntityTooLarge, "too_large")
	expectProblem(t, post("/v1/keys", `{"name":"`+strings.Repeat("a", 20<<10)+`","scopes":["read"]}`), http.StatusRequestEntityTooLarge, "too_large")
}
