//! Who an upstream subject is here. A link is by (provider, upstream `sub`), never by email.
//! For a subject not linked yet, the provider's policy decides: `refuse`; `link` to an existing
//! account (by its address only when the provider is trusted for verified addresses and the
//! upstream says this one is verified); `create` an account just in time (through
//! `accounts::create`, the one way an account comes to exist), with a username made unique from
//! the chosen claim. An address in use by a local account is never taken over otherwise.
//! Group memberships the provider manages are replaced at every login.

use diesel::Connection;
use serde_json::{Map, Value};

use super::flow::Identity;
use super::providers::{self, Policy};
use crate::account_policy::{username_taken, NewAccount};
use crate::accounts::create::{self, NewUser, Origin};
use crate::audit::{self, Actor, Entry, Event};
use crate::config::Settings;
use crate::db::models::federation::{self as rows, LinkRow, ProviderRow};
use crate::db::models::groups;
use crate::db::models::users::{self, User};
use crate::db::DbConn;
use crate::domain::email::Email;
use crate::domain::ids::UserId;
use crate::domain::username::Username;

/// What an account created by an upstream login has for a password: not a PHC string, so no
/// password ever matches it (the account signs in through its provider).
pub const NO_PASSWORD: &str = "!upstream";

/// Whether the account has a password of its own (not one made by an upstream login).
pub fn has_password(user: &User) -> bool {
    user.password_hash != NO_PASSWORD && !user.password_hash.is_empty()
}

/// At most this many upstream groups are kept per login.
const MAX_GROUPS: usize = 200;

/// Why an upstream login found no account.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No account is linked to this subject and the policy makes none.
    NotLinked,
    /// A local account has the address the upstream gave, and the upstream is not trusted to
    /// have verified it: nothing is linked or created.
    AddressInUse,
    /// An account would be created, but the upstream gave no usable address.
    NoAddress,
    /// The account could not be created (in words).
    Invalid(String),
}

impl Refusal {
    pub fn message(&self, provider: &str) -> String {
        match self {
            Refusal::NotLinked => format!(
                "No account here is linked to your {provider} account. Sign in another way."
            ),
            Refusal::AddressInUse => format!(
                "An account here already uses the email address your {provider} account gave. \
                 Sign in to it with its password instead."
            ),
            Refusal::NoAddress => {
                format!(
                    "Your {provider} account did not share an email address, which is needed here."
                )
            }
            Refusal::Invalid(why) => format!("An account could not be created: {why}."),
        }
    }
}

fn text<'c>(claims: &'c Map<String, Value>, name: &str) -> Option<&'c str> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn claim_map(p: &ProviderRow) -> std::collections::BTreeMap<String, String> {
    p.claim_map
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default()
}

/// The upstream claim for local attribute `local`: as the provider's claim map says, else the
/// claim of that name.
fn mapped<'c>(p: &ProviderRow, claims: &'c Map<String, Value>, local: &str) -> Option<&'c str> {
    let map = claim_map(p);
    let name = map.get(local).map(String::as_str).unwrap_or(local);
    text(claims, name)
}

/// Whether a claim says "true" (a boolean, or the string some send).
fn truthy(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true))) || v.and_then(Value::as_str) == Some("true")
}

/// The upstream's address and whether it is verified, read from ONE source: the standard
/// `email` claim with `email_verified`, or the claims the provider's claim map names for both.
/// An address remapped from another claim (say `upn`) without a verified claim named for it is
/// unverified, whatever `email_verified` says (that flag is about the `email` claim).
fn email_of<'c>(p: &ProviderRow, claims: &'c Map<String, Value>) -> (Option<&'c str>, bool) {
    let map = claim_map(p);
    let email_claim = map.get("email").map(String::as_str).unwrap_or("email");
    let verified = match map.get("email_verified") {
        Some(flag) => truthy(claims.get(flag.as_str())),
        None => email_claim == "email" && truthy(claims.get("email_verified")),
    };
    (text(claims, email_claim), verified)
}

