-- +goose Up
-- The S3 secret access key of an API key made with S3 credentials (DESIGN
-- section 9), sealed with AES-256-GCM under a key the server derives from
-- its signing key (base64 of nonce and ciphertext): AWS Signature V4 needs
-- the secret itself, so a hash would not do, and the database alone never
-- reveals it. NULL for keys without S3 credentials.
ALTER TABLE api_keys ADD COLUMN s3_secret_sealed TEXT;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN s3_secret_sealed;
