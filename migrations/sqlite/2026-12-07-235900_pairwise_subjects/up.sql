-- Pairwise subject identifiers (OIDC Core §8.1) this server issued: which user a sector's `sub`
-- names, written when the sub is first given out (`oidc::subject::for_client`), so a sub a
-- client hands back (id_token_hint, a token-exchange subject token) finds its user. The salt
-- they are computed with is a row of server_settings (`pairwise_salt`), created on first use.
CREATE TABLE pairwise_subjects (
    sector TEXT NOT NULL,
    sub TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (sector, sub)
);
CREATE INDEX pairwise_subjects_user ON pairwise_subjects (user_id);
