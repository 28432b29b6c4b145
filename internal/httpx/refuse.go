package httpx

import (
	"io"
	"net/http"
)

// maxDrainBytes is the most of a refused request's unread body the server
// reads and discards so that its client can read the refusal.
const maxDrainBytes = 64 << 20

// RefuseBody readies w for an error answer to r, whose body the handler
// may not have read (a PATCH meeting another's lease is refused before its
// body), and returns what to call once the answer is written. The answer
// is sent at once, and the unread body, up to maxDrainBytes, is then read
// and discarded: a client that reads while it sends gets the answer
// early, and one that sends its whole body before reading (many do) can
// finish sending and read it, instead of meeting a connection reset. A
// body of unknown length or over maxDrainBytes is answered with
// Connection: close; a client that sends more than maxDrainBytes before
// reading may still see the connection reset. Draining is bounded by the
// idle body timeout like any body read.
func RefuseBody(w http.ResponseWriter, r *http.Request) (drain func()) {
	rc := http.NewResponseController(w)
	if r.Body == nil || r.Body == http.NoBody || rc.EnableFullDuplex() != nil {
		return func() {}
	}
	if r.ContentLength < 0 || r.ContentLength > maxDrainBytes {
		w.Header().Set("Connection", "close")
	}
	return func() {
		rc.Flush()
		io.Copy(io.Discard, io.LimitReader(r.Body, maxDrainBytes))
	}
}
