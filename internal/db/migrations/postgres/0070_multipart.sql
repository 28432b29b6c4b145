-- +goose Up
-- S3 multipart uploads share the uploads table with tus uploads (state,
-- expiry, lease, creator, usage), told apart by kind: 'tus' or 's3'.
-- ListMultipartUploads walks the open ones by blob id (bytewise), then
-- upload id.
ALTER TABLE uploads ADD COLUMN kind TEXT NOT NULL DEFAULT 'tus';
CREATE INDEX uploads_multipart ON uploads (kind, blob_id COLLATE "C", upload_id) WHERE finished = 0;
-- The parts of S3 multipart uploads: numbered by the client, sent in any
-- order, each stored under a key of its own; md5 is the part's ETag,
-- checksum the client's x-amz-checksum-* ("ALGORITHM:base64") or ''.
-- Times are Unix microseconds.
CREATE TABLE multipart_parts (
    upload_id   TEXT    NOT NULL REFERENCES uploads (upload_id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    storage_key TEXT    NOT NULL,
    size        BIGINT  NOT NULL,
    md5         TEXT    NOT NULL,
    checksum    TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
CREATE INDEX multipart_parts_storage_key ON multipart_parts (storage_key);

-- +goose Down
DROP TABLE multipart_parts;
DROP INDEX uploads_multipart;
ALTER TABLE uploads DROP COLUMN kind;
