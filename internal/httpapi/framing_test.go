package httpapi

import (
	"encoding/base64"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/httpx"
)

// TestFramingMatchesMarshal: the JSON a GET writes around the base64 data
// is what httpx.Marshal writes for the same response, for ids written
// as they are and ids that need escaping.
func TestFramingMatchesMarshal(t *testing.T) {
	data := []byte("some bytes")
	created := time.Date(2026, 12, 6, 3, 4, 5, 123456000, time.FixedZone("x", 3600))
	for _, id := range []string{
		"a", "docs/report-2026.pdf", "x y~z!$&'()*+,;=:@", "<b>&amp;</b>",
		`say "hi"`, `back\slash`, "tab\there", "\x7f", "é/ü", "line\u2028sep", "bad\xffutf8",
	} {
		b := blob.Blob{ID: id, Size: int64(len(data)), CreatedAt: created}
		want := string(httpx.Marshal(struct {
			ID        string `json:"id"`
			Data      []byte `json:"data"`
			Size      int64  `json:"size"`
			CreatedAt string `json:"created_at"`
		}{id, data, b.Size, timestamp(b)}))
		prefix, suffix := framing(b)
		if got := string(prefix) + base64.StdEncoding.EncodeToString(data) + string(suffix); got != want {
			t.Errorf("id %q:\n got %s\nwant %s", id, got, want)
		}
	}
}

// TestSetHeadersKeepsValuesApart: the headers setHeaders sets share one
// array of values, yet adding a value to one leaves the others as set.
func TestSetHeadersKeepsValuesApart(t *testing.T) {
	h := http.Header{}
	setHeaders(h, "Etag", `"x"`, "Cache-Control", immutable, "Content-Length", "3")
	h.Add("Etag", `"y"`)
	h.Add("Cache-Control", "no-transform")
	want := http.Header{"Etag": {`"x"`, `"y"`}, "Cache-Control": {immutable, "no-transform"}, "Content-Length": {"3"}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("headers = %v, want %v", h, want)
	}
}
