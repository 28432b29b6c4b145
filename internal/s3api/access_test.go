package s3api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// s3Key creates, through the native API, an API key with S3 credentials
// and returns its access key id and secret access key.
func (srv *server) s3Key(t *testing.T, spec map[string]any) (id, secret string) {
	t.Helper()
	spec["s3"] = true
	body, _ := json.Marshal(spec)
	req, _ := http.NewRequest(http.MethodPost, srv.native+"/v1/keys", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var k struct {
		KeyID             string `json:"key_id"`
		S3                bool   `json:"s3"`
		S3AccessKeyID     string `json:"s3_access_key_id"`
		S3SecretAccessKey string `json:"s3_secret_access_key"`
	}
	if err := json.NewDecoder(res.Body).Decode(&k); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/keys: %d, %v", res.StatusCode, err)
	}
	if !k.S3 || k.S3AccessKeyID != k.KeyID || len(k.S3SecretAccessKey) < 40 {
		t.Fatalf("POST /v1/keys with s3: %+v", k)
	}
	return k.S3AccessKeyID, k.S3SecretAccessKey
}

// revoke revokes the key id through the native API.
func (srv *server) revoke(t *testing.T, id string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, srv.native+"/v1/keys/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /v1/keys/%s: %d", id, res.StatusCode)
	}
}

