package s3api_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/simpledrive/simpledrive/internal/s3api"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

const mib = 1 << 20

// randomBytes returns n bytes of a seeded generator.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// multipartETag is the S3 ETag of an object made of parts.
func multipartETag(parts ...[]byte) string {
	all := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		all.Write(s[:])
	}
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(all.Sum(nil)), len(parts))
}

// TestS3Multipart runs the multipart operations and the listings through
// aws-sdk-go-v2, with its default checksums (a CRC-32 on every part), on
// every stack.
func TestS3Multipart(t *testing.T) {
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			testenv.SkipStackUnderRace(t, st.name)
			testMultipart(t, start(t, st))
		})
	}
}

func testMultipart(t *testing.T, srv *server) {
	ctx := context.Background()
	c := srv.operator()
	key := "videos/a b+c/日本.bin"
	p1, p2, p3 := randomBytes(5*mib, 1), randomBytes(5*mib, 2), randomBytes(1000, 3)

	created, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), ContentType: aws.String("video/mp4")})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	id := created.UploadId
	uploaded := map[int32]*s3.UploadPartOutput{}
	for _, p := range []struct {
		n    int32
		data []byte
	}{{3, p3}, {1, []byte("replaced")}, {2, p2}, {1, p1}} {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: id, PartNumber: aws.Int32(p.n), Body: bytes.NewReader(p.data)})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", p.n, err)
		}
		if aws.ToString(out.ETag) != quotedMD5(p.data) {
			t.Fatalf("UploadPart %d: ETag %s; want %s", p.n, aws.ToString(out.ETag), quotedMD5(p.data))
		}
		uploaded[p.n] = out
	}
	parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: id})
	if err != nil || len(parts.Parts) != 3 || aws.ToInt64(parts.Parts[0].Size) != 5*mib || aws.ToString(parts.Parts[2].ETag) != quotedMD5(p3) {
		t.Fatalf("ListParts: %+v, %v", parts, err)
	}
	uploads, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String("videos/")})
	if err != nil || len(uploads.Uploads) != 1 || aws.ToString(uploads.Uploads[0].UploadId) != aws.ToString(id) || aws.ToString(uploads.Uploads[0].Key) != key {
		t.Fatalf("ListMultipartUploads: %+v, %v", uploads, err)
	}
	var completed []types.CompletedPart
	for n := int32(1); n <= 3; n++ {
		completed = append(completed, types.CompletedPart{PartNumber: aws.Int32(n), ETag: uploaded[n].ETag, ChecksumCRC32: uploaded[n].ChecksumCRC32})
	}
	// A wrong ETag is InvalidPart; the upload stays.
	wrong := slices.Clone(completed)
	wrong[1].ETag, wrong[1].ChecksumCRC32 = aws.String(quotedMD5([]byte("other"))), nil
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: wrong}})
	wantCode(t, "Complete with a wrong ETag", err, "InvalidPart", http.StatusBadRequest)
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed}})
	if err != nil || aws.ToString(done.ETag) != multipartETag(p1, p2, p3) {
		t.Fatalf("CompleteMultipartUpload: %+v, %v; want ETag %s", done, err, multipartETag(p1, p2, p3))
	}
	if got := mustGet(t, c, key); !bytes.Equal(got, slices.Concat(p1, p2, p3)) {
		t.Fatalf("GetObject: %d bytes, not the parts", len(got))
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil || aws.ToString(head.ETag) != multipartETag(p1, p2, p3) || aws.ToString(head.ContentType) != "video/mp4" {
		t.Fatalf("HeadObject: %+v, %v", head, err)
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: id, PartNumber: aws.Int32(4), Body: bytes.NewReader(p3)})
	wantCode(t, "UploadPart after Complete", err, "NoSuchUpload", http.StatusNotFound)

	// A retried Complete (its answer lost) gets the same answer; one with
	// another list, or after the key was overwritten, does not.
	again, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed}})
	if err != nil || aws.ToString(again.ETag) != multipartETag(p1, p2, p3) {
		t.Fatalf("CompleteMultipartUpload again: %+v, %v; want ETag %s", again, err, multipartETag(p1, p2, p3))
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed[:2]}})
	wantCode(t, "Complete again with another list", err, "NoSuchUpload", http.StatusNotFound)
	if got := mustGet(t, c, key); !bytes.Equal(got, slices.Concat(p1, p2, p3)) {
		t.Fatalf("GetObject after the retried Completes: %d bytes, not the parts", len(got))
	}
	one, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("retried")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("retried"), UploadId: one.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(p3)})
	if err != nil {
		t.Fatal(err)
	}
	completeOne := &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("retried"), UploadId: one.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}
	if _, err := c.CompleteMultipartUpload(ctx, completeOne); err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "retried", []byte("overwritten"))
	_, err = c.CompleteMultipartUpload(ctx, completeOne)
	wantCode(t, "Complete again after an overwrite", err, "NoSuchUpload", http.StatusNotFound)
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("retried")}); err != nil {
		t.Fatal(err)
	}

	// Abort removes an upload.
	aborted, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("videos/aborted")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("videos/aborted"), UploadId: aborted.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(p3)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("videos/aborted"), UploadId: aborted.UploadId}); err != nil {
		t.Fatalf("AbortMultipartUpload: %v", err)
	}
	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String("videos/aborted"), UploadId: aborted.UploadId})
	wantCode(t, "ListParts after Abort", err, "NoSuchUpload", http.StatusNotFound)

	// The SDK's upload manager: parts in parallel from a stream.
	body := randomBytes(23*mib, 4)
	//lint:ignore SA1019 the upload manager is what most SDK users run; its successor, transfermanager, is still v0
	up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize, u.Concurrency = 5*mib, 4 })
	//lint:ignore SA1019 as above
	res, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("videos/managed"), Body: io.MultiReader(bytes.NewReader(body))})
	if err != nil || !strings.HasSuffix(aws.ToString(res.ETag), `-5"`) {
		t.Fatalf("manager Upload: %+v, %v", res, err)
	}
	if got := mustGet(t, c, "videos/managed"); !bytes.Equal(got, body) {
		t.Fatal("the managed upload's object is not its bytes")
	}

	// The listings show the objects, in order, with their ETags.
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("videos/"), Delimiter: aws.String("/")})
	if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "videos/managed" || len(list.CommonPrefixes) != 1 ||
		aws.ToString(list.CommonPrefixes[0].Prefix) != "videos/a b+c/" || aws.ToInt32(list.KeyCount) != 2 {
		t.Fatalf("ListObjectsV2: %+v, %v", list, err)
	}
	v1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(bucket), Prefix: aws.String("videos/a b+c/"), EncodingType: types.EncodingTypeUrl})
	if err != nil || len(v1.Contents) != 1 || aws.ToString(v1.Contents[0].ETag) != multipartETag(p1, p2, p3) || aws.ToInt64(v1.Contents[0].Size) != 10*mib+1000 {
		t.Fatalf("ListObjects: %+v, %v", v1, err)
	}
	var keys []string
	pager := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(1)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	if want := []string{key, "videos/managed"}; !slices.Equal(keys, want) {
		t.Fatalf("paged ListObjectsV2: %q; want %q", keys, want)
	}
}

