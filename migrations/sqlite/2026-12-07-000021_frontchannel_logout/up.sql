-- OIDC Front-Channel Logout 1.0: the page a hidden frame of the logged-out page loads for this
-- client, and whether it gets `iss` and `sid`.
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN frontchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;
