-- +goose Up
CREATE TABLE blob_metadata (
    id          TEXT        NOT NULL PRIMARY KEY,
    size        BIGINT      NOT NULL CHECK (size >= 0),
    sha256      TEXT        NOT NULL CHECK (length(sha256) = 64),
    backend     TEXT        NOT NULL,
    storage_key TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE blob_metadata;
