//! RFC 6238 one-time codes: enrolment (a secret shown once as a QR code and as text, confirmed
//! by one valid code), and verification within ±1 time step, each step accepted once. Secrets are
//! sealed under the key-encryption key; only this module opens them.

use qrcode::render::svg;
use qrcode::QrCode;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::crypto::kek::Kek;
use crate::db::models::factors::{self, TotpRow};
use crate::db::DbConn;
use crate::random;

pub const PERIOD: i64 = 30;
pub const DIGITS: usize = 6;
/// What `kek.seal` binds the ciphertext to, so a sealed secret cannot be moved elsewhere.
const SEAL_CONTEXT: &str = "totp-secret";

/// What the enrolment page shows.
pub struct Enrolment {
    /// Base32, grouped by four for typing.
    pub secret_text: String,
    /// The `otpauth://` URI authenticator apps read from the QR code.
    pub uri: String,
    /// The QR code as an SVG element (server-side, no script).
    pub qr_svg: String,
    /// Names this secret (not the secret itself): the confirming form carries it back, so a
    /// code confirms only the secret this page showed.
    pub secret_id: String,
}

/// Which TOTP factor a code is checked against.
#[derive(Clone, Copy, Debug)]
pub enum Expect<'a> {
    /// The user's turned-on factor (a login).
    Confirmed,
    /// The pending enrolment whose page showed `secret_id` (its first code turns it on).
    Pending { secret_id: &'a str },
}

fn secret_id(row: &TotpRow) -> String {
    random::sha256_hex(&row.secret_sealed)[..16].to_owned()
}

#[derive(Debug, PartialEq, Eq)]
pub enum CodeCheck {
    Accepted,
    /// Not a valid code now (or not a code at all).
    Wrong,
    /// A valid code whose time step was already used: replays are refused.
    Reused,
    /// The user has no confirmed TOTP factor.
    NotEnrolled,
}

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error("the stored TOTP secret could not be opened: {0}")]
    Sealed(#[source] crate::crypto::kek::KekError),
    #[error("TOTP: {0}")]
    Totp(String),
}

fn totp(secret: Vec<u8>) -> Result<TOTP, TotpError> {
    // SHA-1, 6 digits, 30 s: what every authenticator app understands (RFC 6238's defaults).
    TOTP::new(Algorithm::SHA1, DIGITS, 1, PERIOD as u64, secret)
        .map_err(|e| TotpError::Totp(e.to_string()))
}

fn open(kek: &Kek, row: &TotpRow) -> Result<Vec<u8>, TotpError> {
    kek.open(
        &format!("{SEAL_CONTEXT}:{}", row.user_id),
        &row.secret_sealed,
    )
    .map_err(TotpError::Sealed)
}

