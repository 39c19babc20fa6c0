//! Creating an account: the one way a user comes to exist, whoever asks — the CLI, the console,
//! first-run setup and sign-up. The rules (`account_policy`) were checked by the caller (they
//! need the password, which is hashed before this runs); here the account is stored with its
//! audit entry, and a name or address that is taken is a field error however it is found: by
//! the check before the insert, or by the unique indexes when another create won the race.

use diesel::result::{DatabaseErrorKind, Error as DbError};
use diesel::Connection;

use crate::account_policy::{new_user, taken, NewAccount};
use crate::audit::{self, Actor, Entry, Event};
use crate::db::models::setup;
use crate::db::models::users::{self, User};
use crate::db::DbConn;
use crate::domain::ids::UserId;

/// A new account, its rules checked and its password hashed.
pub struct NewUser {
    pub account: NewAccount,
    pub name: Option<String>,
    pub password_hash: String,
    pub is_admin: bool,
    pub email_verified: bool,
}

/// Who creates it; decides the audit entry.
#[derive(Clone, Debug)]
pub enum Origin {
    /// The person signs themself up.
    Signup,
    /// The first administrator, through the first-run setup link.
    Setup,
    /// An administrator in the console.
    Console(UserId),
    /// An operator with `ostiary user add`.
    Cli,
    /// Just in time, at the first login with an upstream provider (`federation::accounts`).
    Upstream,
}

impl Origin {
    fn audit(&self, user: &User) -> (Actor, Event) {
        let itself = || Actor::User(UserId::from_stored(user.id.clone()));
        match self {
            Origin::Signup => (itself(), Event::UserSignup),
            Origin::Setup => (itself(), Event::UserAdd),
            Origin::Console(admin) => (Actor::Admin(admin.clone()), Event::UserAdd),
            Origin::Cli => (Actor::cli(), Event::UserAdd),
            Origin::Upstream => (itself(), Event::UpstreamCreate),
        }
    }
}

/// Stores the account and its audit entry atomically (its own transaction, or a savepoint of
/// the caller's, which stays usable after a refusal). `Err(problems)`: the username or address
/// is taken, in words for the form.
pub fn create(
    conn: &mut DbConn,
    new: NewUser,
    origin: &Origin,
    ip: Option<&str>,
) -> diesel::QueryResult<Result<User, Vec<String>>> {
    // The display name is shown to others (the console, relying parties' pages through the
    // `name` claim): only characters shown as themselves.
    if let Some(Err(why)) = new.name.as_deref().map(crate::domain::text::visible_name) {
        return Ok(Err(vec![format!("the display name {why}")]));
    }
    let problems = taken(conn, &new.account)?;
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let user = new_user(
        new.account.username.clone(),
        new.account.email.clone(),
        new.name,
        new.password_hash,
        new.is_admin,
        new.email_verified,
    );
    // The user cache remembers ids that are no user: once this commits, this process forgets
    // (a caller's own transaction keeps a guard of its own).
    let _written = crate::db::writes::Written::users();
    let (actor, event) = origin.audit(&user);
    let stored = conn.transaction(|c| {
        users::insert(c, &user)?;
        audit::record(c, &Entry::new(&actor, event).target(&user.id).ip(ip))
    });
    match stored {
        Ok(()) => Ok(Ok(user)),
        Err(DbError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            // Another create committed between the check and the insert: say what it took.
            let mut problems = taken(conn, &new.account)?;
            if problems.is_empty() {
                problems.push("that username or email address is already in use".into());
            }
            Ok(Err(problems))
        }
        Err(e) => Err(e),
    }
}

/// Why the first administrator was not created.
#[derive(Debug)]
pub enum FirstAdmin {
    Created(Box<User>),
    /// The setup link is unknown or used, or an account exists already.
    Invalid,
    Fields(Vec<String>),
}

