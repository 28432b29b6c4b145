package s3api_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// pattern is size bytes computed from their offsets: a body of any
// length that holds no memory.
type pattern struct{ size int64 }

func (p pattern) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), p.size-off))
	for i := range n {
		x := uint64(off+int64(i)) * 0x9e3779b97f4a7c15
		b[i] = byte(x >> 56)
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// heapPeak runs fn while sampling the process's live heap every 5 ms, and
// returns the most it grew above its level before fn.
func heapPeak(fn func()) uint64 {
	const name = "/memory/classes/heap/objects:bytes"
	read := func() uint64 {
		s := []metrics.Sample{{Name: name}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	runtime.GC()
	base, peak := read(), uint64(0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if h := read(); h > base && h-base > peak {
				peak = h - base
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return peak
}

// TestS3Multipart1GiBMemory (slow): a 1 GiB multipart upload of 128 parts
// of 8 MiB, four at a time, through the front door on every stack,
// completed and read back whole; the heap of the process (server and
// client) grows by a fixed amount, not with the size.
func TestS3Multipart1GiBMemory(t *testing.T) {
	if os.Getenv("SIMPLEDRIVE_SLOW_TESTS") != "1" {
		t.Skip("moves 1 GiB through the S3 front door; set SIMPLEDRIVE_SLOW_TESTS=1 to run it")
	}
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) { multipart1GiB(t, start(t, st)) })
	}
}

func multipart1GiB(t *testing.T, srv *server) {
	const size, partSize = 1 << 30, 8 * mib
	c := srv.operator()
	ctx := context.Background()
	body := pattern{size}
	var took, completeTook time.Duration
	var err error
	peak := heapPeak(func() {
		start := time.Now()
		var created *s3.CreateMultipartUploadOutput
		if created, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("big")}); err != nil {
			return
		}
		parts := make([]types.CompletedPart, size/partSize)
		var g errgroup.Group
		g.SetLimit(4)
		for i := range parts {
			g.Go(func() error {
				out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("big"), UploadId: created.UploadId,
					PartNumber: aws.Int32(int32(i + 1)), Body: io.NewSectionReader(body, int64(i)*partSize, partSize)})
				if err == nil {
					parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32}
				}
				return err
			})
		}
		if err = g.Wait(); err != nil {
			return
		}
		completeStart := time.Now()
		_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("big"),
			UploadId: created.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		completeTook, took = time.Since(completeStart), time.Since(start)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1 GiB multipart upload (128 parts of 8 MiB, 4 at a time): %v (%.0f MiB/s), of which CompleteMultipartUpload %v; peak heap growth %.1f MiB",
		took.Round(time.Millisecond), size/took.Seconds()/mib, completeTook.Round(time.Millisecond), float64(peak)/mib)
	if peak > 96*mib {
		t.Errorf("peak heap growth %.1f MiB; want under 96 MiB for 1 GiB", float64(peak)/mib)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	got, want := make([]byte, mib), make([]byte, mib)
	for off := int64(0); off < size; off += mib {
		if _, err := io.ReadFull(out.Body, got); err != nil {
			t.Fatalf("reading back at %d: %v", off, err)
		}
		body.ReadAt(want, off)
		if !bytes.Equal(got, want) {
			t.Fatalf("the object differs from the parts in the MiB at %d", off)
		}
	}
}
