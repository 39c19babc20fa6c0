//! Support for tests that run against PostgreSQL: a throw-away database per test, cloned from a
//! migrated template, dropped when the guard goes out of scope. Public so the integration-test
//! binary and the unit tests share one implementation; nothing in the server uses it.

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::Connection;

use super::{random_suffix, DbError};

/// Set to a PostgreSQL URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run the suites on
/// PostgreSQL. When it is set and the server cannot be reached, tests fail; they never skip.
pub const TEST_DATABASE_ENV: &str = "OSTIARY_TEST_DATABASE_URL";

pub fn postgres_admin_url() -> Option<String> {
    std::env::var(TEST_DATABASE_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_path(&format!("/{name}"));
            u.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// A database that exists for the life of this value.
pub struct PgTestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgTestDatabase {
    /// Creates `ostiary_t_<random>`, empty or as a copy of `template`.
    pub fn create(admin_url: &str, template: Option<&str>) -> Result<Self, DbError> {
        let name = format!("ostiary_t_{}", random_suffix());
        let mut admin = PgConnection::establish(admin_url)
            .map_err(|e| DbError::Connect(format!("{TEST_DATABASE_ENV}: {e}")))?;
        let sql = match template {
            Some(t) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{t}\""),
            None => format!("CREATE DATABASE \"{name}\""),
        };
        admin.batch_execute(&sql)?;
        Ok(PgTestDatabase {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames the database (used to publish a finished template atomically) and forgets it.
    pub fn persist_as(self, final_name: &str) -> Result<(), DbError> {
        let mut admin = PgConnection::establish(&self.admin_url)
            .map_err(|e| DbError::Connect(e.to_string()))?;
        let result = admin.batch_execute(&format!(
            "ALTER DATABASE \"{}\" RENAME TO \"{final_name}\"",
            self.name
        ));
        if result.is_ok() {
            std::mem::forget(self);
        }
        result.map_err(DbError::Query)
    }
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Whether a database named `name` exists on the server behind `admin_url`.
pub fn database_exists(admin_url: &str, name: &str) -> Result<bool, DbError> {
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut admin =
        PgConnection::establish(admin_url).map_err(|e| DbError::Connect(e.to_string()))?;
    let c: Count = diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(name)
        .get_result(&mut admin)?;
    Ok(c.n > 0)
}

/// Returns once some session of the database behind `url` waits on a lock (polling every
/// 10 ms, at most 20 s): how a test knows a second transaction really queued behind the first
/// before the first commits, so the race it stages is real.
pub fn wait_until_a_session_waits_on_a_lock(url: &str) -> Result<(), DbError> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Waiting {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut watcher = PgConnection::establish(url).map_err(|e| DbError::Connect(e.to_string()))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let w: Waiting = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .get_result(&mut watcher)?;
        if w.n > 0 {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(DbError::Connect(
                "no session waited on a lock within 20 s".into(),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
