//! Whether a client's name would pass for another client's on the consent page. Only clients
//! nobody vouched for are held to it (self-registered by `/register` or RFC 7592, described by
//! a metadata document): an administrator may name two clients alike, but no self-registered
//! client may look like an administrator's or a verified one.
//!
//! Names compare by the UTS #39 confusable skeleton of the trimmed, case-folded name with runs
//! of white space made one (pages collapse them too): `Goog1e`, `GOOGLE` and `Google` (with a
//! Cyrillic `о`) are one name.
//!
//! A scan rather than a unique column: the rule is not "unique" (administrators' clients may
//! share a skeleton, and so may unverified clients that carry the very same name — every
//! installation of one app registering itself, or the fallback name of unnamed apps), clients
//! are few (the whole table is what the console lists on one page), and self-registration is
//! rare and admission-limited. Races are closed by order: the store writes the row first and
//! checks after, so on SQLite the write lock serialises the checks; on PostgreSQL every
//! checking transaction first takes one advisory lock, held until it commits.

use diesel::connection::SimpleConnection;
use diesel::QueryResult;

use crate::db::models::clients::{self as rows, Client, ORIGIN_ADMIN};
use crate::db::DbConn;
use crate::oauth::client_policy::FieldError;

/// The transaction-level advisory lock serialising name checks on PostgreSQL (7370001–3 are
/// taken by migrations, key rotation and the janitor).
const NAME_CHECK_LOCK: i64 = 7_370_014;

/// What a refused name is told.
pub const TOO_SIMILAR: &str = "too similar to the name of another application";

/// The skeleton a client name is compared by.
pub fn skeleton(name: &str) -> String {
    unicode_security::skeleton(&normalised(name)).collect()
}

/// Whether `name` would pass for the name of a client other than `except_id`: its skeleton is
/// that of an administrator's or a verified client's name, or of any other client's name that
/// is not the very same name (a look-alike of an unverified client is as bad as one of a
/// verified one; the same name is what many installations of one app register).
pub fn confusable_with_other(conn: &mut DbConn, name: &str, except_id: &str) -> QueryResult<bool> {
    let wanted = skeleton(name);
    let same = normalised(name);
    Ok(rows::list(conn)?.iter().any(|other| {
        other.client_id != except_id
            && skeleton(&other.name) == wanted
            && (other.origin == ORIGIN_ADMIN || other.verified || normalised(&other.name) != same)
    }))
}

/// For the store, after it wrote `client` in its transaction: refuses a name that is not the
/// administrator's to choose and would pass for another client's.
pub(super) fn check_written(conn: &mut DbConn, client: &Client) -> Result<(), super::StoreError> {
    if client.row.origin == ORIGIN_ADMIN {
        return Ok(());
    }
    if let DbConn::Pg(pg) = conn {
        pg.batch_execute(&format!("SELECT pg_advisory_xact_lock({NAME_CHECK_LOCK})"))?;
    }
    if confusable_with_other(conn, &client.row.name, &client.row.client_id)? {
        return Err(super::StoreError::Invalid(vec![FieldError {
            field: "name",
            message: TOO_SIMILAR.into(),
        }]));
    }
    Ok(())
}

/// `name` trimmed, case-folded, each run of white space one space.
fn normalised(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::skeleton;

    #[test]
    fn look_alike_client_names_share_a_skeleton() {
        let google = skeleton("Google");
        for alike in [
            "GOOGLE",
            "  google ",
            "G\u{43e}\u{43e}gle", // Cyrillic о
            "Goog1e",
            "G\u{ff4f}\u{ff4f}gle", // fullwidth ｏ
        ] {
            assert_eq!(skeleton(alike), google, "{alike:?}");
        }
        assert_eq!(skeleton("Example   App"), skeleton("Example App"));
        assert_ne!(skeleton("Goggle"), google);
    }
}
