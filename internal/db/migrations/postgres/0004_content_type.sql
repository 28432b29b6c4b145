-- +goose Up
-- The media type a blob was stored with (raw PUT, tus uploads); the JSON
-- POST and every blob stored before this column existed have none given.
ALTER TABLE blob_metadata ADD COLUMN content_type TEXT NOT NULL DEFAULT 'application/octet-stream';

-- +goose Down
ALTER TABLE blob_metadata DROP COLUMN content_type;
