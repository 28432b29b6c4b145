package s3api_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/simpledrive/simpledrive/internal/testenv"
)

// client returns an aws-sdk-go-v2 S3 client of the front door signing
// with id and secret, path-style, with the SDK's default checksum
// behaviour (a CRC on every upload it can).
func (srv *server) client(id, secret string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(srv.s3),
		Region:       "us-east-1",
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, nil
		}),
	})
}

// operator is the client of the operator's pair.
func (srv *server) operator() *s3.Client { return srv.client(operatorID, operatorPass) }

// wantCode fails t unless err is the S3 error code with HTTP status.
func wantCode(t *testing.T, what string, err error, code string, status int) {
	t.Helper()
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Fatalf("%s: %v; want %s (%d)", what, err, code, status)
	}
	var ae smithy.APIError
	if code != "" && (!errors.As(err, &ae) || ae.ErrorCode() != code) {
		t.Fatalf("%s: %v; want code %s", what, err, code)
	}
}

func quotedMD5(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func mustPut(t *testing.T, c *s3.Client, key string, body []byte) *s3.PutObjectOutput {
	t.Helper()
	out, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("PutObject %q: %v", key, err)
	}
	return out
}

func mustGet(t *testing.T, c *s3.Client, key string) []byte {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %q: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GetObject %q body: %v", key, err)
	}
	return b
}

// TestS3Objects runs the object operations through aws-sdk-go-v2 on every
// stack.
func TestS3Objects(t *testing.T) {
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			testenv.SkipStackUnderRace(t, st.name)
			testObjects(t, start(t, st))
		})
	}
}

