-- Whether the authorization request carried redirect_uri (RFC 6749 §4.1.3: the token request
-- must then repeat it; when it was omitted, the token request may omit it too). Codes from
-- before were all issued to requests that the token endpoint asked to repeat it.
ALTER TABLE authorization_codes ADD COLUMN redirect_uri_given BOOLEAN NOT NULL DEFAULT 1;
