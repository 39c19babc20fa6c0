//! A person's standard claims (OIDC Core §5.1) beyond the username and the email address: names,
//! nickname, web pages, picture, gender, birthdate, time zone, locale, phone number and postal
//! address. One check (`check`) and one write (`update`, with its audit entry) for every editor:
//! the person on `/account/profile`, an administrator in the console, the CLI. What a client
//! sees of them is decided by scope in `oidc::claims`.
//!
//! `name`, `given_name` and `family_name` are columns of `users` (older than this module); the
//! rest is one JSON object in `users.profile_claims`, read with the user row.

use diesel::Connection;
use serde::{Deserialize, Serialize};

use crate::audit::{self, Actor, Entry, Event};
use crate::db::models::users::{self, User};
use crate::db::DbConn;
use crate::domain::text::{is_invisible, visible_name};

/// OIDC Core §5.1.1 address claim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Address {
    fn is_empty(&self) -> bool {
        self == &Address::default()
    }
}

/// The claims stored as JSON (names are columns, see the module comment).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthdate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zoneinfo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub phone_number_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

/// Everything a person's profile holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub rest: Stored,
}

impl Profile {
    /// The profile of `user`. A stored object that no longer parses (written by hand) reads as
    /// empty rather than failing every token of that user.
    pub fn of(user: &User) -> Profile {
        let rest = user
            .profile_claims
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        Profile {
            name: user.name.clone(),
            given_name: user.given_name.clone(),
            family_name: user.family_name.clone(),
            rest,
        }
    }
}

/// The fields as a form or the CLI gives them: text, empty meaning "none". `phone_number_verified`
/// is only honoured from an administrator (`Editor::Admin`).
#[derive(Clone, Debug, Default)]
pub struct Input {
    pub fields: Vec<(String, String)>,
    pub phone_number_verified: Option<bool>,
}

impl Input {
    fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Whether `name` was given at all (the CLI changes only the fields it names).
    fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == name)
    }
}

/// The names of the text fields, as forms and the CLI (with dashes) name them.
pub const FIELDS: [&str; 19] = [
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "address_formatted",
    "address_street_address",
    "address_locality",
    "address_region",
    "address_postal_code",
    "address_country",
];

/// Who is editing: a person may not vouch for their own phone number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Editor {
    Owner,
    Admin,
}

/// A refused field: its name (as in `FIELDS`) and why, in words for the form.
pub type FieldError = (&'static str, String);

/// `input` over `current` (fields not given keep their value), checked. A changed phone number
/// is unverified unless an administrator says otherwise.
pub fn check(current: &Profile, input: &Input, editor: Editor) -> Result<Profile, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut field = |name: &'static str, old: &Option<String>, rule: Rule| -> Option<String> {
        if !input.has(name) {
            return old.clone();
        }
        match rule.apply(input.get(name)) {
            Ok(v) => v,
            Err(why) => {
                errors.push((name, why));
                old.clone()
            }
        }
    };
    let cur = &current.rest;
    let old_address = cur.address.clone().unwrap_or_default();
    let address = Address {
        formatted: field(
            "address_formatted",
            &old_address.formatted,
            Rule::Lines(500),
        ),
        street_address: field(
            "address_street_address",
            &old_address.street_address,
            Rule::Lines(300),
        ),
        locality: field("address_locality", &old_address.locality, Rule::Text(100)),
        region: field("address_region", &old_address.region, Rule::Text(100)),
        postal_code: field(
            "address_postal_code",
            &old_address.postal_code,
            Rule::Text(20),
        ),
        country: field("address_country", &old_address.country, Rule::Text(100)),
    };
    let phone_number = field("phone_number", &cur.phone_number, Rule::Phone);
    let mut new = Profile {
        name: field("name", &current.name, Rule::Text(200)),
        given_name: field("given_name", &current.given_name, Rule::Text(100)),
        family_name: field("family_name", &current.family_name, Rule::Text(100)),
        rest: Stored {
            middle_name: field("middle_name", &cur.middle_name, Rule::Text(100)),
            nickname: field("nickname", &cur.nickname, Rule::Text(100)),
            profile: field("profile", &cur.profile, Rule::Url),
            picture: field("picture", &cur.picture, Rule::Url),
            website: field("website", &cur.website, Rule::Url),
            gender: field("gender", &cur.gender, Rule::Text(50)),
            birthdate: field("birthdate", &cur.birthdate, Rule::Birthdate),
            zoneinfo: field("zoneinfo", &cur.zoneinfo, Rule::Zoneinfo),
            locale: field("locale", &cur.locale, Rule::Locale),
            phone_number_verified: false,
            phone_number,
            address: (!address.is_empty()).then_some(address),
        },
    };
    new.rest.phone_number_verified = match (editor, input.phone_number_verified) {
        (Editor::Admin, Some(v)) => v && new.rest.phone_number.is_some(),
        _ => cur.phone_number_verified && new.rest.phone_number == cur.phone_number,
    };
    if errors.is_empty() {
        Ok(new)
    } else {
        Err(errors)
    }
}

