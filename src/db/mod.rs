//! Storage: one diesel `MultiConnection` over SQLite and PostgreSQL, chosen from the URL scheme.
//!
//! This module knows nothing of actix; callers on the async side run it inside `web::block`.

pub mod cached;
pub mod janitor;
pub mod models;
pub mod schema;
pub mod testing;
pub mod writes;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::DbUrl;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Every database connection the application uses.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

pub type PooledConn = r2d2::PooledConnection<DbManager>;

/// A connection used this recently is handed out without the liveness round trip (`SELECT 1`):
/// under load every connection is hot, and the check was a third of all statements on a login.
/// HikariCP skips its check on the same grounds for the same 500 ms. A connection that broke
/// within the window fails its first statement (answered 503 like any outage) and is dropped.
const RECENTLY_USED: Duration = Duration::from_millis(500);

/// When a pooled connection was last handed out (kept in its r2d2 extensions).
struct LastCheckout(std::time::Instant);

/// The connection pool: r2d2 with the liveness check done here, skipped for recently used
/// connections (r2d2 can only check always or never).
#[derive(Clone)]
pub struct Pool {
    inner: r2d2::Pool<DbManager>,
}

impl Pool {
    pub fn get(&self) -> Result<PooledConn, r2d2::PoolError> {
        // Each failed check leaves a broken connection that r2d2 drops when it comes back, so
        // at most one attempt per pooled connection, then one that opens a new connection.
        let mut left = self.inner.max_size() + 1;
        loop {
            let mut conn = self.inner.get()?;
            let now = std::time::Instant::now();
            let hot = r2d2::PooledConnection::extensions(&conn)
                .get::<LastCheckout>()
                .is_some_and(|t| now.saturating_duration_since(t.0) < RECENTLY_USED);
            left -= 1;
            if hot || conn.batch_execute("SELECT 1").is_ok() || left == 0 {
                r2d2::PooledConnection::extensions_mut(&mut conn).insert(LastCheckout(now));
                return Ok(conn);
            }
        }
    }

    pub fn state(&self) -> r2d2::State {
        self.inner.state()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the database: {0}")]
    Connect(String),
    #[error("cannot create the connection pool: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// An r2d2 manager that opens the backend named by the URL and applies per-connection settings.
#[derive(Clone, Debug)]
pub struct DbManager {
    url: DbUrl,
}

impl DbManager {
    pub fn new(url: DbUrl) -> Self {
        DbManager { url }
    }
}

/// SQLite: WAL so readers never block the writer, a busy timeout so concurrent writers (the CLI
/// beside a running server) wait instead of failing, and foreign keys, which SQLite leaves off.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

pub fn establish(url: &DbUrl) -> Result<DbConn, DbError> {
    match url {
        DbUrl::Sqlite(path) => {
            create_private_file(path).map_err(|e| DbError::Connect(format!("{path}: {e}")))?;
            let mut conn = SqliteConnection::establish(path)
                .map_err(|e| DbError::Connect(format!("{path}: {e}")))?;
            conn.batch_execute(SQLITE_PRAGMAS)
                .map_err(|e| DbError::Connect(format!("{path}: {e}")))?;
            Ok(DbConn::Sqlite(conn))
        }
        DbUrl::Postgres(u) => PgConnection::establish(u)
            .map(DbConn::Pg)
            .map_err(|e| DbError::Connect(redact_url(&e.to_string()))),
    }
}

/// Creates a missing SQLite file as 0600 before SQLite opens it: the database holds password
/// hashes and sealed keys, and SQLite would create it 0644 under the usual umask. Its `-wal` and
/// `-shm` files take the database file's mode. An existing file is left as the operator made it;
/// `:memory:` and `file:` URIs are SQLite's to interpret.
fn create_private_file(path: &str) -> std::io::Result<()> {
    if path == ":memory:" || path.starts_with("file:") {
        return Ok(());
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens one connection and closes it, within about `timeout` on PostgreSQL (libpq's
/// `connect_timeout`, unless the URL sets its own). The cause comes back as one line with any
/// password hidden, for the start-up check (`Settings::check_database`).
pub fn probe(url: &DbUrl, timeout: Duration) -> Result<(), String> {
    let one_line = |m: &str| m.split_whitespace().collect::<Vec<_>>().join(" ");
    match url {
        DbUrl::Sqlite(_) => match establish(url) {
            Ok(_) => Ok(()),
            Err(DbError::Connect(m)) => Err(one_line(&m)),
            Err(e) => Err(one_line(&e.to_string())),
        },
        DbUrl::Postgres(u) => {
            let bounded = DbUrl::Postgres(with_connect_timeout(u, timeout));
            match establish(&bounded) {
                Ok(_) => Ok(()),
                Err(DbError::Connect(m)) => Err(format!("{}: {}", redact_url(u), one_line(&m))),
                Err(e) => Err(format!("{}: {}", redact_url(u), one_line(&e.to_string()))),
            }
        }
    }
}

/// `url` with libpq's `connect_timeout` (whole seconds, at least 1) added when it has none;
/// left as is when it does not parse as a URL (libpq then reports what is wrong).
fn with_connect_timeout(url: &str, timeout: Duration) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.query_pairs().any(|(k, _)| k == "connect_timeout") => {
            let secs = timeout.as_secs().max(1).to_string();
            u.query_pairs_mut().append_pair("connect_timeout", &secs);
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

impl ManageConnection for DbManager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        establish(&self.url).map_err(|e| {
            r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(e.to_string()))
        })
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        use diesel::r2d2::R2D2Connection;
        conn.is_broken()
    }
}

/// Whether a database error means the database is away (the connection broke or could not be
/// used), as opposed to a problem with the statement: such a request is answered 503.
pub fn is_unavailable(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    matches!(
        e,
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        )
    ) || matches!(e, Error::DatabaseError(DatabaseErrorKind::Unknown, info)
        if info.message().contains("server closed the connection")
            || info.message().contains("terminating connection")
            || info.message().contains("no connection to the server"))
}

/// Builds the pool. SQLite allows one writer at a time, so a small pool is enough there.
pub fn build_pool(url: &DbUrl, max_size: u32) -> Result<Pool, DbError> {
    build_pool_with(url, max_size, Duration::from_secs(5))
}

/// As `build_pool`, waiting at most `timeout` for a connection (then the request gets a 503).
pub fn build_pool_with(url: &DbUrl, max_size: u32, timeout: Duration) -> Result<Pool, DbError> {
    let size = if url.is_sqlite() {
        max_size.min(8)
    } else {
        max_size
    };
    let inner = r2d2::Pool::builder()
        .max_size(size.max(1))
        .min_idle(Some(1))
        .connection_timeout(timeout)
        .test_on_check_out(false)
        .build(DbManager::new(url.clone()))?;
    Ok(Pool { inner })
}

/// Applies pending migrations. On PostgreSQL an advisory lock keeps several replicas that start
/// together from racing each other.
pub fn run_migrations(conn: &mut DbConn) -> Result<usize, DbError> {
    let applied = match conn {
        DbConn::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.len())
            .map_err(|e| DbError::Migration(e.to_string()))?,
        DbConn::Pg(c) => {
            c.batch_execute("SELECT pg_advisory_lock(7370001)")?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len())
                .map_err(|e| DbError::Migration(e.to_string()));
            c.batch_execute("SELECT pg_advisory_unlock(7370001)")?;
            result?
        }
    };
    backfill(conn)?;
    Ok(applied)
}

