ALTER TABLE clients DROP COLUMN token_exchange_audiences;
ALTER TABLE clients DROP COLUMN backchannel_logout_session_required;
ALTER TABLE clients DROP COLUMN backchannel_logout_uri;
ALTER TABLE clients DROP COLUMN require_par;
DROP TABLE device_codes;
DROP TABLE pushed_requests;
DROP TABLE client_assertion_jtis;
