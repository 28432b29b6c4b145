package s3api

import (
	"net/http"

	"github.com/simpledrive/simpledrive/internal/access"
)

// operation is one row of the operation table: an S3 operation, the access
// action it performs, where the blob id or listing prefix it touches comes
// from, and its handler. [Server.authorize] decides every request by its
// row before the handler runs, so handlers never test scopes or prefixes.
type operation struct {
	// name is the S3 operation's name, as in the S3 API reference; it
	// labels metrics and log lines.
	name   string
	action access.Action
	target *targetSource
	// serve handles an authorized request whose bucket is the one served.
	serve func(s *Server, w http.ResponseWriter, rq *request)
	// anyBucket: serve also handles requests naming another bucket
	// (ListBuckets names none).
	anyBucket bool
}

// targetSource is where an operation finds what it touches.
type targetSource struct {
	name string
	// extract returns the target of rq and the further actions it
	// performs. It runs only for a principal that authenticated, and reads
	// no body.
	extract func(s *Server, rq *request) (access.Target, []access.Check, error)
}

// The target sources of the operation table.
var (
	// noTarget: the request touches no object (bucket calls).
	noTarget = &targetSource{name: "none", extract: func(*Server, *request) (access.Target, []access.Check, error) {
		return access.Target{}, nil, nil
	}}
	// fromKey: the object key of the path.
	fromKey = &targetSource{name: "key", extract: func(_ *Server, rq *request) (access.Target, []access.Check, error) {
		return access.Target{Kind: access.BlobID, ID: rq.key}, nil, nil
	}}
	// fromPrefix: a listing of the keys under the query's prefix.
	fromPrefix = &targetSource{name: "prefix", extract: func(_ *Server, rq *request) (access.Target, []access.Check, error) {
		return access.Target{Kind: access.ListPrefix, ID: rq.query.Get("prefix")}, nil, nil
	}}
	// fromBody: the keys arrive in the body (DeleteObjects); the handler
	// admits each with [access.Principal.Admits].
	fromBody = &targetSource{name: "body", extract: func(*Server, *request) (access.Target, []access.Check, error) {
		return access.Target{Kind: access.LateID}, nil, nil
	}}
)

// Operations, by name.
var (
	opListBuckets       = &operation{name: "ListBuckets", action: access.Any, target: noTarget, serve: (*Server).listBuckets, anyBucket: true}
	opHeadBucket        = &operation{name: "HeadBucket", action: access.Any, target: noTarget, serve: (*Server).headBucket}
	opGetBucketLocation = &operation{name: "GetBucketLocation", action: access.Any, target: noTarget, serve: (*Server).getBucketLocation}
	opCreateBucket      = &operation{name: "CreateBucket", action: access.Any, target: noTarget, serve: (*Server).createBucket}

	opPutObject     = &operation{name: "PutObject", action: access.Write, target: fromKeyReplacing, serve: (*Server).putObject}
	opGetObject     = &operation{name: "GetObject", action: access.Read, target: fromKey, serve: (*Server).getObject}
	opHeadObject    = &operation{name: "HeadObject", action: access.Read, target: fromKey, serve: (*Server).getObject}
	opDeleteObject  = &operation{name: "DeleteObject", action: access.Delete, target: fromKey, serve: (*Server).deleteObject}
	opDeleteObjects = &operation{name: "DeleteObjects", action: access.Delete, target: fromBody, serve: (*Server).deleteObjects}
	opCopyObject    = &operation{name: "CopyObject", action: access.Write, target: fromKeyCopying, serve: (*Server).copyObject}

	// Listing (list.go) and multipart uploads (multipart.go).
	opListObjectsV2           = &operation{name: "ListObjectsV2", action: access.List, target: fromPrefix, serve: (*Server).listObjectsV2}
	opListObjects             = &operation{name: "ListObjects", action: access.List, target: fromPrefix, serve: (*Server).listObjects}
	opListMultipartUploads    = &operation{name: "ListMultipartUploads", action: access.List, target: fromPrefix, serve: (*Server).listMultipartUploads}
	opCreateMultipartUpload   = &operation{name: "CreateMultipartUpload", action: access.Write, target: fromKey, serve: (*Server).createMultipartUpload}
	opUploadPart              = &operation{name: "UploadPart", action: access.Write, target: fromKey, serve: (*Server).uploadPart}
	opUploadPartCopy          = &operation{name: "UploadPartCopy", action: access.Write, target: fromKey, serve: notImplemented}
	opCompleteMultipartUpload = &operation{name: "CompleteMultipartUpload", action: access.Write, target: fromKeyReplacing, serve: (*Server).completeMultipartUpload}
	opAbortMultipartUpload    = &operation{name: "AbortMultipartUpload", action: access.Write, target: fromKey, serve: (*Server).abortMultipartUpload}
	opListParts               = &operation{name: "ListParts", action: access.Write, target: fromKey, serve: (*Server).listParts}

	// opUnsupported is every request this server does not implement
	// (bucket policies, ACLs, tagging, versioning, ...): NotImplemented
	// once authenticated.
	opUnsupported = &operation{name: "Unsupported", action: access.Any, target: noTarget, serve: notImplemented, anyBucket: true}
)

