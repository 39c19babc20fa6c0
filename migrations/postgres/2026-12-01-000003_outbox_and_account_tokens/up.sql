-- Messages to the outside world (mail now; later back-channel logout tokens), written in the same
-- transaction as the change that causes them and delivered by a background sender on any
-- replica. A sender claims a row by a conditional UPDATE of claimed_until (so two replicas never
-- send the same row, and a crashed sender's claim runs out); attempts are counted at the claim.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    -- 'mail'
    kind TEXT NOT NULL,
    -- Where it goes (a mail address), for operators; the message itself is in payload.
    recipient TEXT NOT NULL,
    -- The message as JSON; emptied once sent or given up, as it may hold a single-use link.
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT,
    claim_id TEXT,
    sent_at BIGINT,
    -- Set when the sender gave up (too many attempts, or the server refused it for good).
    failed_at BIGINT,
    -- The last delivery error, as the mail server or network reported it (no credentials).
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox(next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_created ON outbox(created_at);

-- Single-use links mailed to users: email verification, password reset, email change. Only the
-- SHA-256 of the 256-bit token is stored; a token is used by one conditional UPDATE of used_at.
CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    -- 'verify_email' | 'reset_password' | 'change_email'
    kind TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The address the link was sent to: for a verification the one to verify, for a change the
    -- new one.
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX account_tokens_user ON account_tokens(user_id, kind, created_at);
CREATE INDEX account_tokens_expires ON account_tokens(expires_at);
