package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/httpapi"
)

// BenchmarkGuardedResponse measures a response of 1 KiB and of 1 MiB
// (written in 256 KiB writes, as a raw download is) through Guard with its
// stall watch, served with httpapi.ConnContext as app.Serve serves it, over
// loopback, one request at a time: what the guard adds to every response
// (the watch's timer) and to a large one (its writes, whole).
//
//	go test -run '^$' -bench GuardedResponse ./internal/httpapi
func BenchmarkGuardedResponse(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			body := benchData(size)
			h := httpapi.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				for p := body; len(p) > 0; {
					n := min(len(p), 256<<10)
					if _, err := w.Write(p[:n]); err != nil {
						return
					}
					p = p[n:]
				}
			}), httpapi.Limits{IdleBodyTimeout: 30 * time.Second})
			srv := httptest.NewUnstartedServer(h)
			srv.Config.ConnContext = httpapi.ConnContext
			srv.Start()
			defer srv.Close()
			client := srv.Client()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n != int64(size) {
					b.Fatalf("read %d of %d bytes: %v", n, size, err)
				}
			}
		})
	}
}
