-- +goose Up
-- API keys (DESIGN section 8). The secret itself is never stored, only its
-- SHA-256 in hex. scopes is a space-separated list of read, write, delete,
-- admin; prefix '' means the key is not confined. Times are Unix
-- microseconds (integers, compared alike on both engines); expires_at,
-- revoked_at and last_used_at are NULL until set.
CREATE TABLE api_keys (
    id            TEXT   NOT NULL PRIMARY KEY,
    name          TEXT   NOT NULL,
    secret_sha256 TEXT   NOT NULL CHECK (length(secret_sha256) = 64),
    scopes        TEXT   NOT NULL,
    prefix        TEXT   NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    revoked_at    BIGINT,
    last_used_at  BIGINT
);

-- +goose Down
DROP TABLE api_keys;
