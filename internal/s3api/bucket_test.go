package s3api_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/simpledrive/simpledrive/internal/config"
)

// TestS3Bucket: the bucket calls, presigned URLs, virtual-host style
// requests, conditional writes and user metadata (accepted, not stored).
func TestS3Bucket(t *testing.T) {
	srv := start(t, stacks[0], func(c *config.Config) { c.S3API.Domain = "s3.test" })
	ctx := context.Background()
	c := srv.operator()

	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != bucket || lb.Buckets[0].CreationDate == nil {
		t.Fatalf("ListBuckets = %+v, %v", lb, err)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("HeadBucket: %v", err)
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("other-bucket")})
	wantCode(t, "HeadBucket of another bucket", err, "", http.StatusNotFound)
	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(bucket)})
	if err != nil || loc.LocationConstraint != "" {
		t.Fatalf("GetBucketLocation = %+v, %v", loc, err)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket of the bucket: %v", err)
	}
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("another-bucket")})
	wantCode(t, "CreateBucket of another name", err, "NoSuchBucket", http.StatusNotFound)

	// What is not supported says so.
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	wantCode(t, "DeleteBucket", err, "NotImplemented", http.StatusNotImplemented)
	_, err = c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	wantCode(t, "GetBucketVersioning", err, "NotImplemented", http.StatusNotImplemented)
	_, err = c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String("k"), Tagging: &types.Tagging{TagSet: []types.Tag{}}})
	wantCode(t, "PutObjectTagging", err, "NotImplemented", http.StatusNotImplemented)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), VersionId: aws.String("v1")})
	wantCode(t, "GetObject of a version", err, "NotImplemented", http.StatusNotImplemented)

	// Presigned PUT and GET, by any HTTP client.
	pc := s3.NewPresignClient(c)
	pput, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("signed/x.txt")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, pput.URL, strings.NewReader("presigned bytes"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("presigned PUT: %d", res.StatusCode)
	}
	pget, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("signed/x.txt")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	res, err = http.Get(pget.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(b) != "presigned bytes" {
		t.Fatalf("presigned GET: %d %q", res.StatusCode, b)
	}
	res, err = http.Get(strings.Replace(pget.URL, "X-Amz-Signature=", "X-Amz-Signature=0", 1))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered presigned GET: %d", res.StatusCode)
	}

	// Virtual-host style: drive.s3.test names the bucket.
	addr := strings.TrimPrefix(srv.s3, "http://")
	_, port, _ := net.SplitHostPort(addr)
	vh := s3.New(s3.Options{
		BaseEndpoint: aws.String("http://s3.test:" + port), Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: operatorID, SecretAccessKey: operatorPass}, nil
		}),
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}},
	})
	if _, err := vh.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("vhost/k"), Body: strings.NewReader("virtual")}); err != nil {
		t.Fatalf("virtual-host PutObject: %v", err)
	}
	if b := mustGet(t, c, "vhost/k"); string(b) != "virtual" {
		t.Fatalf("path-style read of a virtual-host write: %q", b)
	}

	// Conditional writes: If-Match replaces only that ETag.
	first := mustPut(t, c, "cond/k", []byte("one"))
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("cond/k"), Body: strings.NewReader("two"), IfMatch: aws.String(`"0000"`)})
	wantCode(t, "PutObject If-Match of another ETag", err, "PreconditionFailed", http.StatusPreconditionFailed)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("cond/k"), Body: strings.NewReader("two"), IfMatch: first.ETag}); err != nil {
		t.Fatalf("PutObject If-Match of the ETag: %v", err)
	}
	if b := mustGet(t, c, "cond/k"); string(b) != "two" {
		t.Fatalf("after If-Match: %q", b)
	}

	// User metadata and the content headers are stored, copied with
	// the object, replaced by a copy that says REPLACE, and bounded.
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("meta/k"), Body: bytes.NewReader([]byte("m")),
		Metadata: map[string]string{"mtime": "1700000000"}, CacheControl: aws.String("max-age=60"), StorageClass: types.StorageClassStandard,
		ContentDisposition: aws.String(`inline; filename="m.txt"`)}); err != nil {
		t.Fatalf("PutObject with metadata: %v", err)
	}
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("meta/k")})
	if err != nil || h.Metadata["mtime"] != "1700000000" || aws.ToString(h.CacheControl) != "max-age=60" || aws.ToString(h.ContentDisposition) != `inline; filename="m.txt"` {
		t.Fatalf("HeadObject of an object put with metadata = %+v, %v", h, err)
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("meta/copy"), CopySource: aws.String(bucket + "/meta/k")}); err != nil {
		t.Fatal(err)
	}
	if g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("meta/copy")}); err != nil || g.Metadata["mtime"] != "1700000000" {
		t.Fatalf("GetObject of a copy = %+v, %v", g, err)
	} else {
		g.Body.Close()
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("meta/copy"), CopySource: aws.String(bucket + "/meta/k"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"color": "blue"}}); err != nil {
		t.Fatal(err)
	}
	if h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("meta/copy")}); err != nil ||
		len(h.Metadata) != 1 || h.Metadata["color"] != "blue" || h.CacheControl != nil {
		t.Fatalf("HeadObject of a REPLACE copy = %+v, %v", h, err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("meta/big"), Body: bytes.NewReader([]byte("m")),
		Metadata: map[string]string{"big": strings.Repeat("x", 2100)}})
	wantCode(t, "PutObject with 2 KiB of metadata", err, "MetadataTooLarge", http.StatusBadRequest)
}
