-- What each replica keeps in memory (clients, user status, the access-token deny-list) is
-- checked against these counters every few hundred milliseconds (`crate::cache`): a trigger
-- bumps a counter in the transaction that changes its table, whichever process made the change
-- (another replica, the CLI, `ostiary apply`).
CREATE TABLE cache_generations (
    name TEXT PRIMARY KEY NOT NULL,
    generation BIGINT NOT NULL
);
INSERT INTO cache_generations (name, generation) VALUES
    ('clients', 0), ('users', 0), ('access_token_denylist', 0);

CREATE TRIGGER clients_generation_insert AFTER INSERT ON clients
BEGIN UPDATE cache_generations SET generation = generation + 1 WHERE name = 'clients'; END;
CREATE TRIGGER clients_generation_update AFTER UPDATE ON clients
BEGIN UPDATE cache_generations SET generation = generation + 1 WHERE name = 'clients'; END;
CREATE TRIGGER clients_generation_delete AFTER DELETE ON clients
BEGIN UPDATE cache_generations SET generation = generation + 1 WHERE name = 'clients'; END;
CREATE TRIGGER client_uris_generation_insert AFTER INSERT ON client_redirect_uris
BEGIN UPDATE cache_generations SET generation = generation + 1 WHERE name = 'clients'; END;
CREATE TRIGGER client_uris_generation_update AFTER UPDATE ON client_redirect_uris
BEGIN UPDATE cache_generations SET generation = generation + 1 WHERE name = 'clients'; END;
CREATE TRIGGER client_uris_generation_delete AFTER DELETE ON client_redirect_uris
BEGIN UPDATE cache_generations SET generation = generation + 1 WHERE name = 'clients'; END;

CREATE TRIGGER users_generation_insert AFTER INSERT ON users
BEGIN UPDATE cache_generations SET generation = generation + 1 WHERE name = 'users'; END;
CREATE TRIGGER users_generation_update AFTER UPDATE OF username, disabled ON users
BEGIN UPDATE cache_generations SET generation = generation + 1 WHERE name = 'users'; END;
CREATE TRIGGER users_generation_delete AFTER DELETE ON users
BEGIN UPDATE cache_generations SET generation = generation + 1 WHERE name = 'users'; END;

CREATE TRIGGER denylist_generation_insert AFTER INSERT ON access_token_denylist
BEGIN UPDATE cache_generations SET generation = generation + 1 WHERE name = 'access_token_denylist'; END;
