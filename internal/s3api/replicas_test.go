package s3api_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// TestS3MultipartReplicas: two replicas over one PostgreSQL database and
// one versitygw bucket; the parts of one multipart upload go to both, in
// parallel, and either completes it.
func TestS3MultipartReplicas(t *testing.T) {
	dbURL := testenv.PostgresURL(t)
	shared := stack{"s3+PostgreSQL replicas", func(tb testing.TB, c *config.Config) {
		stacks[2].configure(tb, c) // s3+PostgreSQL, the bucket's prefix named after the test
		c.DatabaseURL = dbURL
	}}
	a, b := start(t, shared), start(t, shared)
	ca, cb := a.operator(), b.operator()
	ctx := context.Background()
	key := "replicated/object"
	created, err := ca.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	parts := make([][]byte, n)
	completed := make([]types.CompletedPart, n)
	var wg sync.WaitGroup
	for i := range n {
		parts[i] = randomBytes(5*mib, uint64(10+i))
		c := []*s3.Client{ca, cb}[i%2] // alternate replicas
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: created.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(parts[i])})
			if err != nil {
				t.Errorf("UploadPart %d on replica %d: %v", i+1, i%2, err)
				return
			}
			completed[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	listed, err := ca.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: created.UploadId})
	if err != nil || len(listed.Parts) != n {
		t.Fatalf("ListParts on replica 0: %+v, %v", listed, err)
	}
	done, err := cb.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		UploadId: created.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: completed}})
	if err != nil || aws.ToString(done.ETag) != multipartETag(parts...) {
		t.Fatalf("CompleteMultipartUpload on replica 1: %+v, %v", done, err)
	}
	if got := mustGet(t, ca, key); !bytes.Equal(got, slices.Concat(parts...)) {
		t.Fatal("replica 0 does not read the object replica 1 completed")
	}
}
