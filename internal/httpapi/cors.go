package httpapi

import (
	"net/http"
	"strings"
)

// CORS for browsers (tus-js-client, Uppy, fetch) on the blob, upload and
// link routes. Allowed origins come from CORS_ORIGINS; with none, no
// response carries CORS headers and browsers on other origins are refused
// by their own rules. A preflight (OPTIONS with Origin and
// Access-Control-Request-Method) is answered before authentication, since
// browsers send it without credentials.

const (
	corsAllowMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
	corsAllowHeaders = "Authorization, Content-Type, Content-Digest, Upload-Length, Upload-Offset, Upload-Metadata, " +
		"Upload-Defer-Length, Upload-Checksum, Upload-Concat, Tus-Resumable, X-HTTP-Method-Override, X-Requested-With, " +
		"Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range"
	corsExposeHeaders = "Location, ETag, Last-Modified, Content-Range, Content-Length, Content-Disposition, Accept-Ranges, " +
		"Retry-After, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Defer-Length, Upload-Expires, " +
		"Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm"
)

// corsRoute reports whether path is one of the routes CORS applies to.
func corsRoute(path string) bool {
	for _, p := range []string{blobsPath, uploadsPath, linksPath} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// cors adds the CORS headers of r's origin to w and answers a preflight
// itself, reporting true when it did.
func (a *API) cors(w http.ResponseWriter, r *http.Request) bool {
	if len(a.cfg.CORSOrigins) == 0 {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != ""
	if origin == "" || !a.corsAllowed(origin) {
		if preflight {
			// No CORS headers: the browser refuses the request.
			w.WriteHeader(http.StatusNoContent)
		}
		return preflight
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if !preflight {
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		return false
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", corsAllowMethods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
	return true
}

func (a *API) corsAllowed(origin string) bool {
	for _, o := range a.cfg.CORSOrigins {
		if o == "*" || o == origin {
			return true
		}
	}
	return false
}
