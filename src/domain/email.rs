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

/// An address in its stored form (`check_email`), with the key it is compared by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, String> {
        check_email(raw).map(Email)
    }

    /// What two addresses share when they are the same mailbox (`email_key`).
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// The domain, lower case (IDNA form).
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}
