-- Email addresses unique by constraint, not only by a check before each write (two concurrent
-- sign-ups could both pass the check). The key is `account_policy::email_key` (lower-cased,
-- IDNA domain), written by the application; existing rows get lower(email).
ALTER TABLE users ADD COLUMN email_key TEXT;
UPDATE users SET email_key = lower(email);
-- An address an earlier version let several accounts share keeps its key on the oldest only.
UPDATE users SET email_key = NULL
WHERE EXISTS (
    SELECT 1 FROM users o
    WHERE o.email_key = users.email_key
      AND (o.created_at < users.created_at OR (o.created_at = users.created_at AND o.id < users.id))
);
CREATE UNIQUE INDEX users_email_key ON users(email_key);
