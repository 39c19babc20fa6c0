ALTER TABLE clients DROP COLUMN minimum_acr;
ALTER TABLE refresh_families DROP COLUMN amr;
ALTER TABLE authorization_codes DROP COLUMN amr;
DROP TABLE webauthn_ceremonies;
DROP TABLE recovery_codes;
DROP TABLE passkeys;
DROP TABLE totp_factors;
