ALTER TABLE upstream_providers DROP COLUMN sync_claims;
ALTER TABLE upstream_providers DROP COLUMN icon;
