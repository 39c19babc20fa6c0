//! Federation: logging in with an account at another identity provider (an "upstream": an
//! OpenID Connect provider by its issuer, or a plain OAuth 2.0 provider with a userinfo URL).
//!
//! - `providers`: the upstreams an operator configured — one validation of a provider spec
//!   (`providers::check`) for the CLI, config-as-code and the console; the client secret sealed
//!   under the KEK (it is sent to the upstream, so it cannot be hashed).
//! - `flow`: the round trip — `begin` (discovery, cached in `fetched`, `state` + `nonce` + PKCE S256, kept server-side
//!   and bound to the browser), `finish` (state spent once, RFC 9207 `iss`, the code exchanged,
//!   the id_token checked by `crypto::jwt::decode` against the upstream's JWKS); `oauth2` its
//!   plain OAuth 2.0 flavour (userinfo by claim paths, presets such as GitHub's); `error` what
//!   both answer when a round trip fails.
//! - `accounts`: who an upstream subject is here — a link by (provider, `sub`), never by email
//!   alone; the provider's policy for an unknown subject (refuse, link, create just in time);
//!   upstream group memberships replaced at every login.
//!
//! The login itself then goes through `authn::journey` like a password (`Proof::Upstream`), so
//! second factors, enrolment and step-up apply unchanged. Every upstream call goes through
//! `outbound`. Below `web/` and `cli/`, above `accounts/`, `db/`, `outbound` and `crypto/`.

pub mod accounts;
mod error;
pub mod flow;
pub mod oauth2;
pub mod providers;

/// What an upstream login came to.
#[derive(Debug)]
pub enum SignedIn {
    /// The journey's answer for the account found or made (`journey::advance` with
    /// `Proof::Upstream`): a completed login (recorded on the interaction), or a pending step.
    Journey(Result<crate::authn::journey::Next, crate::authn::journey::Refused>),
    /// No account, per the provider's policy.
    Refused(accounts::Refusal),
    /// No account linked yet, but the policy links one after its owner signs in here with
    /// their own credentials and confirms it: the token of the offer (`accounts::offer_link`),
    /// for the cookie.
    LinkOffered(accounts::Refusal, String),
}

/// The I/O around an upstream login's journey step, in one trip to the database: the account
/// (`accounts::resolve`), its factors, the journey's answer, and a completed login recorded on
/// `interaction` (as `authn::login::with_password` does for a password).
#[allow(clippy::too_many_arguments)]
pub fn sign_in(
    conn: &mut crate::db::DbConn,
    kek: &crate::crypto::kek::Kek,
    settings: &crate::config::Settings,
    done: &flow::Finished,
    browser: &crate::authn::interaction::Browser,
    interaction: Option<&crate::authn::interaction::Handle>,
    rules: &crate::authn::journey::Rules,
    ip: Option<&str>,
    now: i64,
) -> diesel::QueryResult<SignedIn> {
    use crate::authn::journey::{self, Next, Proof, State};
    use accounts::Refusal;
    let user = match accounts::resolve(conn, settings, &done.provider, &done.identity, ip, now)? {
        Ok(u) => u,
        Err(why @ (Refusal::NotLinked | Refusal::AddressInUse))
            if done.provider.account_policy != providers::Policy::Refuse.as_str() =>
        {
            let p = &done.provider;
            let token = accounts::offer_link(conn, kek, p, &done.identity, browser, now)?;
            return Ok(SignedIn::LinkOffered(why, token));
        }
        Err(why) => return Ok(SignedIn::Refused(why)),
    };
    let enrolled = crate::authn::second_factor::Factors::load(conn, &user.id)?;
    let proof = Proof::Upstream {
        methods: &done.identity.methods,
        enrolled: &enrolled,
    };
    let next = journey::advance(State::Start, Box::new(user), proof, rules, now);
    if let (Ok(Next::Completed(c)), Some(handle)) = (&next, interaction) {
        crate::authn::interaction::record_login(conn, handle, &c.user.id, c.auth_time, &c.amr)?;
    }
    Ok(SignedIn::Journey(next))
}
