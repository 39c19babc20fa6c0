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

macro_rules! mail_templates {
    ($text:ident, $html:ident, $txt_path:literal, $html_path:literal) => {
        #[derive(Template)]
        #[template(path = $txt_path)]
        struct $text<'a> {
            m: &'a Fields<'a>,
        }
        #[derive(Template)]
        #[template(path = $html_path)]
        struct $html<'a> {
            m: &'a Fields<'a>,
        }
    };
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
}

mail_templates!(
    VerifyText,
    VerifyHtml,
    "mail/verify_email.txt",
    "mail/verify_email.html"
);
mail_templates!(
    ResetText,
    ResetHtml,
    "mail/reset_password.txt",
    "mail/reset_password.html"
);
mail_templates!(
    ChangeText,
    ChangeHtml,
    "mail/email_change_confirm.txt",
    "mail/email_change_confirm.html"
);
mail_templates!(
    NoticeText,
    NoticeHtml,
    "mail/email_change_notice.txt",
    "mail/email_change_notice.html"
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
    }
}

/// "Confirm your email address": sent at sign-up and on request from /account/email.
pub fn verify_email(
    settings: &Settings,
    username: &str,
    to: &str,
    link: &str,
) -> Result<Mail, askama::Error> {
    let m = Fields {
        link,
        lifetime: lifetime(settings.mail.verification_token_ttl),
        ..fields(settings, username)
    };
    Ok(Mail {
        to: to.to_owned(),
        subject: format!("Confirm your email address for {}", m.site),
        text: VerifyText { m: &m }.render()?,
        html: VerifyHtml { m: &m }.render()?,
    })
}

/// "Reset your password": the answer to /forgot-password for an existing account.
pub fn password_reset(
    settings: &Settings,
    username: &str,
    to: &str,
    link: &str,
) -> Result<Mail, askama::Error> {
    let m = Fields {
        link,
        lifetime: lifetime(settings.mail.reset_token_ttl),
        ..fields(settings, username)
    };
    Ok(Mail {
        to: to.to_owned(),
        subject: format!("Reset your password for {}", m.site),
        text: ResetText { m: &m }.render()?,
        html: ResetHtml { m: &m }.render()?,
    })
}

/// To the new address of an email change: the link that makes the change.
pub fn email_change_confirm(
    settings: &Settings,
    username: &str,
    old_email: &str,
    new_email: &str,
    link: &str,
) -> Result<Mail, askama::Error> {
    let m = Fields {
        link,
        lifetime: lifetime(settings.mail.verification_token_ttl),
        old_email,
        new_email,
        ..fields(settings, username)
    };
    Ok(Mail {
        to: new_email.to_owned(),
        subject: format!("Confirm your new email address for {}", m.site),
        text: ChangeText { m: &m }.render()?,
        html: ChangeHtml { m: &m }.render()?,
    })
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
    Ok(Mail {
        to: old_email.to_owned(),
        subject: format!("A change of your email address was requested at {}", m.site),
        text: NoticeText { m: &m }.render()?,
        html: NoticeHtml { m: &m }.render()?,
    })
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
