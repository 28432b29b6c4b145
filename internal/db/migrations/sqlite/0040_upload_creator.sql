-- +goose Up
-- Who created each resumable upload: the key id of its creator's API key,
-- or "operator" for API_TOKEN ('' for uploads made before this migration).
-- Open uploads are counted by creator to bound them (MAX_OPEN_UPLOADS).
ALTER TABLE uploads ADD COLUMN creator TEXT NOT NULL DEFAULT '';
CREATE INDEX uploads_open_by_creator ON uploads (creator, expires_at) WHERE finished = 0;

-- +goose Down
DROP INDEX uploads_open_by_creator;
ALTER TABLE uploads DROP COLUMN creator;
