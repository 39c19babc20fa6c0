ALTER TABLE interactions DROP COLUMN device_code_hash;
ALTER TABLE interactions DROP COLUMN kind;
