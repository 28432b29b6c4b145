-- +goose Up
-- Storage keys no metadata row references any more (deleted blobs), to be
-- removed from their backend once not_before (Unix time in microseconds,
-- an integer so that both engines compare it alike) has passed.
CREATE TABLE blob_garbage (
    backend     TEXT   NOT NULL,
    storage_key TEXT   NOT NULL,
    not_before  BIGINT NOT NULL,
    PRIMARY KEY (backend, storage_key)
);
CREATE INDEX blob_garbage_not_before ON blob_garbage (not_before);

-- +goose Down
DROP TABLE blob_garbage;
