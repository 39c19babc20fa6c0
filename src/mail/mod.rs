//! Mail: the messages Ostiary sends (askama templates, a plain-text part with the link as a
//! plain URL and an HTML part) and the SMTP client that delivers them (lettre over tokio, rustls
//! on the aws-lc-rs provider). Nothing here sends on a request's behalf: requests put a `Mail`
//! in the outbox (`crate::outbox`), whose background sender calls `Mailer::send`.

pub mod messages;

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::config::{Settings, SmtpSecurity};

/// One message: who gets it, its subject, and the same content as text and as HTML.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// How long one SMTP conversation may take; the outbox claims a row for longer than this.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail is not configured (no OSTIARY_SMTP_URL)")]
    NotConfigured,
    #[error("the sender address cannot be used: {0}")]
    From(String),
    #[error("TLS set-up failed: {0}")]
    Tls(String),
}

/// Why a message was not delivered: worth trying again later, or never.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Network trouble, a timeout, or a 4xx reply: try again later.
    #[error("{0}")]
    Transient(String),
    /// A 5xx reply or a message that cannot be built (a malformed address): do not retry.
    #[error("{0}")]
    Permanent(String),
}

/// The SMTP client, built once from the settings.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain of Message-IDs (the sender's).
    domain: String,
}

impl Mailer {
    pub fn new(settings: &Settings) -> Result<Mailer, MailError> {
        let smtp = settings
            .mail
            .smtp
            .as_ref()
            .ok_or(MailError::NotConfigured)?;
        let from: Mailbox = settings
            .mail
            .from
            .parse()
            .map_err(|e| MailError::From(format!("{e}")))?;
        let tls_params =
            || TlsParameters::new(smtp.host.clone()).map_err(|e| MailError::Tls(e.to_string()));
        let tls = match smtp.security {
            SmtpSecurity::Plain => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls_params()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT))
            .hello_name(hello_name(&settings.issuer));
        if let (Some(user), Some(pw)) = (&smtp.username, &smtp.password) {
            builder = builder.credentials(Credentials::new(user.clone(), pw.clone()));
        }
        Ok(Mailer {
            transport: builder.build(),
            domain: from.email.domain().to_owned(),
            from,
        })
    }

    /// Sends one message. `id` (the outbox row's) becomes its Message-ID, so a message sent again
    /// after a crash carries the same one.
    pub async fn send(&self, id: &str, mail: &Mail) -> Result<(), SendError> {
        let message = self.build(id, mail)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(describe(&e))),
            Err(e) => Err(SendError::Transient(describe(&e))),
        }
    }

    fn build(&self, id: &str, mail: &Mail) -> Result<Message, SendError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient {:?}: {e}", mail.to)))?;
        let id: String = id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(format!("<{id}@{}>", self.domain)))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(mail.text.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(mail.html.clone()),
                    ),
            )
            .map_err(|e| SendError::Permanent(format!("message: {e}")))
    }
}

/// What the SMTP client says went wrong, bounded (lettre's errors carry the server's reply and
/// the I/O cause, never the credentials).
fn describe(e: &lettre::transport::smtp::Error) -> String {
    use std::error::Error as _;
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s.chars().take(500).collect()
}

/// The name Ostiary gives in EHLO: its issuer's host.
fn hello_name(issuer: &str) -> ClientId {
    match url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(d)) => ClientId::Domain(d),
        Some(url::Host::Ipv4(ip)) => ClientId::Ipv4(ip),
        Some(url::Host::Ipv6(ip)) => ClientId::Ipv6(ip),
        None => ClientId::Domain("localhost".into()),
    }
}

/// A mail that could not be rendered, as the database error type the services return (the
/// transaction that would have stored it is rolled back).
pub fn render_error(e: askama::Error) -> diesel::result::Error {
    diesel::result::Error::SerializationError(Box::new(e))
}
