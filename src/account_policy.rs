//! Rules for usernames, email addresses and passwords, shared by the CLI and the web forms.

use crate::db::models::users::{self, User};
use crate::domain::email::Email;
use crate::domain::username::Username;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The password rules, shared with the web forms.
pub fn check_password(pw: &str) -> Result<(), String> {
    if pw.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if pw.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "the password must be at most {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    if is_common_password(pw) {
        return Err(
            "this password is on a list of common passwords that attackers try first: choose another"
                .to_owned(),
        );
    }
    Ok(())
}

/// The most common passwords of at least `MIN_PASSWORD_CHARS` characters, lower-cased, one a
/// line: Django's list (Royce Williams's 20,000 from breach corpora; BSD licence), see
/// `data/README.md`. Shorter ones are refused by length anyway.
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// Whether `pw` is on the list, ignoring case ("Password123" is as guessable as "password123").
fn is_common_password(pw: &str) -> bool {
    let lower = pw.to_lowercase();
    COMMON_PASSWORDS.lines().any(|line| line == lower)
}

/// Prepares a username (`domain::username::Username::parse`), as a string.
pub fn prepare_username(raw: &str) -> Result<String, String> {
    Username::parse(raw).map(Username::into_string)
}

/// The name a login attempt is about: the prepared username, or for a name that cannot be
/// prepared (and so cannot exist) a bounded lower-cased form, so it is throttled all the same.
pub fn login_key(raw: &str) -> String {
    prepare_username(raw).unwrap_or_else(|_| {
        // Control characters never make a username, and PostgreSQL refuses NUL in text.
        raw.trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(128)
            .collect::<String>()
            .to_lowercase()
    })
}

/// A new account's fields once every rule held: the prepared username and the stored email.
pub struct NewAccount {
    pub username: Username,
    pub email: Email,
}

/// Every rule for a new account at once: the prepared fields, or each problem found (so a form
/// can list them all).
pub fn check_new_account(
    username: &str,
    email: &str,
    password: &str,
) -> Result<NewAccount, Vec<String>> {
    let mut errors = Vec::new();
    let username = Username::parse(username).map_err(|e| errors.push(e)).ok();
    let email = Email::parse(email).map_err(|e| errors.push(e)).ok();
    if let Err(e) = check_password(password) {
        errors.push(e);
    }
    match (username, email) {
        (Some(username), Some(email)) if errors.is_empty() => Ok(NewAccount { username, email }),
        _ => Err(errors),
    }
}

/// Why an account cannot be stored although its fields are valid.
pub fn taken(
    conn: &mut crate::db::DbConn,
    account: &NewAccount,
) -> diesel::QueryResult<Vec<String>> {
    let mut errors: Vec<String> = username_taken(conn, &account.username)?
        .into_iter()
        .collect();
    if crate::db::models::user_email::in_use(conn, &account.email.key())? {
        errors.push(format!(
            "the email address {:?} is already in use",
            account.email.as_str()
        ));
    }
    Ok(errors)
}

/// Why `username` cannot be had, in words for the form, when another account has it or one that
/// looks the same (the same UTS #39 skeleton). A name
/// is chosen and shown, so saying it is taken tells nothing a person could not see anyway (see
/// `accounts::signup` for why an address in use is not said).
pub fn username_taken(
    conn: &mut crate::db::DbConn,
    username: &Username,
) -> diesel::QueryResult<Option<String>> {
    if users::by_username(conn, username.as_str())?.is_some() {
        return Ok(Some(format!(
            "the username {:?} is taken",
            username.as_str()
        )));
    }
    // UTS #39: `реасе` (Cyrillic) beside `peace` — each script alone, so `Username::parse`
    // let it through; which account it resembles is not said. The account found may be this
    // very name, committed by a racing create between the two reads: then it is taken.
    Ok(users::by_skeleton(conn, &username.skeleton())?.map(|u| {
        if u.username == username.as_str() {
            format!("the username {:?} is taken", username.as_str())
        } else {
            format!(
                "the username {:?} is too similar to an existing username",
                username.as_str()
            )
        }
    }))
}

/// A new, enabled user with a fresh stable id (the OIDC `sub`); `username` must already be
/// checked and normalised.
pub fn new_user(
    username: Username,
    email: Email,
    name: Option<String>,
    password_hash: String,
    is_admin: bool,
    email_verified: bool,
) -> User {
    let now = crate::db::now();
    let key = email.key();
    let skeleton = username.skeleton();
    User {
        id: crate::random::token::<16>(),
        username: username.into_string(),
        email: email.into_string(),
        email_verified,
        name: name.filter(|n| !n.trim().is_empty()),
        given_name: None,
        family_name: None,
        password_hash,
        is_admin,
        disabled: false,
        created_at: now,
        updated_at: now,
        email_key: Some(key),
        username_skeleton: Some(skeleton),
        profile_claims: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::email::{check_email, email_key};

    #[test]
    fn password_rules() {
        assert!(check_password("short").is_err());
        assert!(check_password("long enough").is_ok());
        assert!(check_password(&"x".repeat(2000)).is_err());
        for common in ["password123", "Password123", "qwertyuiop", "iloveyou"] {
            let e = check_password(common).expect_err(common);
            assert!(e.contains("common passwords"), "{e}");
        }
    }

    #[test]
    fn email_and_username_rules() {
        assert_eq!(check_email("a@b.example").as_deref(), Ok("a@b.example"));
        assert!(check_email("nope").is_err());
        assert!(check_email("a b@c").is_err());
        assert_eq!(prepare_username(" Alice ").as_deref(), Ok("alice"));
        assert!(prepare_username("two words").is_err());
        assert!(prepare_username("").is_err());
    }

    #[test]
    fn look_alike_usernames_prepare_to_one_name_or_are_refused() {
        // NFC and NFD spellings of josé are one name.
        assert_eq!(
            prepare_username("jos\u{e9}"),
            prepare_username("jose\u{301}")
        );
        // Fullwidth letters are their ASCII selves; case is folded.
        assert_eq!(
            prepare_username("\u{ff45}\u{ff56}\u{ff45}").as_deref(),
            Ok("eve")
        );
        assert_eq!(prepare_username("EVE").as_deref(), Ok("eve"));
        // A Cyrillic а inside a Latin name is refused; single-script names are fine.
        assert!(prepare_username("d\u{430}ve").is_err());
        assert!(prepare_username("\u{434}\u{430}\u{440}\u{44c}\u{44f}").is_ok());
        assert!(prepare_username("alice.smith-2").is_ok());
        // Control and formatting characters never make it into a name.
        assert!(prepare_username("eve\u{200b}").is_err());
        assert!(prepare_username("ev\u{7}e").is_err());
    }

    #[test]
    fn emails_compare_case_insensitively_with_idna_domains() {
        assert_eq!(
            check_email("Bob@B\u{fc}cher.Example").as_deref(),
            Ok("Bob@xn--bcher-kva.example")
        );
        assert_eq!(
            email_key("BOB@xn--bcher-kva.example"),
            email_key("bob@b\u{fc}cher.example")
        );
        assert_ne!(email_key("bob@example.com"), email_key("bob@example.org"));
    }
}
