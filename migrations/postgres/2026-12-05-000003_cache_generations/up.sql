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

CREATE FUNCTION ostiary_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cache_generations SET generation = generation + 1 WHERE name = TG_ARGV[0];
    RETURN NULL;
END
$$;

CREATE TRIGGER clients_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION ostiary_bump_generation('clients');
CREATE TRIGGER client_uris_generation
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON client_redirect_uris
    FOR EACH STATEMENT EXECUTE FUNCTION ostiary_bump_generation('clients');
CREATE TRIGGER users_generation
    AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF username, disabled ON users
    FOR EACH STATEMENT EXECUTE FUNCTION ostiary_bump_generation('users');
CREATE TRIGGER denylist_generation AFTER INSERT ON access_token_denylist
    FOR EACH STATEMENT EXECUTE FUNCTION ostiary_bump_generation('access_token_denylist');