// TestS3AccessMatrix: every S3 operation x principal, decided by package
// access: scopes, prefix confinement (a confined key reads, lists,
// writes, copies from and into nothing outside its prefix), anonymous
// and badly signed requests, revocation.
func TestS3AccessMatrix(t *testing.T) {
	srv := start(t, stacks[0])
	op := srv.operator()
	for _, k := range []string{"team/a", "team/b", "other/b"} {
		mustPut(t, op, k, []byte("seed "+k))
	}
	confinedID, confinedSecret := srv.s3Key(t, map[string]any{"name": "team", "scopes": []string{"read", "write", "delete"}, "prefix": "team/"})
	readerID, readerSecret := srv.s3Key(t, map[string]any{"name": "reader", "scopes": []string{"read"}})
	writerID, writerSecret := srv.s3Key(t, map[string]any{"name": "writer", "scopes": []string{"write"}})
	principals := map[string]*s3.Client{
		"operator":     op,
		"confined":     srv.client(confinedID, confinedSecret),
		"reader":       srv.client(readerID, readerSecret),
		"writer":       srv.client(writerID, writerSecret),
		"wrong secret": srv.client(readerID, strings.Repeat("x", 40)),
		"unknown key":  srv.client("AKIDUNKNOWN", strings.Repeat("x", 40)),
		"anonymous":    s3.New(s3.Options{BaseEndpoint: aws.String(srv.s3), Region: "us-east-1", UsePathStyle: true, Credentials: aws.AnonymousCredentials{}}),
	}
	ctx := context.Background()
	put := func(key string) func(*s3.Client, string) error {
		return func(c *s3.Client, tag string) error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(strings.ReplaceAll(key, "%s", tag)), Body: strings.NewReader("new " + tag)})
			return err
		}
	}
	get := func(key string) func(*s3.Client, string) error {
		return func(c *s3.Client, tag string) error {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(strings.ReplaceAll(key, "%s", tag))})
			if err == nil {
				out.Body.Close()
			}
			return err
		}
	}
	head := func(key string) func(*s3.Client, string) error {
		return func(c *s3.Client, tag string) error {
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(strings.ReplaceAll(key, "%s", tag))})
			return err
		}
	}
	del := func(key string) func(*s3.Client, string) error {
		return func(c *s3.Client, tag string) error {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(strings.ReplaceAll(key, "%s", tag))})
			return err
		}
	}
	cp := func(from, to string) func(*s3.Client, string) error {
		return func(c *s3.Client, tag string) error {
			_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String(strings.ReplaceAll(to, "%s", tag)), CopySource: aws.String(bucket + "/" + from)})
			return err
		}
	}
	list := func(prefix string) func(*s3.Client, string) error {
		return func(c *s3.Client, tag string) error {
			_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
			return err
		}
	}
	bucketCall := func(c *s3.Client, _ string) error {
		_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
		return err
	}
	listBuckets := func(c *s3.Client, _ string) error {
		_, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
		return err
	}
	location := func(c *s3.Client, _ string) error {
		_, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(bucket)})
		return err
	}
	createBucket := func(c *s3.Client, _ string) error {
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		return err
	}
	listV1 := func(c *s3.Client, _ string) error {
		_, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(bucket)})
		return err
	}
	listUploads := func(c *s3.Client, _ string) error {
		_, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		return err
	}
	unsupported := func(c *s3.Client, _ string) error {
		_, err := c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String(bucket)})
		return err
	}
	deleteObjects := func(key string) func(*s3.Client, string) error {
		return func(c *s3.Client, tag string) error {
			k := strings.ReplaceAll(key, "%s", tag)
			res, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String(k)}}}})
			if err == nil && len(res.Errors) > 0 {
				err = &smithy.GenericAPIError{Code: aws.ToString(res.Errors[0].Code), Message: aws.ToString(res.Errors[0].Message)}
			}
			return err
		}
	}
	// The multipart rows act on an upload the operator opened at key, so
	// each cell decides only the principal's own call.
	opened := func(key, tag string) (string, string) {
		k := strings.ReplaceAll(key, "%s", tag)
		up, err := op.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("CreateMultipartUpload %s by the operator: %v", k, err)
		}
		return k, aws.ToString(up.UploadId)
	}
	createUpload := func(key string) func(*s3.Client, string) error {
		return func(c *s3.Client, tag string) error {
			_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(strings.ReplaceAll(key, "%s", tag))})
			return err
		}
	}
	uploadPart := func(key string) func(*s3.Client, string) error {
		return func(c *s3.Client, tag string) error {
			k, id := opened(key, tag)
			_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(k), UploadId: aws.String(id), PartNumber: aws.Int32(1), Body: strings.NewReader("part")})
			return err
		}
	}
	uploadPartCopy := func(key string) func(*s3.Client, string) error {
		return func(c *s3.Client, tag string) error {
			k, id := opened(key, tag)
			_, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String(bucket), Key: aws.String(k), UploadId: aws.String(id), PartNumber: aws.Int32(1), CopySource: aws.String(bucket + "/team/a")})
			return err
		}
	}
	complete := func(key string) func(*s3.Client, string) error {
		return func(c *s3.Client, tag string) error {
			k, id := opened(key, tag)
			part, err := op.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(k), UploadId: aws.String(id), PartNumber: aws.Int32(1), Body: strings.NewReader("part")})
			if err != nil {
				t.Fatalf("UploadPart %s by the operator: %v", k, err)
			}
			_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(k), UploadId: aws.String(id),
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}})
			return err
		}
	}
	abort := func(key string) func(*s3.Client, string) error {
		return func(c *s3.Client, tag string) error {
			k, id := opened(key, tag)
			_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(k), UploadId: aws.String(id)})
			return err
		}
	}
	listParts := func(key string) func(*s3.Client, string) error {
		return func(c *s3.Client, tag string) error {
			k, id := opened(key, tag)
			_, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(k), UploadId: aws.String(id)})
			return err
		}
	}
	const (
		ok       = ""
		denied   = "AccessDenied"
		noKey    = "NoSuchKey"
		notFound = "404" // HEAD: no body, no code
		badSig   = "SignatureDoesNotMatch"
		unknown  = "InvalidAccessKeyId"
		notImpl  = "NotImplemented"
	)
	// Each row: an operation of the table (operations.go), a case of it
	// and the outcome per principal, in the order operator, confined,
	// reader, writer; the three refused principals always get their
	// refusal.
	rows := []struct {
		op, name string
		do       func(*s3.Client, string) error
		want     [4]string
	}{
		{"ListBuckets", "", listBuckets, [4]string{ok, ok, ok, ok}},
		{"HeadBucket", "", bucketCall, [4]string{ok, ok, ok, ok}},
		{"GetBucketLocation", "", location, [4]string{ok, ok, ok, ok}},
		{"CreateBucket", "of the one bucket", createBucket, [4]string{ok, ok, ok, ok}},
		{"GetObject", "inside", get("team/a"), [4]string{ok, ok, ok, denied}},
		{"GetObject", "outside", get("other/b"), [4]string{ok, noKey, ok, denied}},
		{"HeadObject", "outside", head("other/b"), [4]string{ok, notFound, ok, "403"}},
		{"ListObjectsV2", "", list(""), [4]string{ok, ok, ok, denied}},
		{"ListObjects", "", listV1, [4]string{ok, ok, ok, denied}},
		{"PutObject", "new inside", put("team/new-%s"), [4]string{ok, ok, denied, ok}},
		{"PutObject", "new outside", put("other/new-%s"), [4]string{ok, denied, denied, ok}},
		{"PutObject", "over an existing key", put("team/b"), [4]string{ok, ok, denied, denied}},
		{"CopyObject", "from outside", cp("other/b", "team/copy-%s"), [4]string{ok, denied, denied, denied}},
		{"CopyObject", "into outside", cp("team/a", "other/copy-%s"), [4]string{ok, denied, denied, denied}},
		{"CopyObject", "inside", cp("team/a", "team/copy-%s"), [4]string{ok, ok, denied, denied}},
		{"DeleteObject", "outside", del("other/b"), [4]string{"skip", denied, denied, denied}},
		{"DeleteObject", "inside", del("team/gone-%s"), [4]string{ok, ok, denied, denied}},
		{"DeleteObjects", "inside", deleteObjects("team/gone-%s"), [4]string{ok, ok, denied, denied}},
		{"ListMultipartUploads", "", listUploads, [4]string{ok, ok, ok, denied}},
		{"CreateMultipartUpload", "inside", createUpload("team/mp-%s"), [4]string{ok, ok, denied, ok}},
		{"CreateMultipartUpload", "outside", createUpload("other/mp-%s"), [4]string{ok, denied, denied, ok}},
		{"UploadPart", "inside", uploadPart("team/up-%s"), [4]string{ok, ok, denied, ok}},
		{"UploadPart", "outside", uploadPart("other/up-%s"), [4]string{ok, denied, denied, ok}},
		{"UploadPartCopy", "inside", uploadPartCopy("team/upc-%s"), [4]string{notImpl, notImpl, denied, notImpl}},
		{"UploadPartCopy", "outside", uploadPartCopy("other/upc-%s"), [4]string{notImpl, denied, denied, notImpl}},
		{"CompleteMultipartUpload", "inside", complete("team/done-%s"), [4]string{ok, ok, denied, ok}},
		{"CompleteMultipartUpload", "outside", complete("other/done-%s"), [4]string{ok, denied, denied, ok}},
		{"AbortMultipartUpload", "inside", abort("team/ab-%s"), [4]string{ok, ok, denied, ok}},
		{"AbortMultipartUpload", "outside", abort("other/ab-%s"), [4]string{ok, denied, denied, ok}},
		{"ListParts", "inside", listParts("team/lp-%s"), [4]string{ok, ok, denied, ok}},
		{"ListParts", "outside", listParts("other/lp-%s"), [4]string{ok, denied, denied, ok}},
		{"Unsupported", "GetBucketAcl", unsupported, [4]string{notImpl, notImpl, notImpl, notImpl}},
	}
	covered := map[string]bool{}
	for _, row := range rows {
		covered[row.op] = true
	}
	for _, name := range operationNames(t) {
		if !covered[name] {
			t.Errorf("operation %s has no row in the access matrix", name)
		}
	}
	names := []string{"operator", "confined", "reader", "writer"}
	for _, row := range rows {
		for i, name := range append(slices.Clone(names), "wrong secret", "unknown key", "anonymous") {
			want := map[string]string{"wrong secret": badSig, "unknown key": unknown, "anonymous": denied}[name]
			if i < 4 {
				want = row.want[i]
			}
			if want == "skip" {
				continue
			}
			// Keys made by a row are the principal's own, so one
			// principal's success does not change another's cell.
			err := row.do(principals[name], strings.ReplaceAll(name, " ", "-"))
			cell := strings.TrimSpace(row.op + " " + row.name)
			switch {
			case want == ok && err != nil:
				t.Errorf("%s by %s: %v; want success", cell, name, err)
			case want == ok:
			case row.op == "HeadBucket" || row.op == "HeadObject" || want == notFound || want == "403":
				status := map[string]int{notFound: 404, "403": 403, denied: 403, badSig: 403, unknown: 403}[want]
				if !hasStatus(err, status) {
					t.Errorf("%s by %s: %v; want %d", cell, name, err, status)
				}
			default:
				if !hasCode(err, want) {
					t.Errorf("%s by %s: %v; want %s", cell, name, err, want)
				}
			}
		}
	}

	// A confined key's listing holds only its prefix; DeleteObjects
	// refuses, key by key, what lies outside it.
	confined := principals["confined"]
	page, err := confined.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range page.Contents {
		if !strings.HasPrefix(aws.ToString(o.Key), "team/") {
			t.Errorf("the confined key lists %q", aws.ToString(o.Key))
		}
	}
	if page, err := confined.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("other/")}); err != nil || len(page.Contents) != 0 {
		t.Errorf("the confined key lists other/: %+v, %v", page, err)
	}
	res, err := confined.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("team/a")}, {Key: aws.String("other/b")},
	}}})
	if err != nil || len(res.Deleted) != 1 || aws.ToString(res.Deleted[0].Key) != "team/a" || len(res.Errors) != 1 ||
		aws.ToString(res.Errors[0].Key) != "other/b" || aws.ToString(res.Errors[0].Code) != "AccessDenied" {
		t.Fatalf("confined DeleteObjects = %+v, %v", res, err)
	}
	if err := head("other/b")(op, ""); err != nil {
		t.Fatalf("other/b after the confined key's DeleteObjects: %v", err)
	}

	// Revoked: refused at once on this replica.
	srv.revoke(t, readerID)
	if err := get("team/b")(principals["reader"], ""); !hasCode(err, unknown) {
		t.Fatalf("GetObject with a revoked key: %v", err)
	}
}

// hasStatus reports whether err is an S3 error with the HTTP status.
func hasStatus(err error, status int) bool {
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == status
}

// hasCode reports whether err is an S3 error with the code.
func hasCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// operationNames returns the name of every operation of the table in
// operations.go, read from its source, so an operation added there
// without a row in [TestS3AccessMatrix] fails it.
func operationNames(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "operations.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.CompositeLit)
		if !ok || !isIdent(lit.Type, "operation") {
			return true
		}
		for _, e := range lit.Elts {
			if kv, ok := e.(*ast.KeyValueExpr); ok && isIdent(kv.Key, "name") {
				name, err := strconv.Unquote(kv.Value.(*ast.BasicLit).Value)
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, name)
			}
		}
		return true
	})
	if len(names) < 20 {
		t.Fatalf("operations.go holds %d operations; the parse missed them", len(names))
	}
	return names
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