func testObjects(t *testing.T, srv *server) {
	ctx := context.Background()
	c := srv.operator()
	data := []byte("hello, s3 front door")
	key := "docs/a b+c/日本.txt"

	// Put with a media type: the ETag is the hex MD5.
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data), ContentType: aws.String("text/plain")})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if aws.ToString(put.ETag) != quotedMD5(data) {
		t.Fatalf("PutObject ETag %s; want %s", aws.ToString(put.ETag), quotedMD5(data))
	}
	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if !bytes.Equal(got, data) || aws.ToString(get.ETag) != quotedMD5(data) || aws.ToString(get.ContentType) != "text/plain" ||
		aws.ToInt64(get.ContentLength) != int64(len(data)) || get.LastModified == nil || time.Since(*get.LastModified) > time.Minute {
		t.Fatalf("GetObject = %q, %s, %s, %d, %v", got, aws.ToString(get.ETag), aws.ToString(get.ContentType), aws.ToInt64(get.ContentLength), get.LastModified)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(len(data)) || aws.ToString(head.ETag) != quotedMD5(data) {
		t.Fatalf("HeadObject = %+v, %v", head, err)
	}

	// Ranges.
	rg, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String("bytes=7-8")})
	if err != nil {
		t.Fatalf("ranged GetObject: %v", err)
	}
	part, _ := io.ReadAll(rg.Body)
	rg.Body.Close()
	if string(part) != "s3" || aws.ToString(rg.ContentRange) != "bytes 7-8/20" {
		t.Fatalf("ranged GetObject = %q, %s", part, aws.ToString(rg.ContentRange))
	}
	rg, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String("bytes=-4")})
	if err != nil {
		t.Fatalf("suffix GetObject: %v", err)
	}
	part, _ = io.ReadAll(rg.Body)
	rg.Body.Close()
	if string(part) != "door" {
		t.Fatalf("suffix range = %q", part)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String("bytes=20-")})
	wantCode(t, "range past the end", err, "InvalidRange", http.StatusRequestedRangeNotSatisfiable)

	// Conditionals.
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), IfNoneMatch: put.ETag})
	wantCode(t, "If-None-Match of the ETag", err, "", http.StatusNotModified)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), IfMatch: aws.String(`"0123"`)})
	wantCode(t, "If-Match of another ETag", err, "PreconditionFailed", http.StatusPreconditionFailed)
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), IfModifiedSince: aws.Time(time.Now().Add(time.Hour))})
	wantCode(t, "If-Modified-Since later", err, "", http.StatusNotModified)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), IfUnmodifiedSince: aws.Time(time.Now().Add(-time.Hour))})
	wantCode(t, "If-Unmodified-Since earlier", err, "PreconditionFailed", http.StatusPreconditionFailed)
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), IfMatch: put.ETag, IfModifiedSince: aws.Time(time.Now().Add(-time.Hour))}); err != nil {
		t.Fatalf("If-Match of the ETag: %v", err)
	}

	// Response header overrides.
	ov, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		ResponseContentDisposition: aws.String(`attachment; filename="x.txt"`), ResponseContentType: aws.String("application/x-test"),
		ResponseCacheControl: aws.String("no-cache")})
	if err != nil {
		t.Fatalf("GetObject with overrides: %v", err)
	}
	ov.Body.Close()
	if aws.ToString(ov.ContentDisposition) != `attachment; filename="x.txt"` || aws.ToString(ov.ContentType) != "application/x-test" || aws.ToString(ov.CacheControl) != "no-cache" {
		t.Fatalf("overrides: %s, %s, %s", aws.ToString(ov.ContentDisposition), aws.ToString(ov.ContentType), aws.ToString(ov.CacheControl))
	}

	// Every checksum algorithm, verified.
	for _, alg := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme,
		types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256} {
		k := "sums/" + string(alg)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(data), ChecksumAlgorithm: alg}); err != nil {
			t.Fatalf("PutObject with %s: %v", alg, err)
		}
		if b := mustGet(t, c, k); !bytes.Equal(b, data) {
			t.Fatalf("%s: read back %q", alg, b)
		}
	}
	wrongSum := sha256.Sum256([]byte("other bytes"))
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("sums/wrong"), Body: bytes.NewReader(data),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(wrongSum[:]))})
	wantCode(t, "PutObject with a wrong x-amz-checksum-sha256", err, "BadDigest", http.StatusBadRequest)
	otherMD5 := md5.Sum([]byte("other bytes"))
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("sums/wrong"), Body: bytes.NewReader(data),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(otherMD5[:]))})
	wantCode(t, "PutObject with a wrong Content-MD5", err, "BadDigest", http.StatusBadRequest)
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("sums/wrong")})
	wantCode(t, "HeadObject of a refused upload", err, "", http.StatusNotFound)
	rightMD5 := md5.Sum(data)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("sums/md5"), Body: bytes.NewReader(data),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(rightMD5[:]))}); err != nil {
		t.Fatalf("PutObject with Content-MD5: %v", err)
	}

	// Overwrite replaces; If-None-Match: * refuses to.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader([]byte("x")), IfNoneMatch: aws.String("*")})
	wantCode(t, "PutObject If-None-Match: * of an existing key", err, "PreconditionFailed", http.StatusPreconditionFailed)
	second := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	if out := mustPut(t, c, key, second); aws.ToString(out.ETag) != quotedMD5(second) {
		t.Fatalf("overwrite ETag %s", aws.ToString(out.ETag))
	}
	if b := mustGet(t, c, key); !bytes.Equal(b, second) {
		t.Fatalf("after the overwrite: %d bytes", len(b))
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("fresh"), Body: bytes.NewReader(nil), IfNoneMatch: aws.String("*")}); err != nil {
		t.Fatalf("PutObject If-None-Match: * of a new key: %v", err)
	}
	if b := mustGet(t, c, "fresh"); len(b) != 0 {
		t.Fatalf("empty object read back as %q", b)
	}

	// Copy within the bucket: the bytes, a fresh ETag of them, the
	// source's media type unless replaced; conditionals on the source.
	cp, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("copies/one"), CopySource: aws.String(bucket + "/sums/md5")})
	if err != nil || aws.ToString(cp.CopyObjectResult.ETag) != quotedMD5(data) || cp.CopyObjectResult.LastModified == nil {
		t.Fatalf("CopyObject = %+v, %v", cp, err)
	}
	if b := mustGet(t, c, "copies/one"); !bytes.Equal(b, data) {
		t.Fatalf("copy read back %q", b)
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("copies/one"), CopySource: aws.String("/" + bucket + "/" + strings.ReplaceAll(key, " ", "%20")),
		MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("application/x-copied")}); err != nil {
		t.Fatalf("CopyObject over an existing key: %v", err)
	}
	if h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("copies/one")}); err != nil ||
		aws.ToInt64(h.ContentLength) != int64(len(second)) || aws.ToString(h.ContentType) != "application/x-copied" {
		t.Fatalf("HeadObject of the replaced copy = %+v, %v", h, err)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("copies/two"), CopySource: aws.String(bucket + "/sums/md5"), CopySourceIfMatch: aws.String(`"0000"`)})
	wantCode(t, "CopyObject with x-amz-copy-source-if-match of another ETag", err, "PreconditionFailed", http.StatusPreconditionFailed)
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("copies/two"), CopySource: aws.String(bucket + "/absent")})
	wantCode(t, "CopyObject of an absent source", err, "NoSuchKey", http.StatusNotFound)
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("copies/two"), CopySource: aws.String("elsewhere/sums/md5")})
	wantCode(t, "CopyObject from another bucket", err, "NoSuchBucket", http.StatusNotFound)

	// DeleteObjects: each key deleted, absent ones too; quiet lists only
	// errors.
	del, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("sums/CRC32")}, {Key: aws.String("sums/SHA1")}, {Key: aws.String("never/was")},
	}}})
	if err != nil || len(del.Deleted) != 3 || len(del.Errors) != 0 {
		t.Fatalf("DeleteObjects = %+v, %v", del, err)
	}
	del, err = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Quiet: aws.Bool(true), Objects: []types.ObjectIdentifier{
		{Key: aws.String("sums/CRC32C")},
	}}})
	if err != nil || len(del.Deleted) != 0 || len(del.Errors) != 0 {
		t.Fatalf("quiet DeleteObjects = %+v, %v", del, err)
	}
	for _, k := range []string{"sums/CRC32", "sums/SHA1", "sums/CRC32C"} {
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		wantCode(t, "HeadObject after DeleteObjects", err, "", http.StatusNotFound)
	}

	// Delete: 204, also when absent; then NoSuchKey.
	for range 2 {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			t.Fatalf("DeleteObject: %v", err)
		}
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	wantCode(t, "GetObject of a deleted key", err, "NoSuchKey", http.StatusNotFound)

	// Other buckets do not exist; unsupported operations say so.
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("other-bucket"), Key: aws.String("fresh")})
	wantCode(t, "HeadObject in another bucket", err, "", http.StatusNotFound)
	_, err = c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String(bucket), Key: aws.String("fresh")})
	wantCode(t, "GetObjectAcl", err, "NotImplemented", http.StatusNotImplemented)
}

