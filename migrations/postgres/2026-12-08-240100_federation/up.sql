-- Federation (issue 24): upstream identity providers a person may log in with, the links from
-- an upstream subject to a local account, the pending round trips to an upstream, and minimal
-- groups (issue 25 extends them).
CREATE TABLE upstream_providers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    issuer TEXT,
    client_id TEXT NOT NULL,
    -- Sealed under the KEK (context: the provider id): it is sent to the upstream, so it cannot
    -- be hashed.
    client_secret_enc TEXT,
    scopes TEXT NOT NULL,
    account_policy TEXT NOT NULL,
    trusted_email BOOLEAN NOT NULL DEFAULT FALSE,
    trusted_acr BOOLEAN NOT NULL DEFAULT FALSE,
    username_claim TEXT NOT NULL,
    claim_map TEXT,
    groups_claim TEXT,
    upstream_logout BOOLEAN NOT NULL DEFAULT FALSE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    -- Plain OAuth 2.0 providers (no discovery): their endpoints and where the claims are.
    authorization_endpoint TEXT,
    token_endpoint TEXT,
    userinfo_endpoint TEXT,
    claim_paths TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Who an upstream subject is here: by (provider, sub), never by email.
CREATE TABLE upstream_links (
    provider_id TEXT NOT NULL REFERENCES upstream_providers(id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (provider_id, subject)
);
CREATE INDEX upstream_links_user ON upstream_links (user_id);

-- A round trip to an upstream under way: its `state` (hash), the browser that started it, and
-- the nonce, PKCE verifier and return path sealed under the KEK. Spent once.
CREATE TABLE upstream_states (
    state_hash TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES upstream_providers(id) ON DELETE CASCADE,
    browser_hash TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX upstream_states_expiry ON upstream_states (expires_at);

CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- `source`: NULL for a membership an administrator manages, or the upstream provider whose
-- logins replace it.
CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source TEXT REFERENCES upstream_providers(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX group_members_unique ON group_members (group_id, user_id, COALESCE(source, ''));
CREATE INDEX group_members_user ON group_members (user_id);
