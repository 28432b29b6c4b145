package s3api_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"testing"
)

// TestS3Unsigned: a request without a signature is refused as S3 refuses
// it, 403 AccessDenied in S3's XML, with the request id headers.
func TestS3Unsigned(t *testing.T) {
	srv := start(t, stacks[0])
	res, err := http.Get(srv.s3 + "/" + bucket + "/some/key")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var doc struct {
		Code, Message, RequestId string
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if res.StatusCode != http.StatusForbidden || doc.Code != "AccessDenied" || res.Header.Get("Content-Type") != "application/xml" {
		t.Fatalf("unsigned GET: %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if id := res.Header.Get("x-amz-request-id"); id == "" || id != doc.RequestId || res.Header.Get("x-amz-id-2") == "" {
		t.Fatalf("request id header %q, document %q, id-2 %q", id, doc.RequestId, res.Header.Get("x-amz-id-2"))
	}
}