/// The local account of an upstream login, per the provider's policy; its provider-managed
/// groups replaced with the upstream's.
pub fn resolve(
    conn: &mut DbConn,
    settings: &Settings,
    p: &ProviderRow,
    id: &Identity,
    ip: Option<&str>,
    now: i64,
) -> diesel::QueryResult<Result<User, Refusal>> {
    let found = conn.transaction::<_, diesel::result::Error, _>(|c| {
        // Before any read: this login may create, so it takes its turn first.
        take_turns(c)?;
        if let Some(link) = rows::link_of(c, &p.id, &id.subject)? {
            return Ok(users::by_id(c, &link.user_id)?.ok_or(Refusal::NotLinked));
        }
        let policy = Policy::parse(&p.account_policy).unwrap_or(Policy::Refuse);
        if policy == Policy::Refuse {
            return Ok(Err(Refusal::NotLinked));
        }
        let (address, verified) = email_of(p, &id.claims);
        let email = address.and_then(|e| Email::parse(e).ok());
        let trusted = p.trusted_email && verified;
        if let Some(e) = &email {
            let owners = crate::db::models::user_email::users_with_email(c, &e.key())?;
            if let Some(owner) = owners.first() {
                // Never by the address alone, unless the operator trusts this upstream's
                // verified addresses (and it says this one is) — and then only into the one
                // account that proved the address itself and is not an administrator's: an
                // account made beforehand with someone else's unverified address must not
                // receive that person's upstream login (pre-account hijack).
                let auto_link =
                    trusted && owners.len() == 1 && owner.email_verified && !owner.is_admin;
                if !auto_link {
                    return Ok(Err(Refusal::AddressInUse));
                }
                let owner = owner.clone();
                if !link(c, settings, p, &id.subject, &owner, ip, now)? {
                    // It holds another subject of this provider: not taken over by address.
                    return Ok(Err(Refusal::AddressInUse));
                }
                return Ok(Ok(owner));
            }
        }
        if policy == Policy::Link {
            return Ok(Err(Refusal::NotLinked));
        }
        let Some(email) = email else {
            return Ok(Err(Refusal::NoAddress));
        };
        let username = match unique_username(c, p, &id.claims, &email)? {
            Some(u) => u,
            None => return Ok(Err(Refusal::Invalid("no free username".into()))),
        };
        let name = mapped(p, &id.claims, "name")
            .and_then(|n| crate::domain::text::visible_name(n).ok())
            .filter(|n| (1..=200).contains(&n.chars().count()));
        let new = NewUser {
            account: NewAccount { username, email },
            name,
            password_hash: NO_PASSWORD.into(),
            is_admin: false,
            email_verified: trusted,
        };
        let user = match create::create(c, new, &Origin::Upstream, ip)? {
            Ok(u) => u,
            Err(problems) => return Ok(Err(Refusal::Invalid(problems.join("; ")))),
        };
        link(c, settings, p, &id.subject, &user, ip, now)?;
        Ok(Ok(user))
    })?;
    let user = match found {
        Ok(u) => u,
        Err(why) => return Ok(Err(why)),
    };
    if p.groups_claim.is_some() {
        sync_groups(conn, p, &user.id, &id.claims, now)?;
    }
    let user = if p.sync_claims {
        sync_profile(conn, p, user, &id.claims, ip, now)?
    } else {
        user
    };
    Ok(Ok(user))
}

/// What an upstream login refreshes of a linked account (when the provider's `sync_claims` is
/// on): its names and picture, never the username or the email address (they identify the
/// account here and are changed only by its owner or an administrator).
const SYNCED: [&str; 4] = ["name", "given_name", "family_name", "picture"];

