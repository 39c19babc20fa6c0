//! Rules for usernames, email addresses and passwords, shared by the CLI and the web forms.

use crate::db::models::users::{self, User};

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
    Ok(())
}

/// A plausible address: one @, something on each side, no spaces.
pub fn check_email(email: &str) -> Result<(), String> {
    let ok = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{email:?} is not an email address"))
    }
}

pub fn check_username(username: &str) -> Result<String, String> {
    let u = users::normalize_username(username);
    if u.is_empty() || u.chars().count() > 64 {
        return Err("the username must have 1 to 64 characters".into());
    }
    if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the username must not contain spaces or control characters".into());
    }
    Ok(u)
}

/// Every rule for a new account at once: the normalised username, and each problem found (so a
/// form can list them all).
pub fn check_new_account(
    username: &str,
    email: &str,
    password: &str,
) -> (Option<String>, Vec<String>) {
    let mut errors = Vec::new();
    let username = check_username(username).map_err(|e| errors.push(e)).ok();
    if let Err(e) = check_email(email) {
        errors.push(e);
    }
    if let Err(e) = check_password(password) {
        errors.push(e);
    }
    (username, errors)
}

/// A new, enabled user with a fresh stable id (the OIDC `sub`); `username` must already be
/// checked and normalised.
pub fn new_user(
    username: String,
    email: String,
    name: Option<String>,
    password_hash: String,
    is_admin: bool,
    email_verified: bool,
) -> User {
    let now = crate::db::now();
    User {
        id: crate::crypto::random::token::<16>(),
        username,
        email,
        email_verified,
        name: name.filter(|n| !n.trim().is_empty()),
        given_name: None,
        family_name: None,
        password_hash,
        is_admin,
        disabled: false,
        created_at: now,
        updated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert!(check_password("short").is_err());
        assert!(check_password("long enough").is_ok());
        assert!(check_password(&"x".repeat(2000)).is_err());
    }

    #[test]
    fn email_and_username_rules() {
        assert!(check_email("a@b.example").is_ok());
        assert!(check_email("nope").is_err());
        assert!(check_email("a b@c").is_err());
        assert_eq!(check_username(" Alice ").as_deref(), Ok("alice"));
        assert!(check_username("two words").is_err());
        assert!(check_username("").is_err());
    }
}
