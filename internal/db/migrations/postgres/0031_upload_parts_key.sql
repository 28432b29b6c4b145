-- +goose Up
-- Garbage collection asks whether keys are referenced, upload parts
-- included, one page of keys at a time.
CREATE INDEX upload_parts_storage_key ON upload_parts (storage_key);

-- +goose Down
DROP INDEX upload_parts_storage_key;
