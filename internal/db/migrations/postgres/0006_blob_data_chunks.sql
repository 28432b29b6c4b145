-- +goose Up
-- The "database" backend stores a blob as chunks of at most 1 MiB
-- (internal/storage/sqlstore), so that no statement carries, and no driver
-- copies, a whole blob. A blob is readable once its row in blob_data_index
-- exists; chunks without one belong to an upload in progress or to one that
-- failed or crashed (garbage, listed by the backend for collection).
-- Keys are COLLATE "C", so the primary keys' indexes serve the bytewise
-- comparisons and order of listings.
CREATE TABLE blob_data_index (
    key        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    size       BIGINT      NOT NULL CHECK (size >= 0),
    chunk_size INTEGER     NOT NULL CHECK (chunk_size > 0),
    created_at TIMESTAMPTZ NOT NULL
);

ALTER TABLE blob_data RENAME TO blob_data_v1;
ALTER INDEX blob_data_pkey RENAME TO blob_data_v1_pkey;

-- Chunk seq holds bytes [seq*chunk_size, (seq+1)*chunk_size) of the blob;
-- every chunk but the last is full. An empty blob has no chunk.
CREATE TABLE blob_data (
    key        TEXT COLLATE "C" NOT NULL,
    seq        INTEGER     NOT NULL CHECK (seq >= 0),
    data       BYTEA       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (key, seq)
);
-- Out of line and uncompressed, as before: substr() of a chunk fetches only
-- the TOAST pages it returns, and length() reads no data.
ALTER TABLE blob_data ALTER COLUMN data SET STORAGE EXTERNAL;

-- The old column is EXTERNAL too, so each substr() reads only its slice.
INSERT INTO blob_data (key, seq, data, created_at)
SELECT b.key, s.seq, substr(b.data, s.seq * 1048576 + 1, 1048576), b.created_at
FROM blob_data_v1 AS b
CROSS JOIN LATERAL generate_series(0, (length(b.data) + 1048575) / 1048576 - 1) AS s(seq);

INSERT INTO blob_data_index (key, size, chunk_size, created_at)
SELECT key, length(data), 1048576, created_at FROM blob_data_v1;

DROP TABLE blob_data_v1;

-- +goose Down
-- Only published blobs come back; chunks without an index row are dropped.
CREATE TABLE blob_data_v1 (
    key        TEXT        NOT NULL,
    data       BYTEA       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
ALTER TABLE blob_data_v1 ALTER COLUMN data SET STORAGE EXTERNAL;
INSERT INTO blob_data_v1 (key, data, created_at)
SELECT i.key,
       coalesce((SELECT string_agg(c.data, ''::bytea ORDER BY c.seq) FROM blob_data AS c WHERE c.key = i.key), ''::bytea),
       i.created_at
FROM blob_data_index AS i;
DROP TABLE blob_data;
DROP TABLE blob_data_index;
ALTER TABLE blob_data_v1 RENAME TO blob_data;
ALTER TABLE blob_data ADD CONSTRAINT blob_data_pkey PRIMARY KEY (key);
CREATE INDEX blob_data_key_bytewise ON blob_data (key COLLATE "C");
