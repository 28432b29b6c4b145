package s3

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
)

// TestUnsizedPutReservesItsPart: through a Bucket with a memory budget, a
// Put of unknown size past 64 KiB has its part (and a byte) reserved
// while its requests run, and releases it after; one of at most 64 KiB,
// or of known size, reserves nothing; one whose part does not fit fails
// with ErrBusy before any request.
func TestUnsizedPutReservesItsPart(t *testing.T) {
	var mu sync.Mutex
	var reserved []int64 // memory in use during each PUT
	mem := &storagetest.Memory{Limit: MinPartSize + 1}
	s, requests := fakeServer(t, Config{ForcePathStyle: true, PartSize: MinPartSize}, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case q.Has("uploads"):
			io.WriteString(w, `<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>`)
		case r.Method == http.MethodPut:
			io.Copy(io.Discard, r.Body)
			mu.Lock()
			reserved = append(reserved, mem.InUse())
			mu.Unlock()
			w.Header().Set("ETag", `"etag-`+q.Get("partNumber")+`"`)
		case r.Method == http.MethodPost:
			io.WriteString(w, `<CompleteMultipartUploadResult><ETag>"x-2"</ETag></CompleteMultipartUploadResult>`)
		default:
			s3Error(w, 400, "Unexpected")
		}
	})
	b := storage.NewBucket("s3", s)
	b.SetMemory(mem)
	cases := []struct {
		name       string
		size, n    int64
		wantPuts   int
		wantHeld   int64
		memoryFree int64
	}{
		{"64 KiB, unknown size", -1, streamChunkSize, 1, 0, 0},
		{"64 KiB and a byte, unknown size", -1, streamChunkSize + 1, 1, MinPartSize + 1, MinPartSize + 1},
		{"two parts, unknown size", -1, MinPartSize + 10, 2, MinPartSize + 1, MinPartSize + 1},
		{"two parts, known size", MinPartSize + 10, MinPartSize + 10, 2, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem.Limit = c.memoryFree
			reserved = nil
			if err := b.Put(context.Background(), "ab/cd/key", io.LimitReader(zeros{}, c.n), c.size); err != nil {
				t.Fatal(err)
			}
			if len(reserved) != c.wantPuts {
				t.Fatalf("%d PUTs; want %d", len(reserved), c.wantPuts)
			}
			for i, n := range reserved {
				if n != c.wantHeld {
					t.Errorf("PUT %d ran with %d bytes reserved; want %d", i+1, n, c.wantHeld)
				}
			}
			if mem.InUse() != 0 {
				t.Errorf("%d bytes reserved after the Put", mem.InUse())
			}
		})
	}

	mem.Limit = MinPartSize
	before := requests.Load()
	err := b.Put(context.Background(), "ab/cd/key", io.LimitReader(zeros{}, MinPartSize+10), -1)
	if !errors.Is(err, storage.ErrBusy) || requests.Load() != before {
		t.Fatalf("Put with %d bytes free = %v after %d requests; want ErrBusy before any", mem.Limit, err, requests.Load()-before)
	}
}