/// `user`'s name, given and family name and picture as the upstream gives them now (through
/// the provider's claim map), checked by the one profile check (`accounts::profile`); a claim
/// the upstream does not send keeps the local value, one the check refuses is left out. Stored
/// (with its audit entry) only when something changed.
fn sync_profile(
    conn: &mut DbConn,
    p: &ProviderRow,
    user: User,
    claims: &Map<String, Value>,
    ip: Option<&str>,
    now: i64,
) -> diesel::QueryResult<User> {
    use crate::accounts::profile::{self, Editor, Input, Profile};
    let mut fields: Vec<(String, String)> = SYNCED
        .iter()
        .filter_map(|local| mapped(p, claims, local).map(|v| ((*local).to_owned(), v.to_owned())))
        .collect();
    if fields.is_empty() {
        return Ok(user);
    }
    let current = Profile::of(&user);
    let checked = |fields: &[(String, String)]| {
        let input = Input {
            fields: fields.to_vec(),
            phone_number_verified: None,
        };
        profile::check(&current, &input, Editor::Owner)
    };
    let new = match checked(&fields) {
        Ok(n) => n,
        Err(refused) => {
            fields.retain(|(k, _)| !refused.iter().any(|(f, _)| f == k));
            match checked(&fields) {
                Ok(n) => n,
                Err(_) => return Ok(user),
            }
        }
    };
    if new == current {
        return Ok(user);
    }
    let actor = Actor::User(UserId::from_stored(user.id.clone()));
    profile::update(conn, &user, &new, &actor, ip, now)?;
    Ok(users::by_id(conn, &user.id)?.unwrap_or(user))
}

/// Links upstream `subject` of `p` to `user`, audited, and tells the account's address (when
/// mail is on): whatever made the link (a confirmed offer, a trusted address, an account made
/// just in time), its owner learns of it and where to undo it.
fn link(
    conn: &mut DbConn,
    settings: &Settings,
    p: &ProviderRow,
    subject: &str,
    user: &User,
    ip: Option<&str>,
    now: i64,
) -> diesel::QueryResult<bool> {
    // One subject per provider per account: an account holding a link to `p` already keeps it
    // (whatever path asks: a confirmed offer, a trusted address, the account page).
    if rows::links_of_user(conn, &user.id)?
        .iter()
        .any(|l| l.provider_id == p.id)
    {
        return Ok(false);
    }
    rows::insert_link(
        conn,
        &LinkRow {
            provider_id: p.id.clone(),
            subject: subject.to_owned(),
            user_id: user.id.clone(),
            created_at: now,
        },
    )?;
    let actor = Actor::User(UserId::from_stored(user.id.clone()));
    audit::record(
        conn,
        &Entry::new(&actor, Event::UpstreamLink)
            .target(&user.id)
            .ip(ip)
            .detail(Some(&p.id)),
    )?;
    // Only to an address its owner proved: an upstream's unverified address could be anyone's,
    // and a notice there would make this server mail whoever an upstream account names.
    if settings.mail_enabled() && !user.email.is_empty() && user.email_verified {
        let mail =
            crate::mail::messages::upstream_linked(settings, &user.username, &user.email, &p.name)
                .map_err(crate::mail::render_error)?;
        crate::outbox::enqueue_mail(conn, &mail)?;
    }
    Ok(true)
}

/// Removes `user_id`'s link to provider `provider` and the group memberships that provider
/// manages for them, with its audit entry, in one transaction; false when there was no link.
pub fn unlink(
    conn: &mut DbConn,
    provider: &str,
    user_id: &str,
    actor: &Actor,
    ip: Option<&str>,
) -> diesel::QueryResult<bool> {
    conn.transaction(|c| unlink_in(c, provider, user_id, actor, ip))
}

/// On PostgreSQL, the account's row locked until the transaction ends, so two unlinks of one
/// account take turns (each then reads what the other left). SQLite has one writer at a time.
fn lock_account(c: &mut DbConn, user_id: &str) -> diesel::QueryResult<()> {
    use crate::db::schema::users::dsl as u;
    use diesel::prelude::*;
    if let DbConn::Pg(pg) = c {
        u::users
            .find(user_id)
            .select(u::id)
            .for_update()
            .first::<String>(pg)
            .optional()?;
    }
    Ok(())
}

