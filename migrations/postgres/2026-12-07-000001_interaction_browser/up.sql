-- An interaction answers only to the browser that started it: the SHA-256 of a random cookie
-- set when the interaction was created. Rows from before this column match no browser (they
-- expire within half an hour).
ALTER TABLE interactions ADD COLUMN browser_hash TEXT NOT NULL DEFAULT '';
