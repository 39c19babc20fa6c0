//! Interactions: a pending request kept server-side and referenced by an unguessable id, so the
//! login, sign-up, consent and confirmation pages carry that id instead of the raw query string
//! or the typed user code. Two kinds (`Kind`): an authorization request (`/authorize`, resumed at
//! `/authorize/resume`) and a device approval (RFC 8628, `/device`, resumed at `/device/resume`).
//! Each step records what it satisfied (a login: who, when, how); the endpoint resumes the
//! request from the row and completes it once.
//!
//! An interaction answers only to the browser that started it: the row keeps the hash of a
//! random binding cookie set then, and finding, logging in within and completing an
//! interaction all compare it. Its id alone (a leaked resume link, a verification mail opened
//! elsewhere) lets nobody else finish it — otherwise a person signed in as someone else could
//! complete a victim's pending request and hand the victim's app a code for the wrong account.

use crate::db::models::interactions::{self, InteractionRow};
use crate::db::DbConn;
use crate::random;

/// How long a person has to log in (or sign up) and consent.
pub const TTL: i64 = 1800;

/// What an interaction is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An authorization request (`request` holds its query string).
    Authorize,
    /// A person's approval of a device request (`device_code_hash` names it).
    Device,
}

impl Kind {
    const ALL: [Kind; 2] = [Kind::Authorize, Kind::Device];

    /// The name stored in `interactions.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Authorize => "authorize",
            Kind::Device => "device",
        }
    }

    fn resume_base(self) -> &'static str {
        match self {
            Kind::Authorize => "/authorize/resume",
            Kind::Device => "/device/resume",
        }
    }

    /// Where the browser resumes an interaction of this kind.
    pub fn resume_path(self, id: &str) -> String {
        format!("{}?interaction={id}", self.resume_base())
    }

    /// Whether `row` is an interaction of this kind.
    pub fn of(self, row: &InteractionRow) -> bool {
        row.kind == self.as_str()
    }
}

/// Where the browser resumes an authorization request's interaction.
pub fn resume_path(id: &str) -> String {
    Kind::Authorize.resume_path(id)
}

/// The interaction id in a local resume path (a login's `return_to`), if it is one.
pub fn id_in_path(path: &str) -> Option<String> {
    let query = Kind::ALL.iter().find_map(|k| {
        path.strip_prefix(k.resume_base())
            .and_then(|rest| rest.strip_prefix('?'))
    })?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "interaction")
        .map(|(_, v)| v.into_owned())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A browser, as its binding cookie's value names it (random, 256 bits; only its hash is stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Browser(String);

impl Browser {
    /// A new binding for a browser that has none.
    pub fn new() -> Self {
        Browser(random::token::<32>())
    }

    /// The value a browser presented, if it has the shape of one we set.
    pub fn parse(value: &str) -> Option<Self> {
        (value.len() == 43
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| Browser(value.to_owned()))
    }

    pub fn value(&self) -> &str {
        &self.0
    }