// TestS3Interop: an object put by S3 is read by the native API, and a blob
// put by the native API is read by S3, with its SHA-256 as ETag.
func TestS3Interop(t *testing.T) {
	srv := start(t, stacks[0])
	c := srv.operator()
	mustPut(t, c, "from-s3", []byte("s3 bytes"))
	req, _ := http.NewRequest(http.MethodGet, srv.native+"/v1/blobs/from-s3?alt=media", nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(b) != "s3 bytes" {
		t.Fatalf("native GET of an S3 object: %d %q", res.StatusCode, b)
	}
	native := []byte("native bytes")
	req, _ = http.NewRequest(http.MethodPut, srv.native+"/v1/blobs/from-native", bytes.NewReader(native))
	req.Header.Set("Authorization", "Bearer "+apiToken)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("native PUT: %d", res.StatusCode)
	}
	head, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("from-native")})
	sum := sha256.Sum256(native)
	if err != nil || aws.ToString(head.ETag) != `"`+hex.EncodeToString(sum[:])+`"` {
		t.Fatalf("HeadObject of a native blob: %v, %v", head, err)
	}
	if b := mustGet(t, c, "from-native"); !bytes.Equal(b, native) {
		t.Fatalf("S3 GET of a native blob: %q", b)
	}
	if !strings.Contains(srv.metrics(t), `simpledrive_s3_requests_total{code="200",operation="PutObject"} 1`) {
		t.Fatalf("metrics do not count the PutObject:\n%s", srv.metrics(t))
	}
}

// metrics returns the server's /metrics page.
func (srv *server) metrics(t *testing.T) string {
	t.Helper()
	res, err := http.Get(srv.native + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}
