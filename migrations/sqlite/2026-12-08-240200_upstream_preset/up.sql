-- Federation, part 2 (issue 24): a plain OAuth 2.0 upstream may follow a preset (`github`:
-- the verified primary address from /user/emails, organisations and teams as groups).
ALTER TABLE upstream_providers ADD COLUMN preset TEXT;
