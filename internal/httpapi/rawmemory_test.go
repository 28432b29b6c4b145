package httpapi_test

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"testing"
)

// TestRawTransferHeapIsFixed puts a blob generated on the fly with a raw PUT
// and reads it back with ?alt=media through the real app, and requires
// the server's peak heap to move by less than 64 MiB each way, whatever
// the blob's size: 2 GiB on the local backend, 256 MiB on the database
// backend (SQLite) and on s3. The bytes read back must hash as those put.
func TestRawTransferHeapIsFixed(t *testing.T) {
	if os.Getenv("SIMPLEDRIVE_SLOW_TESTS") != "1" {
		t.Skip("moves gigabytes through the server; set SIMPLEDRIVE_SLOW_TESTS=1 (scripts/test does, in its second pass) to run it")
	}
	cases := []struct {
		stack stack
		size  int64
	}{
		{stacks[0], 2 << 30},   // local+SQLite
		{stacks[2], 256 << 20}, // database+SQLite
		{stackNamed(t, "s3+PostgreSQL"), 256 << 20},
	}
	for _, c := range cases {
		t.Run(c.stack.name, func(t *testing.T) {
			bc := newBenchClient(t, startApp(t, c.stack))
			seed := [32]byte{'r', 'a', 'w'}
			want := sha256.New()
			io.Copy(want, io.LimitReader(rand.NewChaCha8(seed), c.size))

			req, err := http.NewRequest(http.MethodPut, bc.url+"/v1/blobs/big", io.LimitReader(rand.NewChaCha8(seed), c.size))
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = c.size
			req.Header.Set("Authorization", "Bearer "+token)
			runtime.GC()
			hs := startHeapSampler()
			resp, err := bc.client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			put := hs.finish()
			if err != nil || resp.StatusCode != http.StatusCreated {
				t.Fatalf("PUT = %v, %v; want 201", resp, err)
			}

			req, _ = http.NewRequest(http.MethodGet, bc.url+"/v1/blobs/big?alt=media", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			runtime.GC()
			hs = startHeapSampler()
			got := sha256.New()
			resp, err = bc.client.Do(req)
			var n int64
			if err == nil {
				n, err = io.Copy(got, resp.Body)
				resp.Body.Close()
			}
			get := hs.finish()
			if err != nil || n != c.size || string(got.Sum(nil)) != string(want.Sum(nil)) {
				t.Fatalf("GET read %d bytes (%v) that hash differently from the %d put", n, err, c.size)
			}
			t.Logf("%s, %d MiB: PUT peak heap +%.1f MiB, GET peak heap +%.1f MiB",
				c.stack.name, c.size>>20, put.heap/(1<<20), get.heap/(1<<20))
			for op, p := range map[string]float64{"PUT": put.heap, "GET": get.heap} {
				if p >= 64<<20 {
					t.Errorf("%s of %d MiB grew the heap by %.1f MiB; want under 64 MiB", op, c.size>>20, p/(1<<20))
				}
			}
		})
	}
}
