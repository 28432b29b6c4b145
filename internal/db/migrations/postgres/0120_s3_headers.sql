-- +goose Up
-- The headers an S3 PutObject stores with a blob (x-amz-meta-* user
-- metadata, Cache-Control, Content-Disposition, Content-Encoding,
-- Content-Language, Expires), as a JSON object, returned on every GET and
-- HEAD of the S3 front door. NULL for none.
ALTER TABLE blob_metadata ADD COLUMN s3_headers TEXT;

-- +goose Down
ALTER TABLE blob_metadata DROP COLUMN s3_headers;