// pick returns the operation of rq, from its method, whether it names a
// bucket and a key, its query's subresources and its headers, as the S3
// API reference tells them apart.
func pick(rq *request) *operation {
	q := rq.query
	has := func(name string) bool { _, ok := q[name]; return ok }
	copySource := rq.Header.Get("x-amz-copy-source") != ""
	switch {
	case rq.bucket == "":
		if rq.method == http.MethodGet {
			return opListBuckets
		}
		return opUnsupported
	case rq.key == "":
		// Bucket subresources: any other is not implemented.
		switch rq.method {
		case http.MethodGet:
			switch {
			case has("location"):
				return opGetBucketLocation
			case has("uploads"):
				return opListMultipartUploads
			case q.Get("list-type") == "2":
				return opListObjectsV2
			case len(q) == 0 || onlyListParams(q):
				return opListObjects
			}
		case http.MethodHead:
			return opHeadBucket
		case http.MethodPut:
			if len(q) == 0 {
				return opCreateBucket
			}
		case http.MethodPost:
			if has("delete") {
				return opDeleteObjects
			}
		}
		return opUnsupported
	}
	switch rq.method {
	case http.MethodPut:
		switch {
		case has("partNumber") && has("uploadId") && copySource:
			return opUploadPartCopy
		case has("partNumber") && has("uploadId"):
			return opUploadPart
		case !plainObject(q):
		case copySource:
			return opCopyObject
		default:
			return opPutObject
		}
	case http.MethodGet:
		switch {
		case has("uploadId"):
			return opListParts
		case plainObject(q):
			return opGetObject
		}
	case http.MethodHead:
		if plainObject(q) {
			return opHeadObject
		}
	case http.MethodDelete:
		switch {
		case has("uploadId"):
			return opAbortMultipartUpload
		case plainObject(q):
			return opDeleteObject
		}
	case http.MethodPost:
		switch {
		case has("uploads"):
			return opCreateMultipartUpload
		case has("uploadId"):
			return opCompleteMultipartUpload
		}
	}
	return opUnsupported
}

// listParams are the query parameters of ListObjects (v1 and v2).
var listParams = map[string]bool{
	"prefix": true, "delimiter": true, "marker": true, "max-keys": true, "encoding-type": true,
	"list-type": true, "continuation-token": true, "start-after": true, "fetch-owner": true,
}

func onlyListParams(q map[string][]string) bool {
	for k := range q {
		if !listParams[k] {
			return false
		}
	}
	return true
}

// plainObject reports whether q names no subresource of an object (acl,
// tagging, retention, ...): only parameters of the object operations
// themselves, presigned URLs' signature parameters and response overrides.
func plainObject(q map[string][]string) bool {
	for k := range q {
		if !objectParams[k] && !isSignatureParam(k) {
			return false
		}
	}
	return true
}

// objectParams are the query parameters the object operations take.
var objectParams = map[string]bool{
	"versionId":                    false, // versions are not kept: a versionId asks for what this server lacks
	"partNumber":                   true,
	"response-content-type":        true,
	"response-content-language":    true,
	"response-expires":             true,
	"response-cache-control":       true,
	"response-content-disposition": true,
	"response-content-encoding":    true,
	"x-id":                         true, // the AWS SDKs name the operation
}

// isSignatureParam reports whether k is a parameter of a presigned URL.
func isSignatureParam(k string) bool {
	switch k {
	case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
		"X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Content-Sha256", "x-amz-checksum-crc32",
		"x-amz-sdk-checksum-algorithm":
		return true
	}
	return false
}

// notImplemented answers an operation this server does not implement.
func notImplemented(_ *Server, w http.ResponseWriter, rq *request) {
	writeError(w, rq, errNotImplemented.with("%s is not implemented by this server.", rq.op.name))
}