// TestS3CompleteSpacing: a completion that outlasts completeWait answers
// 200 at once and keeps the connection alive with spaces; the result, or
// a late error, follows in the body, and the SDK reads both.
func TestS3CompleteSpacing(t *testing.T) {
	// Each completion is held until two spaces have gone out.
	var spaces atomic.Int32
	release := make(chan struct{}, 1)
	restore := s3api.SetCompleteSpacing(time.Millisecond, func() {
		select {
		case <-release:
		case <-time.After(time.Minute): // no spaces came: the body check fails below
		}
	}, func() {
		if spaces.Add(1) == 2 {
			release <- struct{}{}
		}
	})
	t.Cleanup(restore)
	srv := start(t, stacks[0])
	var body bytes.Buffer
	c := s3.New(s3.Options{BaseEndpoint: aws.String(srv.s3), Region: "us-east-1", UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: operatorID, SecretAccessKey: operatorPass}, nil
		}),
		HTTPClient: &http.Client{Transport: teeTransport{&body}},
		// The SDK retries an error that follows a 200; each attempt here
		// must be one completion.
		Retryer: aws.NopRetryer{},
	})
	ctx := context.Background()
	p1, p2 := randomBytes(5*mib, 5), randomBytes(1000, 6)
	for _, tc := range []struct{ name, wantCode string }{{"success", ""}, {"late error", "InvalidPart"}} {
		spaces.Store(0)
		key := "spaced/" + tc.name
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		var parts []types.CompletedPart
		for i, data := range [][]byte{p1, p2} {
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(data)})
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
		}
		if tc.wantCode != "" {
			parts[1].ETag = aws.String(quotedMD5([]byte("other")))
		}
		body.Reset()
		done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		if rest, ok := strings.CutPrefix(body.String(), xml.Header); !ok || !strings.HasPrefix(rest, "  ") || !strings.HasPrefix(strings.TrimLeft(rest, " "), "<") ||
			strings.Contains(rest, "<?xml") {
			t.Fatalf("%s: the body starts %.60q; want one XML declaration, two spaces or more, then the document", tc.name, body.String())
		}
		if tc.wantCode == "" {
			if err != nil || aws.ToString(done.ETag) != multipartETag(p1, p2) {
				t.Fatalf("%s: %+v, %v; want ETag %s", tc.name, done, err, multipartETag(p1, p2))
			}
			if got := mustGet(t, c, key); !bytes.Equal(got, slices.Concat(p1, p2)) {
				t.Fatalf("%s: GetObject: %d bytes, not the parts", tc.name, len(got))
			}
			continue
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != tc.wantCode {
			t.Fatalf("%s: %v; want %s", tc.name, err, tc.wantCode)
		}
	}
}

// teeTransport copies every response body it carries into w.
type teeTransport struct{ w *bytes.Buffer }

func (t teeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		res.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(res.Body, t.w), res.Body}
	}
	return res, err
}