/// Upstream logins that may create (an account, a link, a group) take turns: a write first on
/// SQLite (its write lock taken before anything is read, instead of failing with
/// SQLITE_BUSY_SNAPSHOT when another committed meanwhile), a transaction-scoped advisory lock on
/// PostgreSQL. The second of two concurrent first logins of one upstream subject then finds the
/// first's link and signs in to that account: never two accounts, never an error.
fn take_turns(c: &mut DbConn) -> diesel::QueryResult<()> {
    use diesel::connection::SimpleConnection;
    match c {
        DbConn::Pg(pg) => pg.batch_execute("SELECT pg_advisory_xact_lock(7370024)"),
        DbConn::Sqlite(lite) => {
            lite.batch_execute("UPDATE upstream_links SET subject = subject WHERE 0")
        }
    }
}

/// `unlink` inside the caller's transaction: the link first (a write, so SQLite takes its write
/// lock before anything is read), then its memberships, then the audit entry.
fn unlink_in(
    c: &mut DbConn,
    provider: &str,
    user_id: &str,
    actor: &Actor,
    ip: Option<&str>,
) -> diesel::QueryResult<bool> {
    if rows::delete_link(c, provider, user_id)? == 0 {
        return Ok(false);
    }
    let memberships = groups::remove_sourced(c, user_id, provider)?;
    let detail = if memberships == 0 {
        provider.to_owned()
    } else {
        format!("{provider} ({memberships} group memberships removed)")
    };
    audit::record(
        c,
        &Entry::new(actor, Event::UpstreamUnlink)
            .target(user_id)
            .ip(ip)
            .detail(Some(&detail)),
    )?;
    Ok(true)
}