fn enrolment(secret: &[u8], id: String, issuer_name: &str, account: &str) -> Enrolment {
    let b32 = match Secret::Raw(secret.to_vec()).to_encoded() {
        Secret::Encoded(s) => s,
        Secret::Raw(_) => String::new(),
    };
    let label = format!("{issuer_name}:{account}");
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let uri = format!(
        "otpauth://totp/{}?secret={b32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}",
        enc(&label),
        enc(issuer_name)
    );
    let qr_svg = QrCode::new(uri.as_bytes())
        .map(|code| {
            code.render::<svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default();
    // The renderer starts with an XML declaration, which is not allowed inside HTML.
    let qr_svg = match qr_svg.find("<svg") {
        Some(i) => qr_svg[i..].to_owned(),
        None => qr_svg,
    };
    let secret_text = b32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Enrolment {
        secret_text,
        uri,
        qr_svg,
        secret_id: id,
    }
}

/// Starts an enrolment with a new secret, replacing any pending one — except the one named by
/// `keep` (the page that showed it is being shown again after a wrong code). A pending secret is
/// never shown to anyone else: whoever started a set-up and left cannot plant a secret that the
/// user would later turn on. `None` when a confirmed factor exists.
pub fn begin(
    conn: &mut DbConn,
    kek: &Kek,
    user_id: &str,
    account: &str,
    issuer_name: &str,
    now: i64,
    keep: Option<&str>,
) -> Result<Option<Enrolment>, TotpError> {
    if let Some(row) = factors::totp(conn, user_id)? {
        if row.confirmed_at.is_some() {
            return Ok(None);
        }
        let id = secret_id(&row);
        if keep == Some(id.as_str()) {
            if let Ok(secret) = open(kek, &row) {
                return Ok(Some(enrolment(&secret, id, issuer_name, account)));
            }
        }
    }
    // 160 bits, the length RFC 4226 §4 recommends.
    let secret = random::bytes::<20>().to_vec();
    let row = TotpRow {
        user_id: user_id.to_owned(),
        secret_sealed: kek.seal(&format!("{SEAL_CONTEXT}:{user_id}"), &secret),
        created_at: now,
        confirmed_at: None,
        last_step: 0,
    };
    if !factors::begin_totp(conn, &row)? {
        return Ok(None);
    }
    let id = secret_id(&row);
    Ok(Some(enrolment(&secret, id, issuer_name, account)))
}

/// Checks a code against the factor `expect` names.
pub fn check(
    conn: &mut DbConn,
    kek: &Kek,
    user_id: &str,
    presented: &str,
    now: i64,
    expect: Expect<'_>,
) -> Result<CodeCheck, TotpError> {
    let Some(row) = factors::totp(conn, user_id)? else {
        return Ok(CodeCheck::NotEnrolled);
    };
    let usable = match expect {
        Expect::Confirmed => row.confirmed_at.is_some(),
        Expect::Pending { secret_id: id } => {
            row.confirmed_at.is_none()
                && aws_lc_rs::constant_time::verify_slices_are_equal(
                    secret_id(&row).as_bytes(),
                    id.as_bytes(),
                )
                .is_ok()
        }
    };
    if !usable {
        return Ok(CodeCheck::NotEnrolled);
    }
    let code: String = presented.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(CodeCheck::Wrong);
    }
    let t = totp(open(kek, &row)?)?;
    let current = now.div_euclid(PERIOD);
    // ±1 step for clock drift and typing time; every candidate is computed and compared in
    // constant time, so timing does not tell which step matched.
    let mut matched = None;
    for step in [current - 1, current, current + 1] {
        let expected = t.generate((step.max(0) * PERIOD) as u64);
        let same =
            aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), code.as_bytes())
                .is_ok();
        if same && matched.is_none() {
            matched = Some(step);
        }
    }
    let Some(step) = matched else {
        return Ok(CodeCheck::Wrong);
    };
    Ok(if factors::accept_totp_step(conn, user_id, step, now)? {
        CodeCheck::Accepted
    } else {
        CodeCheck::Reused
    })
}

/// The code an authenticator app shows at `at` for this secret (tests and the CLI's check).
pub fn code_at(secret_base32: &str, at: i64) -> Option<String> {
    let raw = Secret::Encoded(secret_base32.replace(' ', ""))
        .to_bytes()
        .ok()?;
    totp(raw).ok().map(|t| t.generate(at.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 Appendix B: the 20-byte ASCII secret "12345678901234567890", T = 59 s gives
        // 94287082 with 8 digits; with 6 digits, its last six.
        let b32 = match Secret::Raw(b"12345678901234567890".to_vec()).to_encoded() {
            Secret::Encoded(s) => s,
            Secret::Raw(_) => unreachable!(),
        };
        assert_eq!(code_at(&b32, 59).as_deref(), Some("287082"));
        assert_eq!(code_at(&b32, 1111111109).as_deref(), Some("081804"));
    }

    #[test]
    fn enrolment_uri_and_svg() {
        let e = enrolment(&[7u8; 20], "id".into(), "Ostiary", "alice@example.com");
        assert!(e
            .uri
            .starts_with("otpauth://totp/Ostiary%3Aalice%40example%2Ecom?secret="));
        assert!(e.qr_svg.starts_with("<svg"));
        assert_eq!(e.secret_text.replace(' ', "").len(), 32);
    }
}
