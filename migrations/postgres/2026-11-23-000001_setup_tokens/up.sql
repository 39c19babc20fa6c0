-- The one-time first-run setup link: only its SHA-256 is stored; it dies when used or when the
-- first user exists.
CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    created_at BIGINT NOT NULL
);
