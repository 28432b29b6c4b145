package s3api

import "github.com/simpledrive/simpledrive/internal/blob"

// etag returns the S3 ETag of b, quoted: the MD5 (or md5-of-part-md5s-N)
// the S3 front door recorded when it wrote b, or the SHA-256 tag of a blob
// written by another protocol, as the native API shows it.
func etag(b blob.Blob) string {
	if b.MD5 != "" {
		return `"` + b.MD5 + `"`
	}
	return `"` + b.SHA256 + `"`
}
