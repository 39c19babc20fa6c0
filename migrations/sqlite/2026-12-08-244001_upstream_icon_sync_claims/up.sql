-- Federation, console (issue 24): a provider's optional icon (a small data: PNG or SVG image,
-- shown inline on the login page: no request leaves for a third party) and whether its
-- claims (name, given and family name) refresh linked accounts at every login.
ALTER TABLE upstream_providers ADD COLUMN icon TEXT;
ALTER TABLE upstream_providers ADD COLUMN sync_claims BOOLEAN NOT NULL DEFAULT TRUE;