/// Stores `profile` for `user` with its audit entry, in one transaction.
pub fn update(
    conn: &mut DbConn,
    user: &User,
    profile: &Profile,
    actor: &Actor,
    ip: Option<&str>,
    now: i64,
) -> diesel::QueryResult<()> {
    let json = (profile.rest != Stored::default())
        .then(|| serde_json::to_string(&profile.rest))
        .transpose()
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let event = match actor {
        Actor::User(id) if id.as_str() == user.id => Event::AccountProfile,
        _ => Event::UserProfile,
    };
    // Claims are read with the user row: once this commits, this process's cache forgets it.
    let _written = crate::db::writes::Written::users();
    conn.transaction(|c| {
        users::set_profile(
            c,
            &user.id,
            users::ProfileColumns {
                name: profile.name.as_deref(),
                given_name: profile.given_name.as_deref(),
                family_name: profile.family_name.as_deref(),
                claims: json.as_deref(),
            },
            now,
        )?;
        audit::record(c, &Entry::new(actor, event).target(&user.id).ip(ip))
    })
}

/// How one field is checked; every rule trims, and empty means "none".
#[derive(Clone, Copy)]
enum Rule {
    /// One line of visible text, at most this many characters.
    Text(usize),
    /// Visible text that may hold line breaks (an address).
    Lines(usize),
    /// An http(s) URL (OIDC Core §5.1: profile, picture, website).
    Url,
    /// `YYYY-MM-DD`, `YYYY`, or `0000-MM-DD` when the year is withheld (OIDC Core §5.1).
    Birthdate,
    /// An IANA time zone name such as `Europe/Paris`.
    Zoneinfo,
    /// A BCP 47 language tag such as `en-US`.
    Locale,
    /// E.164 with a leading `+` (OIDC Core §5.1 recommends it); spaces, dashes, dots and
    /// brackets are dropped.
    Phone,
}

impl Rule {
    fn apply(self, raw: &str) -> Result<Option<String>, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        let v = match self {
            Rule::Text(max) => {
                let v = visible_name(raw).map_err(str::to_owned)?;
                within(v, max)?
            }
            Rule::Lines(max) => {
                let normalised = raw.replace("\r\n", "\n");
                if normalised.chars().any(|c| c != '\n' && is_invisible(c)) {
                    return Err(crate::domain::text::INVISIBLE.to_owned());
                }
                within(normalised, max)?
            }
            Rule::Url => url(raw)?,
            Rule::Birthdate => birthdate(raw)?,
            Rule::Zoneinfo => zoneinfo(raw)?,
            Rule::Locale => locale(raw)?,
            Rule::Phone => phone(raw)?,
        };
        Ok(Some(v))
    }
}

fn within(v: String, max: usize) -> Result<String, String> {
    if v.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(v)
}

fn url(raw: &str) -> Result<String, String> {
    let bad = || "must be an http:// or https:// address".to_owned();
    let parsed = url::Url::parse(raw).map_err(|_| bad())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(bad());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not hold a user name or password".into());
    }
    within(parsed.to_string(), 500)
}

