-- The OIDC `claims` request parameter (Core §5.5) as released to the client, as JSON: kept with
-- the authorization code and the refresh family, so id_tokens (also after refresh) carry what
-- was requested.
ALTER TABLE authorization_codes ADD COLUMN claims TEXT;
ALTER TABLE refresh_families ADD COLUMN claims TEXT;
