//! The messages, one function each: the same text as a plain part (the link as a plain URL, so
//! it works in any mail reader) and an HTML part, from the askama templates in templates/mail/.

use askama::Template;

use super::Mail;
use crate::config::Settings;

/// A link's lifetime in words: "30 minutes", "48 hours", "2 days".
pub fn lifetime(seconds: i64) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if seconds < 3600 || seconds % 3600 != 0 {
        plural((seconds + 59) / 60, "minute")
    } else if seconds <= 48 * 3600 || seconds % 86400 != 0 {
        plural(seconds / 3600, "hour")
    } else {
        plural(seconds / 86400, "day")
    }
}

/// The site as people know it: the issuer's host.
fn site(settings: &Settings) -> String {
    url::Url::parse(&settings.issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| settings.issuer.clone())
}

/// What every template may show.
struct Fields<'a> {
    site: String,
    issuer: &'a str,
    username: &'a str,
    /// The action link (empty for notices).
    link: &'a str,
    /// How long the link works, in words.
    lifetime: String,
    /// For email changes.
    old_email: &'a str,
    new_email: &'a str,
    /// For upstream links: the provider's name.
    provider: &'a str,
}

type Parts = Result<(String, String), askama::Error>;

/// A message's text and HTML templates, rendered from the same fields so the two parts cannot
/// say different things.
macro_rules! mail_templates {
    ($parts:ident, $txt_path:literal, $html_path:literal) => {
        fn $parts(m: &Fields) -> Parts {
            #[derive(Template)]
            #[template(path = $txt_path)]
            struct Text<'a> {
                m: &'a Fields<'a>,
            }
            #[derive(Template)]
            #[template(path = $html_path)]
            struct Html<'a> {
                m: &'a Fields<'a>,
            }
            Ok((Text { m }.render()?, Html { m }.render()?))
        }
    };
}

mail_templates!(
    verify_parts,
    "mail/verify_email.txt",
    "mail/verify_email.html"
);
mail_templates!(
    reset_parts,
    "mail/reset_password.txt",
    "mail/reset_password.html"
);
mail_templates!(
    change_parts,
    "mail/email_change_confirm.txt",
    "mail/email_change_confirm.html"
);
mail_templates!(
    notice_parts,
    "mail/email_change_notice.txt",
    "mail/email_change_notice.html"
);

mail_templates!(
    recovery_parts,
    "mail/recovery_code_used.txt",
    "mail/recovery_code_used.html"
);
mail_templates!(
    signup_attempt_parts,
    "mail/signup_attempt.txt",
    "mail/signup_attempt.html"
);

mail_templates!(
    upstream_linked_parts,
    "mail/upstream_linked.txt",
    "mail/upstream_linked.html"
);

fn fields<'a>(settings: &'a Settings, username: &'a str) -> Fields<'a> {
    Fields {
        site: site(settings),
        issuer: &settings.issuer,
        username,
        link: "",
        lifetime: String::new(),
        old_email: "",
        new_email: "",
        provider: "",
    }
}

/// The fields of a message carrying a link that works for `ttl` seconds.
fn with_link<'a>(settings: &'a Settings, username: &'a str, link: &'a str, ttl: i64) -> Fields<'a> {
    Fields {
        link,
        lifetime: lifetime(ttl),
        ..fields(settings, username)
    }
}

/// Every subject ends with the site, so people can tell which service wrote.
fn compose(
    to: &str,
    subject: &str,
    m: &Fields,
    parts: fn(&Fields) -> Parts,
) -> Result<Mail, askama::Error> {
    let (text, html) = parts(m)?;
    Ok(Mail {
        to: to.to_owned(),
        subject: format!("{subject} {}", m.site),
        text,
        html,
    })
}

/// "Confirm your email address": sent at sign-up and on request from /account/email.
pub fn verify_email(
    settings: &Settings,
    username: &str,
    to: &str,
    link: &str,
) -> Result<Mail, askama::Error> {
    let ttl = settings.mail.verification_token_ttl;
    let m = with_link(settings, username, link, ttl);
    compose(to, "Confirm your email address for", &m, verify_parts)
}

/// "Reset your password": the answer to /forgot-password for an existing account.
pub fn password_reset(
    settings: &Settings,
    username: &str,
    to: &str,
    link: &str,
) -> Result<Mail, askama::Error> {
    let m = with_link(settings, username, link, settings.mail.reset_token_ttl);
    compose(to, "Reset your password for", &m, reset_parts)
}

/// To the new address of an email change: the link that makes the change.
pub fn email_change_confirm(
    settings: &Settings,
    username: &str,
    old_email: &str,
    new_email: &str,
    link: &str,
) -> Result<Mail, askama::Error> {
    let ttl = settings.mail.verification_token_ttl;
    let m = Fields {
        old_email,
        new_email,
        ..with_link(settings, username, link, ttl)
    };
    compose(
        new_email,
        "Confirm your new email address for",
        &m,
        change_parts,
    )
}

/// To the old address of an email change: what was asked, and what to do if it was not you.
pub fn email_change_notice(
    settings: &Settings,
    username: &str,
    old_email: &str,
    new_email: &str,
) -> Result<Mail, askama::Error> {
    let m = Fields {
        old_email,
        new_email,
        ..fields(settings, username)
    };
    let subject = "A change of your email address was requested at";
    compose(old_email, subject, &m, notice_parts)
}

/// To the account's address when one of its recovery codes was used to sign in.
pub fn recovery_code_used(
    settings: &Settings,
    username: &str,
    to: &str,
    codes_left: i64,
) -> Result<Mail, askama::Error> {
    let m = Fields {
        lifetime: match codes_left {
            0 => "none is left".to_owned(),
            1 => "1 is left".to_owned(),
            n => format!("{n} are left"),
        },
        ..fields(settings, username)
    };
    compose(to, "A recovery code was used at", &m, recovery_parts)
}

/// To the address of an existing account when someone tried to sign up with it: sign-up
/// answers such an attempt as if the address were new (`accounts::signup`), so only the owner
/// learns of it here. `sign_in` is the login page (continuing the app's request the attempt
/// came from, if any); the message has no link that acts without the owner signing in.
pub fn signup_attempt(
    settings: &Settings,
    username: &str,
    to: &str,
    sign_in: &str,
) -> Result<Mail, askama::Error> {
    let m = Fields {
        link: sign_in,
        new_email: to,
        ..fields(settings, username)
    };
    let subject = "Someone tried to create an account with your address at";
    compose(to, subject, &m, signup_attempt_parts)
}

/// To the account's address when a sign-in with an upstream provider was linked to it (by the
/// owner's confirmation, a trusted address, or the account's creation): if it was not them,
/// unlink it at /account.
pub fn upstream_linked(
    settings: &Settings,
    username: &str,
    to: &str,
    provider: &str,
) -> Result<Mail, askama::Error> {
    let m = Fields {
        provider,
        ..fields(settings, username)
    };
    let subject = "A sign-in provider was linked to your account at";
    compose(to, subject, &m, upstream_linked_parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_read_naturally() {
        assert_eq!(lifetime(1800), "30 minutes");
        assert_eq!(lifetime(60), "1 minute");
        assert_eq!(lifetime(90), "2 minutes");
        assert_eq!(lifetime(3600), "1 hour");
        assert_eq!(lifetime(48 * 3600), "48 hours");
        assert_eq!(lifetime(7 * 86400), "7 days");
        assert_eq!(lifetime(5400), "90 minutes");
    }
}
