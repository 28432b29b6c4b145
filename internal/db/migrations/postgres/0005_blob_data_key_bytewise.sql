-- +goose Up
-- Listings of the database backend (garbage collection) order keys
-- bytewise; the primary key's index has the database's collation.
CREATE INDEX blob_data_key_bytewise ON blob_data (key COLLATE "C");

-- +goose Down
DROP INDEX blob_data_key_bytewise;
