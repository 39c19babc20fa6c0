-- The rest of the protocol surface: RFC 7523 client assertions, RFC 9126 pushed authorization
-- requests, RFC 8628 device authorization, OIDC Back-Channel Logout and RFC 8693 token exchange.

-- A client assertion's jti is accepted once per client; kept until the assertion expires so
-- every replica refuses a replay.
CREATE TABLE client_assertion_jtis (
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertion_jtis_expires ON client_assertion_jtis(expires_at);

-- Pushed authorization requests: the request_uri is stored hashed, single use, short-lived and
-- bound to the client that pushed it.
CREATE TABLE pushed_requests (
    uri_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    request TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX pushed_requests_expires ON pushed_requests(expires_at);

-- Device authorization: the device code stored hashed, the user code (normalised, upper case,
-- without the dash) unique while it lives.
CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY NOT NULL,
    user_code TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- Seconds a device must wait between polls; raised on slow_down.
    poll_interval BIGINT NOT NULL,
    last_polled_at BIGINT,
    -- pending, approved, denied or consumed.
    status TEXT NOT NULL,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    auth_time BIGINT,
    amr TEXT,
    session_id TEXT
);
CREATE INDEX device_codes_expires ON device_codes(expires_at);

-- A browser's sign-in lineage: a new login of the same person in the same browser replaces the
-- session row but keeps the lineage, which is what codes, refresh families and `sid` name, so a
-- relying party's `sid` stays valid and a later logout still reaches what was issued before.
ALTER TABLE sessions ADD COLUMN lineage TEXT;
CREATE INDEX sessions_lineage ON sessions(lineage);

-- A session's end finds what was issued in it (back-channel logout, revocation).
CREATE INDEX refresh_families_session ON refresh_families(session_id);
CREATE INDEX authorization_codes_session ON authorization_codes(session_id);

ALTER TABLE clients ADD COLUMN require_par BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;
-- Space-separated audiences this client may ask token exchange for; NULL: none.
ALTER TABLE clients ADD COLUMN token_exchange_audiences TEXT;
