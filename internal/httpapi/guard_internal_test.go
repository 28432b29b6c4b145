package httpapi

import (
	"bytes"
	"net/http/httptest"
	"testing"
	"time"
)

// TestBufferedWritesNeedNoWatch: the writes of a response that net/http
// buffers whole (bufferedBeforeHeader bytes) pass without arming the
// stall watch; the write that goes beyond arms it, and every byte arrives.
func TestBufferedWritesNeedNoWatch(t *testing.T) {
	rec := httptest.NewRecorder()
	watch := &stallWatch{idle: time.Hour}
	defer watch.stop()
	pw := &progressWriter{ResponseWriter: rec, watch: watch}
	body := bytes.Repeat([]byte("x"), bufferedBeforeHeader+1)
	for _, part := range [][]byte{body[:100], body[100:bufferedBeforeHeader]} {
		pw.Write(part)
		if watch.timer != nil {
			t.Fatalf("after %d bytes, the stall watch is armed", pw.written)
		}
	}
	pw.Write(body[bufferedBeforeHeader:])
	if watch.timer == nil {
		t.Errorf("after %d bytes, the stall watch is not armed", pw.written)
	}
	if !bytes.Equal(rec.Body.Bytes(), body) || pw.written != int64(len(body)) {
		t.Errorf("%d bytes arrived, %d counted; want %d", rec.Body.Len(), pw.written, len(body))
	}
}
