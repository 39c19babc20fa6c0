-- Interactions are not only authorization requests: `kind` says what the interaction is for
-- ('authorize': the request in `request`; 'device': the approval of the RFC 8628 device
-- request whose device code hash is `device_code_hash`, `request` left empty). Rows from
-- before are authorization requests.
ALTER TABLE interactions ADD COLUMN kind TEXT NOT NULL DEFAULT 'authorize';
ALTER TABLE interactions ADD COLUMN device_code_hash TEXT;
