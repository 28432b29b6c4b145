// Package console serves Simple Drive's web console at /ui/: plain HTML,
// CSS and JavaScript modules embedded in the binary (no build step, no
// framework, no request to any other origin). The console is a client of
// the public API like any other: it signs in with a pasted bearer token
// (kept in sessionStorage, never in a URL or a cookie), lists blobs as
// folders with the list API's delimiter, uploads with tus, and reads
// through signed links.
//
// Every response of the console carries a strict Content-Security-Policy
// (no inline script or style, nothing from another origin, no framing),
// X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer.
package console

import (
	"embed"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed web
var files embed.FS

// Path is where the console is served.
const Path = "/ui/"

// CSP is the Content-Security-Policy of every console response. Images
// may be blob: URLs (none are made today, but a preview built from bytes
// in memory needs it); frames are same-origin signed links, always in a
// sandbox without allow-same-origin.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; " +
	"frame-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// Handler serves the console's files under [Path].
func Handler() http.Handler {
	web, err := fs.Sub(files, "web")
	if err != nil {
		panic(err) // the embedded tree always has web/
	}
	static := http.StripPrefix(strings.TrimSuffix(Path, "/"), http.FileServerFS(web))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		// The files change with the binary: revalidate every time (they
		// are small, and a stale module next to a fresh one breaks).
		h.Set("Cache-Control", "no-cache")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := r.URL.Path
		if p == strings.TrimSuffix(Path, "/") {
			http.Redirect(w, r, Path, http.StatusMovedPermanently)
			return
		}
		// Only files that exist are served, and never a directory
		// listing: the console has one page.
		name := strings.TrimPrefix(p, Path)
		if name != "" && name != "index.html" {
			if f, err := web.Open(path.Clean(name)); err != nil || isDir(f) {
				http.NotFound(w, r)
				return
			}
		}
		if name == "index.html" {
			// FileServer redirects /index.html to ./; serve the page.
			r2 := *r
			u := *r.URL
			u.Path = Path
			r2.URL = &u
			r = &r2
		}
		static.ServeHTTP(w, r)
	})
}

func isDir(f fs.File) bool {
	defer f.Close()
	st, err := f.Stat()
	return err != nil || st.IsDir()
}

// Mount returns a handler that serves the console at /ui and /ui/… when
// enabled, redirects a GET or HEAD of / to it (302), and passes every
// other request to next; disabled, every request goes to next (which
// answers / and /ui/ with its 404).
func Mount(next http.Handler, enabled bool) http.Handler {
	if !enabled {
		return next
	}
	ui := Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == strings.TrimSuffix(Path, "/") || strings.HasPrefix(p, Path) {
			ui.ServeHTTP(w, r)
			return
		}
		if p == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			http.Redirect(w, r, Path, http.StatusFound)
			return
		}
		if strings.HasPrefix(p, "/v1/blobs/") && r.URL.RawQuery != "" && r.URL.Query().Get("alt") == "media" {
			w = &sandboxed{ResponseWriter: w}
		}
		next.ServeHTTP(w, r)
	})
}

// MediaCSP is added to the blobs' bytes (alt=media) while the console is
// served: they come from the console's origin, so a stored HTML or SVG
// opened on its own (a share link, a preview) must not run there. The
// sandbox gives such a document an opaque origin without scripts; it
// fetches nothing. PDFs are exempt: Chromium will not show a PDF in a
// sandbox, and application/pdf with nosniff only reaches the PDF viewer.
const MediaCSP = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'"

// sandboxed adds [MediaCSP] to a response when its headers are written.
type sandboxed struct {
	http.ResponseWriter
	done bool
}

func (s *sandboxed) header() {
	if s.done {
		return
	}
	s.done = true
	h := s.ResponseWriter.Header()
	if mt, _, _ := strings.Cut(h.Get("Content-Type"), ";"); strings.TrimSpace(strings.ToLower(mt)) != "application/pdf" {
		h.Set("Content-Security-Policy", MediaCSP)
	}
}

func (s *sandboxed) WriteHeader(status int) {
	s.header()
	s.ResponseWriter.WriteHeader(status)
}

func (s *sandboxed) Write(p []byte) (int, error) {
	s.header()
	return s.ResponseWriter.Write(p)
}

// ReadFrom keeps the response writer's ReadFrom (sendfile, for ranges of
// files) reachable through the sandbox.
func (s *sandboxed) ReadFrom(src io.Reader) (int64, error) {
	s.header()
	if rf, ok := s.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(struct{ io.Writer }{s.ResponseWriter}, src)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *sandboxed) Unwrap() http.ResponseWriter { return s.ResponseWriter }