/// A username from the provider's username claim (else the address's local part), prepared,
/// and made unique with a number when taken (or looks like a taken one).
fn unique_username(
    conn: &mut DbConn,
    p: &ProviderRow,
    claims: &Map<String, Value>,
    email: &Email,
) -> diesel::QueryResult<Option<Username>> {
    let local = email.as_str().split('@').next().unwrap_or_default();
    let wanted = text(claims, &p.username_claim)
        .and_then(|c| Username::parse(c).ok())
        .or_else(|| Username::parse(local).ok())
        .or_else(|| Username::parse(&format!("{}-user", p.id)).ok());
    let Some(wanted) = wanted else {
        return Ok(None);
    };
    for n in 1..=50 {
        let candidate = match n {
            1 => Some(wanted.clone()),
            n => {
                let base: String = wanted.as_str().chars().take(60).collect();
                Username::parse(&format!("{base}{n}")).ok()
            }
        };
        if let Some(c) = candidate {
            if username_taken(conn, &c)?.is_none() {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

/// The local name of group `name` of provider `provider_id`: `provider_id:name`. An upstream's
/// groups live in its own namespace, so a group anyone can create upstream (a GitHub
/// organisation called `admins`) never joins an administrator's local group of that name, nor
/// another provider's.
pub fn upstream_group_name(provider_id: &str, name: &str) -> String {
    format!("{provider_id}:{name}")
}

/// Replaces the memberships provider `p` manages for `user_id` with the groups its claim names
/// (groups made when missing); memberships an administrator manages are left alone.
fn sync_groups(
    conn: &mut DbConn,
    p: &ProviderRow,
    user_id: &str,
    claims: &Map<String, Value>,
    now: i64,
) -> diesel::QueryResult<()> {
    let Some(claim) = p.groups_claim.as_deref() else {
        return Ok(());
    };
    let whole = Value::Object(claims.clone());
    let mut names: Vec<String> = providers::claim(&whole, claim)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|n| crate::domain::text::visible_name(n).ok())
        .filter(|n| (1..=100).contains(&n.chars().count()))
        .take(MAX_GROUPS)
        .map(|n| upstream_group_name(&p.id, &n))
        .collect();
    names.sort();
    names.dedup();
    conn.transaction(|c| {
        // Two logins of one person at once: their delete-then-insert take turns too.
        take_turns(c)?;
        groups::remove_sourced(c, user_id, &p.id)?;
        for name in &names {
            // Made when missing; when another login made it meanwhile, that one is used.
            let group = match groups::by_name(c, name)? {
                Some(g) => g,
                None => {
                    let g = groups::GroupRow {
                        id: crate::random::token::<16>(),
                        name: name.clone(),
                        description: String::new(),
                        created_at: now,
                    };
                    groups::insert_if_absent(c, &g)?;
                    match groups::by_name(c, name)? {
                        Some(g) => g,
                        None => return Err(diesel::result::Error::NotFound),
                    }
                }
            };
            groups::add_member(c, &group.id, user_id, Some(&p.id), now)?;
        }
        Ok(())
    })
}

/// The KEK context of a pending link's sealed subject (not a round trip's: a token of one kind
/// never opens as the other).
fn link_context(hash: &str) -> String {
    format!("upstream-link:{hash}")
}

/// How long an offered link waits for its account's owner to sign in.
pub const LINK_TTL: i64 = 600;

/// What an offer keeps sealed: the upstream subject, and what the confirmation shows of the
/// upstream account (so the person who confirms sees whose account it is).
#[derive(serde::Serialize, serde::Deserialize)]
struct Sealed {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    /// Whether the upstream said it verified `email`: an unverified one is anybody's claim
    /// and is shown as such, never as whose account this is.
    #[serde(default)]
    email_verified: bool,
}

/// Offers to link the upstream account `id` of provider `p` to the account whose owner signs
/// in next in `browser` with their own credentials and then confirms it (`offered`,
/// `answer_offer`): stored like a round trip (hashed token, bound to the browser, the subject
/// and what is shown of the upstream account sealed), returns the token for the browser's
/// cookie.
pub fn offer_link(
    conn: &mut DbConn,
    kek: &crate::crypto::kek::Kek,
    p: &ProviderRow,
    id: &Identity,
    browser: &crate::authn::interaction::Browser,
    now: i64,
) -> diesel::QueryResult<String> {
    let token = crate::random::token::<32>();
    let hash = crate::random::sha256_hex(&token);
    let shown = |s: Option<&str>| {
        s.and_then(|v| crate::domain::text::visible_name(v).ok())
            .map(|v| v.chars().take(200).collect::<String>())
    };
    let (email, email_verified) = email_of(p, &id.claims);
    let sealed = Sealed {
        sub: id.subject.clone(),
        name: shown(mapped(p, &id.claims, "name").or_else(|| text(&id.claims, &p.username_claim))),
        email: shown(email),
        email_verified,
    };
    let payload = serde_json::to_vec(&sealed)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    rows::insert_state(
        conn,
        &rows::StateRow {
            payload: kek.seal(&link_context(&hash), &payload),
            state_hash: hash,
            provider_id: p.id.clone(),
            browser_hash: browser.hash(),
            created_at: now,
            expires_at: now + LINK_TTL,
            used_at: None,
        },
    )?;
    Ok(token)
}

/// An offered link as its confirmation page shows it.
#[derive(Clone, Debug)]
pub struct Offer {
    /// The provider's name.
    pub provider: String,
    /// The upstream account: its name and address as the upstream gave them, and its subject.
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub subject: String,
    /// When it was offered: only a sign-in after that may take it.
    pub offered_at: i64,
    provider_id: String,
    hash: String,
}

/// The offer `token` names, when it is unspent, unexpired, was made to `browser`, and its
/// provider is still enabled.
pub fn offered(
    conn: &mut DbConn,
    kek: &crate::crypto::kek::Kek,
    token: &str,
    browser: Option<&crate::authn::interaction::Browser>,
    now: i64,
) -> diesel::QueryResult<Option<Offer>> {
    if token.is_empty() || token.len() > 64 {
        return Ok(None);
    }
    let hash = crate::random::sha256_hex(token);
    let Some(row) = rows::pending_state(conn, &hash, now)? else {
        return Ok(None);
    };
    let ours =
        browser.is_some_and(|b| crate::random::verify_sha256_hex(b.value(), &row.browser_hash));
    if !ours {
        return Ok(None);
    }
    let Some(sealed) = kek
        .open(&link_context(&hash), &row.payload)
        .ok()
        .and_then(|s| serde_json::from_slice::<Sealed>(&s).ok())
    else {
        return Ok(None);
    };
    let Some(p) = rows::get(conn, &row.provider_id)?.filter(|p| p.enabled) else {
        return Ok(None);
    };
    Ok(Some(Offer {
        provider: p.name,
        name: sealed.name,
        email: sealed.email,
        email_verified: sealed.email_verified,
        subject: sealed.sub,
        offered_at: row.created_at,
        provider_id: p.id,
        hash,
    }))
}

/// How the person who signed in answered an offered link.
#[derive(Debug, PartialEq, Eq)]
pub enum Answered {
    /// Linked; the provider's name.
    Linked(String),
    /// Declined (the offer is spent).
    Declined,
    /// Nothing to answer: no such offer in this browser, spent, expired; or the sign-in is not
    /// the owner's own since the offer (older, or itself through an upstream); or the upstream
    /// account is linked already, or the account holds another of this provider's accounts.
    Gone,
}

/// The sign-in that answers an offer: its account, and how and when it signed in.
pub struct Answerer<'a> {
    pub user: &'a User,
    /// When the session signed in (`auth_time`).
    pub signed_in_at: i64,
    /// Whether that sign-in came from an upstream (`fed`): such a sign-in never takes an offer.
    pub federated: bool,
}

impl Answerer<'_> {
    /// Whether this sign-in may answer `offer`: one with the person's own credentials, made
    /// after the offer (a session someone left open, or one that came from an upstream, never
    /// takes an upstream account offered later).
    pub fn may_answer(&self, offer: &Offer) -> bool {
        !self.federated && self.signed_in_at >= offer.offered_at
    }
}

/// The person signed in since the offer `token` was made in this browser answers it: `link`
/// links the upstream account to theirs (with the notice mail), otherwise the offer is
/// declined. Either way the offer is spent (once).
#[allow(clippy::too_many_arguments)]
pub fn answer_offer(
    conn: &mut DbConn,
    kek: &crate::crypto::kek::Kek,
    settings: &Settings,
    token: &str,
    browser: Option<&crate::authn::interaction::Browser>,
    who: &Answerer,
    link_it: bool,
    ip: Option<&str>,
    now: i64,
) -> diesel::QueryResult<Answered> {
    conn.transaction(|c| {
        // It links: it takes turns with `resolve`'s first logins (the same subject linked by
        // both would otherwise fail on the link's key).
        take_turns(c)?;
        let Some(offer) = offered(c, kek, token, browser, now)? else {
            return Ok(Answered::Gone);
        };
        if !rows::spend_state(c, &offer.hash, now)? {
            return Ok(Answered::Gone);
        }
        if !link_it {
            return Ok(Answered::Declined);
        }
        // Only the account whose owner proved themself here after the offer was made: not a
        // session someone left signed in before it, nor one that itself came from an upstream.
        if !who.may_answer(&offer) {
            return Ok(Answered::Gone);
        }
        let Some(p) = rows::get(c, &offer.provider_id)?.filter(|p| p.enabled) else {
            return Ok(Answered::Gone);
        };
        if rows::link_of(c, &p.id, &offer.subject)?.is_some() {
            return Ok(Answered::Gone);
        }
        if !link(c, settings, &p, &offer.subject, who.user, ip, now)? {
            return Ok(Answered::Gone);
        }
        Ok(Answered::Linked(p.name))
    })
}

/// Why an upstream account was not linked to the signed-in account that asked.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkRefused {
    /// That upstream account is linked to another account here.
    LinkedElsewhere,
    /// This account is linked to another account at that provider already.
    AlreadyLinked,
}

