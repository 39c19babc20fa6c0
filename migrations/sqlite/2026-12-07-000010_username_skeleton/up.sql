-- Usernames that look alike across whole scripts (`реасе` in Cyrillic beside `peace`) are one
-- account too many: each account stores the UTS #39 confusable skeleton of its prepared name
-- (`domain::username::Username::skeleton`), unique, so two racing creates cannot both take
-- one. SQL cannot compute a skeleton: existing rows start NULL and `db::run_migrations` fills
-- them when the server (or any command) starts (`users::fill_skeletons`). NULLs never collide,
-- so rows not filled yet (or a pair of look-alikes an earlier version let in, whose younger one
-- keeps NULL) do not block the migration.
ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX users_username_skeleton ON users(username_skeleton);
