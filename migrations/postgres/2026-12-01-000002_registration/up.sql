-- Clients that register themselves (RFC 7591) or are described by a metadata document, next to
-- those an administrator registered; the registration policy; initial access tokens.
ALTER TABLE clients ADD COLUMN origin TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE clients ADD COLUMN verified BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE clients ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN application_type TEXT NOT NULL DEFAULT 'web';
-- RFC 7591 metadata without a column of its own (policy_uri, tos_uri, contacts, jwks, jwks_uri…), as JSON.
ALTER TABLE clients ADD COLUMN metadata TEXT;
-- SHA-256 of the RFC 7592 registration access token.
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;
-- For clients described by a metadata document: when the cached copy must be fetched again.
ALTER TABLE clients ADD COLUMN metadata_expires_at BIGINT;

CREATE TABLE initial_access_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    -- NULL: any number of registrations.
    uses_left BIGINT,
    -- NULL: never expires.
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    note TEXT
);

-- Settings an administrator changes at run time (the registration policy), shared by replicas.
CREATE TABLE server_settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
