DROP TRIGGER denylist_generation ON access_token_denylist;
DROP TRIGGER users_generation ON users;
DROP TRIGGER client_uris_generation ON client_redirect_uris;
DROP TRIGGER clients_generation ON clients;
DROP FUNCTION ostiary_bump_generation();
DROP TABLE cache_generations;
