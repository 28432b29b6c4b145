package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"sync/atomic"
)

// maxRequestID is the longest X-Request-Id kept from a client.
const maxRequestID = 128

// requestIDPrefix makes this process's request ids unlike any other's.
var requestIDPrefix = func() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b) + "-"
}()

var requestIDs atomic.Uint64

// requestID returns the request id of a request whose X-Request-Id header
// is header: header itself when it is 1 to 128 characters of
// [A-Za-z0-9._-], otherwise a new id, unique to this process (a random
// prefix and a counter: cheaper than fresh randomness per request).
func requestID(header string) string {
	if validRequestID(header) {
		return header
	}
	return requestIDPrefix + strconv.FormatUint(requestIDs.Add(1), 36)
}

func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestID {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

type requestIDKey struct{}

func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// LogHandler wraps h so that every record logged with a request's context
// carries its request id as request_id: the API's lines, and those of the
// service and the backends when they log with the context they were given.
// Wrapping twice adds the id once.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h}
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
