-- The standard claims a person may fill in beyond their names (OIDC Core §5.1: middle_name,
-- nickname, profile, picture, website, gender, birthdate, zoneinfo, locale, phone_number and its
-- verified flag, address), as one JSON object written only by `accounts::profile::update`
-- after its checks. One column, read with the user row: no extra query per token, and room for
-- attributes from upstream providers later. NULL: nothing filled in.
ALTER TABLE users ADD COLUMN profile_claims TEXT;
