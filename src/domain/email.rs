//! Email addresses: the plausibility check and the key two addresses share when they name the
//! same mailbox.

/// A plausible address, returned in its stored form: one @, something on each side, no spaces,
/// and the domain as IDNA ASCII in lower case (`Bob@Bücher.Example` → `Bob@xn--bcher-kva.example`),
/// so that addresses can be compared by `email_key`.
pub fn check_email(email: &str) -> Result<String, String> {
    let refuse = || format!("{email:?} is not an email address");
    let email = email.trim();
    let (local, domain) = email.split_once('@').ok_or_else(refuse)?;
    if local.is_empty()
        || domain.is_empty()
        || domain.contains('@')
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
        || email.len() > 320
    {
        return Err(refuse());
    }
    let domain = match url::Host::parse(domain) {
        Ok(url::Host::Domain(d)) => d,
        _ => return Err(refuse()),
    };
    Ok(format!("{local}@{domain}"))
}

/// What two addresses must share to be the same mailbox for us: the whole address
/// case-insensitively (local parts are case-insensitive at every provider that matters) with
/// the domain in IDNA form.
pub fn email_key(email: &str) -> String {
    check_email(email)
        .unwrap_or_else(|_| email.trim().to_owned())
        .to_lowercase()
}
