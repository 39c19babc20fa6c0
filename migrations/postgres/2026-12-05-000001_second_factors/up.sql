-- Second factors (TOTP, passkeys, recovery codes), the methods behind each authorization code and
-- refresh family (so id_tokens carry amr/acr), and a client's minimum authentication level.

-- RFC 6238 TOTP: one per user. The secret is sealed under the key-encryption key; the row exists
-- unconfirmed while enrolment waits for its first valid code.
CREATE TABLE totp_factors (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    -- The newest time step accepted: a code (and any older one) is never accepted again.
    last_step BIGINT NOT NULL DEFAULT 0
);

-- WebAuthn credentials (passkeys and security keys), several per user, each named.
CREATE TABLE passkeys (
    -- base64url of the credential id.
    credential_id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The WebAuthn user handle (a random UUID per user, never derived from the account), which
    -- a username-less login presents and must match.
    user_handle TEXT NOT NULL,
    name TEXT NOT NULL,
    -- The credential as webauthn-rs keeps it (public key, counter, flags), JSON.
    credential TEXT NOT NULL,
    sign_count BIGINT NOT NULL,
    backup_eligible BOOLEAN NOT NULL,
    backup_state BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user ON passkeys(user_id);

-- Single-use recovery codes; only a SHA-256 of each is kept.
CREATE TABLE recovery_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

-- A WebAuthn ceremony between its two requests (the challenge and what it expects), shared by
-- replicas; single use.
CREATE TABLE webauthn_ceremonies (
    id_hash TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies(expires_at);

-- RFC 8176 methods of the login behind a code or a refresh family, space-separated.
ALTER TABLE authorization_codes ADD COLUMN amr TEXT;
ALTER TABLE refresh_families ADD COLUMN amr TEXT;
-- The least authentication context (acr) this client accepts; NULL: any.
ALTER TABLE clients ADD COLUMN minimum_acr TEXT;