fn birthdate(raw: &str) -> Result<String, String> {
    let bad = || "must be YYYY-MM-DD, YYYY, or 0000-MM-DD without the year".to_owned();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    match raw.split('-').collect::<Vec<_>>()[..] {
        [y] if digits(y, 4) && y != "0000" => Ok(raw.to_owned()),
        [y, m, d] if digits(y, 4) && digits(m, 2) && digits(d, 2) => {
            // A withheld year is checked against a leap year, so 29 February stays possible.
            let year = if y == "0000" { "2000" } else { y };
            chrono::NaiveDate::parse_from_str(&format!("{year}-{m}-{d}"), "%Y-%m-%d")
                .map(|_| raw.to_owned())
                .map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

fn zoneinfo(raw: &str) -> Result<String, String> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 30
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
    };
    let parts: Vec<&str> = raw.split('/').collect();
    if parts.len() <= 3
        && parts.iter().all(|p| part_ok(p))
        && parts[0].starts_with(char::is_alphabetic)
    {
        Ok(raw.to_owned())
    } else {
        Err("must be a time zone name such as Europe/Paris".into())
    }
}

fn locale(raw: &str) -> Result<String, String> {
    let tag = raw.replace('_', "-");
    let mut parts = tag.split('-');
    let language_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()));
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if language_ok && rest_ok {
        Ok(tag)
    } else {
        Err("must be a language tag such as en-US".into())
    }
}

fn phone(raw: &str) -> Result<String, String> {
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = compact.strip_prefix('+').unwrap_or("");
    if digits.starts_with(|c: char| ('1'..='9').contains(&c))
        && (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        Ok(compact)
    } else {
        Err("must be an international number such as +1 555 010 0100".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(pairs: &[(&str, &str)]) -> Input {
        Input {
            fields: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            phone_number_verified: None,
        }
    }

    #[test]
    fn fields_are_checked_and_normalised() {
        let p = check(
            &Profile::default(),
            &input(&[
                ("given_name", "  Ada "),
                ("phone_number", "+44 (20) 7946-0958"),
                ("locale", "en_GB"),
                ("birthdate", "0000-02-29"),
                ("zoneinfo", "America/Argentina/Buenos_Aires"),
                ("website", "https://ada.example/"),
                ("address_locality", "London"),
            ]),
            Editor::Owner,
        )
        .expect("valid");
        assert_eq!(p.given_name.as_deref(), Some("Ada"));
        assert_eq!(p.rest.phone_number.as_deref(), Some("+442079460958"));
        assert_eq!(p.rest.locale.as_deref(), Some("en-GB"));
        assert_eq!(
            p.rest.address.and_then(|a| a.locality).as_deref(),
            Some("London")
        );
    }

    #[test]
    fn bad_values_are_refused_by_field() {
        for (field, value) in [
            ("birthdate", "1990-02-30"),
            ("birthdate", "90-01-01"),
            ("website", "javascript:alert(1)"),
            ("picture", "https://user:pw@x.example/p.png"),
            ("phone_number", "020 7946 0958"),
            ("locale", "english please"),
            ("zoneinfo", "../etc/passwd"),
            ("nickname", "a\u{202e}b"),
            ("given_name", &"x".repeat(101)),
        ] {
            let e = check(
                &Profile::default(),
                &input(&[(field, value)]),
                Editor::Owner,
            )
            .expect_err(value);
            assert_eq!(e[0].0, field, "{value}");
        }
    }

    #[test]
    fn only_an_administrator_vouches_for_a_phone_number_and_a_change_unverifies_it() {
        let mut i = input(&[("phone_number", "+15550100100")]);
        i.phone_number_verified = Some(true);
        let owner = check(&Profile::default(), &i, Editor::Owner).expect("ok");
        assert!(!owner.rest.phone_number_verified);
        let admin = check(&Profile::default(), &i, Editor::Admin).expect("ok");
        assert!(admin.rest.phone_number_verified);
        let same = check(&admin, &input(&[("nickname", "ada")]), Editor::Owner).expect("ok");
        assert!(
            same.rest.phone_number_verified,
            "untouched number stays verified"
        );
        let changed = check(
            &admin,
            &input(&[("phone_number", "+15550100101")]),
            Editor::Owner,
        )
        .expect("ok");
        assert!(!changed.rest.phone_number_verified);
    }
}
