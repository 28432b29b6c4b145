package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// authenticator checks bearer tokens (RFC 6750) in constant time.
type authenticator struct {
	tokenSum [sha256.Size]byte
}

func newAuthenticator(token string) authenticator {
	return authenticator{tokenSum: sha256.Sum256([]byte(token))}
}

// check reports whether r carries the token. When it does not, it writes the
// 401 response, with error="invalid_token" when a bearer token was sent but
// is wrong and error="invalid_request" when the header is malformed.
func (a authenticator) check(w http.ResponseWriter, r *http.Request) bool {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return a.deny(w, "", "the Authorization header is missing; send Authorization: Bearer <token>")
	}
	if len(values) > 1 {
		return a.deny(w, "invalid_request", "send exactly one Authorization header")
	}
	// RFC 6750 section 2.1: the scheme, then one or more spaces.
	scheme, token, _ := strings.Cut(values[0], " ")
	token = strings.TrimLeft(token, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return a.deny(w, "", "use the Bearer authentication scheme")
	}
	if token == "" {
		return a.deny(w, "invalid_request", "the bearer token is empty")
	}
	// Comparing fixed-length digests keeps the comparison's time
	// independent of the token, its length included.
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) != 1 {
		return a.deny(w, "invalid_token", "the bearer token is not valid")
	}
	return true
}

func (a authenticator) deny(w http.ResponseWriter, errCode, detail string) bool {
	challenge := `Bearer realm="simpledrive"`
	if errCode != "" {
		challenge += `, error="` + errCode + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeProblem(w, http.StatusUnauthorized, codeUnauthorized, detail)
	return false
}
