DROP TABLE signup_invites;
ALTER TABLE sessions DROP COLUMN amr;
DROP TABLE interactions;
