-- +goose Up
-- The "database" backend stores a blob as chunks of at most 1 MiB
-- (internal/storage/sqlstore), so that no statement carries, and no driver
-- copies, a whole blob. A blob is readable once its row in blob_data_index
-- exists; chunks without one belong to an upload in progress or to one that
-- failed or crashed (garbage, listed by the backend for collection).
-- (Numbered 0006 like PostgreSQL's; SQLite has no 0005.)
CREATE TABLE blob_data_index (
    key        TEXT      NOT NULL PRIMARY KEY,
    size       INTEGER   NOT NULL CHECK (size >= 0),
    chunk_size INTEGER   NOT NULL CHECK (chunk_size > 0),
    created_at TIMESTAMP NOT NULL
);

ALTER TABLE blob_data RENAME TO blob_data_v1;

-- Chunk seq holds bytes [seq*chunk_size, (seq+1)*chunk_size) of the blob;
-- every chunk but the last is full. An empty blob has no chunk.
CREATE TABLE blob_data (
    key        TEXT      NOT NULL,
    seq        INTEGER   NOT NULL CHECK (seq >= 0),
    data       BLOB      NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (key, seq)
);

-- substr() loads the whole value on SQLite, so splitting a blob of n MiB
-- copies n times its size inside SQLite: about a second for 64 MiB,
-- proportionally more (quadratically) for larger blobs.
INSERT INTO blob_data (key, seq, data, created_at)
WITH RECURSIVE n(seq) AS (
    SELECT 0
    UNION ALL
    SELECT seq + 1 FROM n
    WHERE (seq + 1) * 1048576 < (SELECT coalesce(max(length(data)), 0) FROM blob_data_v1)
)
SELECT b.key, n.seq, substr(b.data, n.seq * 1048576 + 1, 1048576), b.created_at
FROM blob_data_v1 AS b JOIN n ON n.seq * 1048576 < length(b.data);

INSERT INTO blob_data_index (key, size, chunk_size, created_at)
SELECT key, length(data), 1048576, created_at FROM blob_data_v1;

DROP TABLE blob_data_v1;

-- +goose Down
-- Only published blobs come back; chunks without an index row are dropped.
CREATE TABLE blob_data_v1 (
    key        TEXT      NOT NULL PRIMARY KEY,
    data       BLOB      NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO blob_data_v1 (key, data, created_at)
SELECT i.key,
       coalesce((SELECT unhex(group_concat(hex(c.data), '' ORDER BY c.seq)) FROM blob_data AS c WHERE c.key = i.key), x''),
       i.created_at
FROM blob_data_index AS i;
DROP TABLE blob_data;
DROP TABLE blob_data_index;
ALTER TABLE blob_data_v1 RENAME TO blob_data;
