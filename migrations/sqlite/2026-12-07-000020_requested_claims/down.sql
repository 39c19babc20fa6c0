ALTER TABLE refresh_families DROP COLUMN claims;
ALTER TABLE authorization_codes DROP COLUMN claims;