/// What a migration cannot write in SQL, written after every migration run (so on every start,
/// of the server and of each command): usernames' confusable skeletons. Cheap when done: one
/// query finding nothing missing.
fn backfill(conn: &mut DbConn) -> Result<(), DbError> {
    let filled = models::users::fill_skeletons(conn)?;
    if filled > 0 {
        tracing::info!(filled, "usernames' confusable skeletons filled in");
    }
    Ok(())
}

/// The migrations that `run_migrations` would apply, by name, without applying them.
pub fn pending_migrations(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    Ok(match conn {
        DbConn::Sqlite(c) => c
            .pending_migrations(SQLITE_MIGRATIONS)
            .map_err(|e| DbError::Migration(e.to_string()))?
            .iter()
            .map(|m| m.name().to_string())
            .collect(),
        DbConn::Pg(c) => c
            .pending_migrations(POSTGRES_MIGRATIONS)
            .map_err(|e| DbError::Migration(e.to_string()))?
            .iter()
            .map(|m| m.name().to_string())
            .collect(),
    })
}

/// Runs `f` atomically: in a transaction of its own, or inside the caller's when one is open
/// (without a savepoint, which would cost two more round trips: a failure then fails the
/// caller's transaction, which is rolled back whole).
pub fn atomically<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> diesel::QueryResult<T>,
) -> diesel::QueryResult<T> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let status = match conn {
        DbConn::Pg(c) => AnsiTransactionManager::transaction_manager_status_mut(c),
        DbConn::Sqlite(c) => AnsiTransactionManager::transaction_manager_status_mut(c),
    };
    if matches!(status.transaction_depth(), Ok(Some(_))) {
        f(conn)
    } else {
        conn.transaction(f)
    }
}

/// Runs `f` in a transaction that, on PostgreSQL, holds an advisory lock for its duration:
/// used for one-off initialisation (first signing keys) that several replicas might race on.
pub fn with_init_lock<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, DbError>,
) -> Result<T, DbError> {
    conn.transaction(|c| {
        if let DbConn::Pg(pg) = c {
            pg.batch_execute("SELECT pg_advisory_xact_lock(7370002)")?;
        }
        f(c)
    })
}

/// Hides the password of a `postgres://user:password@host` URL before it reaches a log line.
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_inclusive(char::is_whitespace) {
        match url::Url::parse(word.trim()) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                out.push_str(u.as_str());
                out.push_str(&word[word.trim_end().len()..]);
            }
            _ => out.push_str(word),
        }
    }
    out
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A short random lower-case suffix for names of throw-away objects.
pub fn random_suffix() -> String {
    crate::random::hex(&crate::random::bytes::<6>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_the_backend() {
        assert_eq!(
            DbUrl::parse("sqlite://ostiary.db").ok(),
            Some(DbUrl::Sqlite("ostiary.db".into()))
        );
        assert_eq!(
            DbUrl::parse("sqlite:///var/lib/o.db").ok(),
            Some(DbUrl::Sqlite("/var/lib/o.db".into()))
        );
        assert!(matches!(
            DbUrl::parse("postgres://u@h/db"),
            Ok(DbUrl::Postgres(_))
        ));
        assert!(DbUrl::parse("mysql://x").is_err());
        assert!(DbUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn passwords_in_urls_are_redacted() {
        let s = redact_url("could not connect to postgres://bob:hunter2@db/x now");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("postgres://bob:***@db/x"), "{s}");
    }
}
