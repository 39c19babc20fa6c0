ALTER TABLE upstream_providers DROP COLUMN preset;