impl LinkRefused {
    pub fn message(&self, provider: &str) -> String {
        match self {
            LinkRefused::LinkedElsewhere => format!(
                "This {provider} account is already linked to another account here. Sign in \
                 to that account and unlink it there first."
            ),
            LinkRefused::AlreadyLinked => format!(
                "Your account is already linked to a {provider} account. Unlink it first to \
                 link another one."
            ),
        }
    }
}

/// The signed-in `user` came back from a round trip they started from their account page
/// (after re-authenticating) as `subject` at provider `p`: the link is made, audited — unless
/// that subject is another account's, or this account has a link to that provider already.
/// Linking the same subject again is no change.
pub fn link_signed_in(
    conn: &mut DbConn,
    settings: &Settings,
    p: &ProviderRow,
    subject: &str,
    user: &User,
    ip: Option<&str>,
    now: i64,
) -> diesel::QueryResult<Result<(), LinkRefused>> {
    conn.transaction(|c| {
        take_turns(c)?;
        if let Some(existing) = rows::link_of(c, &p.id, subject)? {
            return Ok(if existing.user_id == user.id {
                Ok(())
            } else {
                Err(LinkRefused::LinkedElsewhere)
            });
        }
        if !link(c, settings, p, subject, user, ip, now)? {
            return Ok(Err(LinkRefused::AlreadyLinked));
        }
        Ok(Ok(()))
    })
}

