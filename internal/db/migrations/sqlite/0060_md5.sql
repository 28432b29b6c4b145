-- +goose Up
-- The S3 ETag of a blob written by the S3 front door (DESIGN section 9):
-- the hex MD5 of its bytes, computed as they were written, or for a
-- multipart upload the hex MD5 of its parts' MD5s, '-' and the number of
-- parts. NULL for blobs written by the other protocols, whose ETag is
-- their SHA-256.
ALTER TABLE blob_metadata ADD COLUMN md5 TEXT;

-- +goose Down
ALTER TABLE blob_metadata DROP COLUMN md5;
