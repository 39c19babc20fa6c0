DROP TABLE server_settings;
DROP TABLE initial_access_tokens;
ALTER TABLE clients DROP COLUMN metadata_expires_at;
ALTER TABLE clients DROP COLUMN registration_token_hash;
ALTER TABLE clients DROP COLUMN metadata;
ALTER TABLE clients DROP COLUMN application_type;
ALTER TABLE clients DROP COLUMN disabled;
ALTER TABLE clients DROP COLUMN verified;
ALTER TABLE clients DROP COLUMN origin;