/// The enabled providers `user_id` is not linked to yet: (provider id, its name), for the
/// account page's "link another provider".
pub fn linkable(conn: &mut DbConn, user_id: &str) -> diesel::QueryResult<Vec<(String, String)>> {
    let mine = rows::links_of_user(conn, user_id)?;
    Ok(providers::enabled(conn)?
        .into_iter()
        .filter(|p| !mine.iter().any(|l| l.provider_id == p.id))
        .map(|p| (p.id, p.name))
        .collect())
}

/// The providers `user_id` is linked to: (provider id, its name).
pub fn links_of(conn: &mut DbConn, user_id: &str) -> diesel::QueryResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for l in rows::links_of_user(conn, user_id)? {
        let name = rows::get(conn, &l.provider_id)?
            .map(|p| p.name)
            .unwrap_or_else(|| l.provider_id.clone());
        out.push((l.provider_id, name));
    }
    Ok(out)
}

/// Why a person may not unlink a provider themself.
#[derive(Debug, PartialEq, Eq)]
pub enum KeepLink {
    /// It is not linked.
    NotLinked,
    /// It is the account's only way to sign in (no password, no passkey, no other link).
    LastWayIn,
}

/// The person unlinks provider `provider` from their own account — refused when it would
/// leave no way to sign in. The check and the delete are one transaction that deletes first:
/// two unlinks at once (of two providers, each leaving the other) cannot both go through.
pub fn unlink_own(
    conn: &mut DbConn,
    user: &User,
    provider: &str,
    ip: Option<&str>,
) -> diesel::QueryResult<Result<(), KeepLink>> {
    let actor = Actor::User(UserId::from_stored(user.id.clone()));
    let outcome = conn.transaction::<_, diesel::result::Error, _>(|c| {
        lock_account(c, &user.id)?;
        if !unlink_in(c, provider, &user.id, &actor, ip)? {
            return Ok(Err(KeepLink::NotLinked));
        }
        // What is left, read inside the transaction (after the delete took the write lock, and
        // from the stored row, not the session's copy of the user).
        let left = rows::links_of_user(c, &user.id)?.len();
        let password = users::by_id(c, &user.id)?.is_some_and(|u| has_password(&u));
        let passkeys = crate::authn::second_factor::Factors::load(c, &user.id)?.passkeys > 0;
        if !password && !passkeys && left == 0 {
            // Undo it all: the last way in stays.
            return Err(diesel::result::Error::RollbackTransaction);
        }
        Ok(Ok(()))
    });
    match outcome {
        Err(diesel::result::Error::RollbackTransaction) => Ok(Err(KeepLink::LastWayIn)),
        other => other,
    }
}
