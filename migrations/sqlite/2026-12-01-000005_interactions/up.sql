-- A pending authorization request, referenced by an unguessable id (only its SHA-256 is kept)
-- from the login, consent and later pages instead of the raw query string; login steps record
-- what they satisfied on it.
CREATE TABLE interactions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    -- The authorization request's query string, as received and validated.
    request TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- Set by a login within this interaction.
    user_id TEXT,
    auth_time BIGINT,
    -- RFC 8176 methods used, space-separated (e.g. "pwd").
    amr TEXT,
    completed_at BIGINT
);
CREATE INDEX interactions_expires ON interactions(expires_at);
ALTER TABLE sessions ADD COLUMN amr TEXT;

-- Single-use sign-up invitations (the `invite` sign-up policy); only the SHA-256 is stored.
CREATE TABLE signup_invites (
    token_hash TEXT PRIMARY KEY NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    used_by TEXT,
    note TEXT
);
