-- +goose Up
-- The CRC-32C (Castagnoli) of a blob's bytes, recorded as they are written
-- beside the SHA-256, so that whole reads verify a hardware-accelerated
-- checksum instead of hashing again. NULL for blobs stored before this
-- column existed: those are verified by their SHA-256 until
-- fsck --deep --repair records theirs.
ALTER TABLE blob_metadata ADD COLUMN crc32c INTEGER CHECK (crc32c BETWEEN 0 AND 4294967295);

-- +goose Down
ALTER TABLE blob_metadata DROP COLUMN crc32c;
