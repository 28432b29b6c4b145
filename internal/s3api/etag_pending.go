package s3api

import "github.com/simpledrive/simpledrive/internal/blob"

// etag returns the S3 ETag of b, quoted: its SHA-256 tag until the MD5
// column of S3 writes lands.
func etag(b blob.Blob) string { return `"` + b.SHA256 + `"` }
