-- Failed password checks per account (prepared username, whether or not it exists) and per
-- client address, shared by every replica: growing delays, then a temporary lockout.
CREATE TABLE login_throttle (
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    PRIMARY KEY (scope, subject)
);