    /// What is stored of it (an interaction's, an upstream round trip's `browser_hash`).
    pub fn hash(&self) -> String {
        random::sha256_hex(&self.0)
    }
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

/// An interaction as a request refers to it: the id it names and the browser it came from.
#[derive(Clone, Debug)]
pub struct Handle {
    pub id: String,
    pub browser: Option<Browser>,
}

impl Handle {
    fn browser_hash(&self) -> Option<String> {
        self.browser.as_ref().map(Browser::hash)
    }
}

/// What a handle finds.
#[derive(Debug)]
pub enum Lookup {
    /// Pending, and this is the browser that started it.
    Pending(Box<InteractionRow>),
    /// Pending, but started in another browser: this one may not continue it (it may start a
    /// request of its own).
    OtherBrowser { client_id: String },
    /// Unknown, expired or completed.
    Ended,
}

/// Starts an interaction for a validated authorization request, bound to `browser`; returns
/// its id.
pub fn start(
    conn: &mut DbConn,
    client_id: &str,
    request: &str,
    browser: &Browser,
    now: i64,
) -> diesel::QueryResult<String> {
    insert_new(
        conn,
        Kind::Authorize,
        client_id,
        request,
        None,
        browser,
        now,
    )
}

/// Starts the approval of a pending device request (its device code's hash), bound to
/// `browser`; returns its id. The typed user code goes no further than this.
pub fn start_device(
    conn: &mut DbConn,
    client_id: &str,
    device_code_hash: &str,
    browser: &Browser,
    now: i64,
) -> diesel::QueryResult<String> {
    insert_new(
        conn,
        Kind::Device,
        client_id,
        "",
        Some(device_code_hash),
        browser,
        now,
    )
}

fn insert_new(
    conn: &mut DbConn,
    kind: Kind,
    client_id: &str,
    request: &str,
    device_code_hash: Option<&str>,
    browser: &Browser,
    now: i64,
) -> diesel::QueryResult<String> {
    let id = random::token::<32>();
    interactions::insert(
        conn,
        &InteractionRow {
            id_hash: random::sha256_hex(&id),
            client_id: client_id.to_owned(),
            request: request.to_owned(),
            created_at: now,
            expires_at: now + TTL,
            user_id: None,
            auth_time: None,
            amr: None,
            completed_at: None,
            browser_hash: browser.hash(),
            kind: kind.as_str().to_owned(),
            device_code_hash: device_code_hash.map(str::to_owned),
        },
    )?;
    Ok(id)
}

/// The interaction a handle names, as far as its browser may see it.
pub fn find(conn: &mut DbConn, handle: &Handle, now: i64) -> diesel::QueryResult<Lookup> {
    if handle.id.len() > 64 {
        return Ok(Lookup::Ended);
    }
    let Some(row) = interactions::pending(conn, &random::sha256_hex(&handle.id), now)? else {
        return Ok(Lookup::Ended);
    };
    let ours = handle
        .browser
        .as_ref()
        .is_some_and(|b| random::verify_sha256_hex(&b.0, &row.browser_hash));
    Ok(match ours {
        true => Lookup::Pending(Box::new(row)),
        false => Lookup::OtherBrowser {
            client_id: row.client_id,
        },
    })
}

/// A login happened within the interaction: recorded only when it happened in the browser that
/// started it (a login elsewhere is that browser's own, and leaves the interaction as it was).
pub fn record_login(
    conn: &mut DbConn,
    handle: &Handle,
    user_id: &str,
    auth_time: i64,
    amr: &str,
) -> diesel::QueryResult<()> {
    let Some(browser) = handle.browser_hash() else {
        return Ok(());
    };
    let id_hash = random::sha256_hex(&handle.id);
    interactions::authenticated(conn, &id_hash, &browser, user_id, auth_time, amr).map(|_| ())
}

/// Completes the interaction (the client got its answer); false when it already was, or when
/// this is not the browser that started it.
pub fn complete(conn: &mut DbConn, handle: &Handle, now: i64) -> diesel::QueryResult<bool> {
    let Some(browser) = handle.browser_hash() else {
        return Ok(false);
    };
    interactions::complete(conn, &random::sha256_hex(&handle.id), &browser, now)
}

/// Whether `user_id` logged in during this interaction: what `prompt=login` and `max_age`
/// asked for has happened, and must not be asked again on resuming.
pub fn logged_in_here(row: &InteractionRow, user_id: Option<&str>) -> bool {
    row.auth_time.is_some() && row.user_id.is_some() && row.user_id.as_deref() == user_id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_paths_of_both_kinds_name_their_interaction() {
        let id = random::token::<32>();
        for kind in Kind::ALL {
            assert_eq!(id_in_path(&kind.resume_path(&id)), Some(id.clone()));
        }
        assert_eq!(id_in_path(&resume_path(&id)), Some(id.clone()));
        assert_eq!(id_in_path(&format!("/device?user_code={id}")), None);
        assert_eq!(
            id_in_path(&format!("/device/resumeX?interaction={id}")),
            None
        );
        assert_eq!(id_in_path("/device/resume?interaction=short"), None);
    }
}
