package console_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/console"
)

var next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", r.URL.Query().Get("type"))
	w.WriteHeader(http.StatusTeapot)
	io.WriteString(w, "api")
})

func get(t *testing.T, h http.Handler, method, target string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Result()
}

// TestHeadersOnEveryResponse: every console response, files, redirects,
// 404s and 405s alike, carries the CSP, nosniff and no-referrer.
func TestHeadersOnEveryResponse(t *testing.T) {
	h := console.Mount(next, true)
	targets := []string{"/ui", "/ui/", "/ui/index.html", "/ui/nope.js", "/ui/../app.js", "/ui/web/"}
	entries, err := os.ReadDir("web")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		targets = append(targets, "/ui/"+e.Name())
	}
	for _, target := range targets {
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
			res := get(t, h, m, target)
			if res.StatusCode == http.StatusTeapot {
				t.Errorf("%s %s went to the API", m, target)
				continue
			}
			hd := res.Header
			if hd.Get("Content-Security-Policy") != console.CSP || hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("%s %s: %d with headers %v", m, target, res.StatusCode, hd)
			}
			if m == http.MethodPost && res.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("POST %s = %d; want 405", target, res.StatusCode)
			}
		}
	}
	if res := get(t, h, "GET", "/ui"); res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui = %d to %q; want a redirect to /ui/", res.StatusCode, res.Header.Get("Location"))
	}
	for target, ctype := range map[string]string{"/ui/": "text/html", "/ui/app.js": "text/javascript", "/ui/style.css": "text/css", "/ui/icon.svg": "image/svg+xml"} {
		res := get(t, h, "GET", target)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), ctype) {
			t.Errorf("GET %s = %d %q; want 200 %s", target, res.StatusCode, res.Header.Get("Content-Type"), ctype)
		}
	}
	for _, target := range []string{"/ui/nope.js", "/ui/web/", "/ui/.."} {
		if res := get(t, h, "GET", target); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d; want 404", target, res.StatusCode)
		}
	}
	if res := get(t, h, "GET", "/v1/blobs"); res.StatusCode != http.StatusTeapot || res.Header.Get("Content-Security-Policy") != "" {
		t.Errorf("the API's routes are not the console's")
	}
}

// TestRootRedirect: / leads to the console while it is on; other
// methods, and other paths, still go to the API.
func TestRootRedirect(t *testing.T) {
	h := console.Mount(next, true)
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		if res := get(t, h, m, "/"); res.StatusCode != http.StatusFound || res.Header.Get("Location") != console.Path {
			t.Errorf("%s / = %d to %q; want 302 to %s", m, res.StatusCode, res.Header.Get("Location"), console.Path)
		}
	}
	for _, target := range []string{"/index.html", "/healthz"} {
		if res := get(t, h, "GET", target); res.StatusCode != http.StatusTeapot {
			t.Errorf("GET %s = %d; want the API's answer", target, res.StatusCode)
		}
	}
	if res := get(t, h, http.MethodPost, "/"); res.StatusCode != http.StatusTeapot {
		t.Errorf("POST / = %d; want the API's answer", res.StatusCode)
	}
}

// TestOff: CONSOLE=off leaves / and /ui/ to the API (its 404).
func TestOff(t *testing.T) {
	h := console.Mount(next, false)
	for _, target := range []string{"/", "/ui", "/ui/", "/ui/app.js"} {
		if res := get(t, h, "GET", target); res.StatusCode != http.StatusTeapot {
			t.Errorf("GET %s with the console off = %d; want the API's answer", target, res.StatusCode)
		}
	}
	if res := get(t, h, "GET", "/v1/blobs/x?alt=media&type=text/html"); res.Header.Get("Content-Security-Policy") != "" {
		t.Errorf("the console off still sandboxes media")
	}
}

// TestMediaSandbox: the blobs' bytes carry the sandbox CSP while the
// console is on, PDFs excepted; other API responses are untouched.
func TestMediaSandbox(t *testing.T) {
	h := console.Mount(next, true)
	for ctype, want := range map[string]string{
		"text/html": console.MediaCSP, "image/svg+xml": console.MediaCSP, "text/plain; charset=utf-8": console.MediaCSP,
		"application/pdf": "", "APPLICATION/PDF; x=y": "",
	} {
		res := get(t, h, "GET", "/v1/blobs/a/b?alt=media&type="+url.QueryEscape(ctype))
		if got := res.Header.Get("Content-Security-Policy"); got != want {
			t.Errorf("alt=media of %s: CSP %q; want %q", ctype, got, want)
		}
	}
	if res := get(t, h, "GET", "/v1/blobs/a?meta=1&type=text/html"); res.Header.Get("Content-Security-Policy") != "" {
		t.Errorf("meta=1 got the media CSP")
	}
}

// TestNoExternalReferences: the embedded files name no other origin (no
// CDN, no web font), use no inline script or style, and never assign
// innerHTML/outerHTML or call insertAdjacentHTML/document.write.
func TestNoExternalReferences(t *testing.T) {
	other := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function`)
	err := fs.WalkDir(os.DirFS("web"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile("web/" + p)
		if err != nil {
			return err
		}
		s := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
		if m := other.FindString(s); m != "" {
			t.Errorf("%s refers to %s", p, m)
		}
		if strings.HasSuffix(p, ".js") && sinks.MatchString(s) {
			t.Errorf("%s uses an HTML sink: %s", p, sinks.FindString(s))
		}
		if strings.HasSuffix(p, ".html") {
			if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]|\sstyle=|\son[a-z]+=`).MatchString(s) {
				t.Errorf("%s has inline script, style or handlers", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