/// Uses up the setup link and creates the first administrator, in one transaction: a refusal
/// leaves the link as it was.
pub fn first_admin(
    conn: &mut DbConn,
    token_hash: &str,
    new: NewUser,
    ip: Option<&str>,
) -> diesel::QueryResult<FirstAdmin> {
    enum Undo {
        Db(DbError),
        Refused(FirstAdmin),
    }
    impl From<DbError> for Undo {
        fn from(e: DbError) -> Self {
            Undo::Db(e)
        }
    }
    let _written = crate::db::writes::Written::users();
    let done = conn.transaction(|c| {
        if !setup::consume(c, token_hash)? || users::count(c)? != 0 {
            return Err(Undo::Refused(FirstAdmin::Invalid));
        }
        match create(c, new, &Origin::Setup, ip)? {
            Ok(user) => {
                setup::clear(c)?;
                Ok(FirstAdmin::Created(Box::new(user)))
            }
            Err(problems) => Err(Undo::Refused(FirstAdmin::Fields(problems))),
        }
    });
    match done {
        Ok(created) => Ok(created),
        Err(Undo::Refused(why)) => Ok(why),
        Err(Undo::Db(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account_policy::check_new_account;
    use crate::config::DbUrl;
    use crate::db::testing::{postgres_admin_url, PgTestDatabase};
    use diesel::RunQueryDsl;

    fn new_user(name: &str, email: &str) -> NewUser {
        NewUser {
            account: check_new_account(name, email, "a long password").expect("valid"),
            name: None,
            password_hash: "$argon2id$placeholder".into(),
            is_admin: false,
            email_verified: false,
        }
    }

    fn sqlite() -> (DbConn, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("unit.db").display().to_string();
        let mut conn = crate::db::establish(&DbUrl::Sqlite(path)).expect("sqlite");
        crate::db::run_migrations(&mut conn).expect("migrate");
        (conn, dir)
    }

    #[test]
    fn a_taken_name_or_address_is_a_field_error_and_the_create_is_audited() {
        let (mut conn, _dir) = sqlite();
        let first = create(
            &mut conn,
            new_user("ann", "ann@example.test"),
            &Origin::Cli,
            None,
        )
        .expect("db")
        .expect("created");
        let again = create(
            &mut conn,
            new_user("ANN", "other@example.test"),
            &Origin::Cli,
            None,
        )
        .expect("db");
        assert_eq!(
            again.expect_err("taken"),
            vec!["the username \"ann\" is taken"]
        );
        let same_mail = create(
            &mut conn,
            new_user("bob", "Ann@Example.test"),
            &Origin::Signup,
            None,
        )
        .expect("db");
        assert!(same_mail.expect_err("taken")[0].contains("already in use"));
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let n: N = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'user.add' \
             AND actor LIKE 'cli:%' AND target = '{}'",
            first.id
        ))
        .get_result(&mut conn)
        .expect("count");
        assert_eq!(n.n, 1);
    }

    /// The race the check cannot see: another transaction inserted the name and has not
    /// committed when this create checks; its insert then waits on the unique index and fails
    /// once the other commits. The loser gets the field error, not a database error.
    #[test]
    fn the_loser_of_a_race_the_check_missed_gets_the_field_error() {
        use diesel::Connection;
        let Some(admin) = postgres_admin_url() else {
            return;
        };
        let pg = PgTestDatabase::create(&admin, None).expect("PostgreSQL must be reachable");
        let url = DbUrl::Postgres(pg.url.clone());
        let mut a = crate::db::establish(&url).expect("postgres");
        crate::db::run_migrations(&mut a).expect("migrate");
        let second = a
            .transaction(|a| {
                let won = create(a, new_user("zed", "zed@example.test"), &Origin::Cli, None)?;
                assert!(won.is_ok());
                let url2 = url.clone();
                let second = std::thread::spawn(move || {
                    let mut b = crate::db::establish(&url2).expect("postgres");
                    create(
                        &mut b,
                        new_user("zed", "zed2@example.test"),
                        &Origin::Cli,
                        None,
                    )
                });
                crate::db::testing::wait_until_a_session_waits_on_a_lock(&pg.url)
                    .expect("the second create never waited");
                diesel::QueryResult::Ok(second)
            })
            .expect("first create");
        let lost = second.join().expect("thread").expect("no database error");
        assert_eq!(
            lost.expect_err("refused"),
            vec!["the username \"zed\" is taken"]
        );
    }

    /// Two creates of look-alike names racing (`peace`, and `реасе` in Cyrillic): the check
    /// before the insert cannot see the uncommitted other, the unique skeleton index can; the
    /// loser gets the same field error as if it had been seen.
    #[test]
    fn the_loser_of_a_look_alike_race_gets_the_field_error() {
        use diesel::Connection;
        let Some(admin) = postgres_admin_url() else {
            return;
        };
        let pg = PgTestDatabase::create(&admin, None).expect("PostgreSQL must be reachable");
        let url = DbUrl::Postgres(pg.url.clone());
        let mut a = crate::db::establish(&url).expect("postgres");
        crate::db::run_migrations(&mut a).expect("migrate");
        let second = a
            .transaction(|a| {
                let won = create(a, new_user("peace", "p1@example.test"), &Origin::Cli, None)?;
                assert!(won.is_ok());
                let url2 = url.clone();
                let second = std::thread::spawn(move || {
                    let mut b = crate::db::establish(&url2).expect("postgres");
                    create(
                        &mut b,
                        new_user("\u{440}\u{435}\u{430}\u{441}\u{435}", "p2@example.test"),
                        &Origin::Signup,
                        None,
                    )
                });
                crate::db::testing::wait_until_a_session_waits_on_a_lock(&pg.url)
                    .expect("the second create never waited");
                diesel::QueryResult::Ok(second)
            })
            .expect("first create");
        let lost = second.join().expect("thread").expect("no database error");
        assert_eq!(
            lost.expect_err("refused"),
            vec!["the username \"\u{440}\u{435}\u{430}\u{441}\u{435}\" is too similar to an existing username"]
        );
    }

    #[test]
    fn a_look_alike_name_or_an_invisible_display_name_is_a_field_error() {
        let (mut conn, _dir) = sqlite();
        create(
            &mut conn,
            new_user("scope", "s@example.test"),
            &Origin::Cli,
            None,
        )
        .expect("db")
        .expect("created");
        let alike = create(
            &mut conn,
            new_user("\u{455}\u{441}\u{43e}\u{440}\u{435}", "t@example.test"),
            &Origin::Signup,
            None,
        )
        .expect("db");
        assert!(alike.expect_err("refused")[0].contains("too similar to an existing username"));
        let mut hidden = new_user("eve", "e@example.test");
        hidden.name = Some("Eve\u{202e}".into());
        let refused = create(&mut conn, hidden, &Origin::Cli, None).expect("db");
        assert!(refused.expect_err("refused")[0].starts_with("the display name must not"));
    }
}
