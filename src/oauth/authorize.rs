//! The authorization endpoint's protocol side (RFC 6749 §4.1.1, RFC 7636, RFC 9207). Returns
//! what should happen next; the web layer renders pages and sends redirects.

use oxide_auth::code_grant::authorization::{authorization_code, Error, ErrorUrl};
use oxide_auth::code_grant::error::AuthorizationErrorType;
use url::Url;

use super::claims_request::ClaimsRequest;
use super::context::{CodeContext, Ctx, Noted};
use super::errors::{ErrorCode, ProtocolError};
use super::flow::Flow;
use super::issuer::GrantKind;
use super::params::Params;
use super::registrar::redirect_matches;
use super::response_mode::{self, FormPost, ResponseMode};
use super::tokens::SuccessorKey;
use crate::authn::acr::Acr;
use crate::authn::requirement::{requirement, Demand, Requirement, Signin};
use crate::authn::second_factor::Factors;
use crate::db::models::clients::Client;
use crate::db::models::consents;
use crate::db::models::users::User;
use crate::domain::grants::GRANT_AUTHORIZATION_CODE;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

/// What the browser brings besides the request parameters.
pub struct AuthorizeInput {
    pub user: Option<User>,
    pub session_id: Option<String>,
    pub auth_time: Option<i64>,
    /// The consent form's answer (only from a POST whose CSRF token checked out).
    pub decision: Option<Decision>,
    /// When the user logged in during this very request's interaction: that login is what
    /// `prompt=login` (and `max_age=0`) asked for; a positive `max_age` still bounds its age.
    pub fresh_login_at: Option<i64>,
    /// RFC 8176 methods of the session's login, space-separated.
    pub amr: Option<String>,
    /// The request came from a pushed authorization request (RFC 9126), or resumes one that
    /// passed every check already.
    pub pushed: bool,
}

#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// The client or redirect URI cannot be trusted: show an error page, never redirect.
    ErrorPage(ProtocolError),
    /// Send the browser here: the client's redirect URI with a code or an error, and `iss`
    /// (`response_mode=query`, the default).
    Redirect(String),
    /// The same response posted by the browser to the redirect URI (`response_mode=form_post`).
    FormPost(FormPost),
    /// Nobody is logged in.
    NeedLogin { client: Box<Client> },
    /// The user has not yet allowed these scopes for this client.
    NeedConsent {
        client: Box<Client>,
        scopes: Vec<String>,
    },
    /// The session's class is below what the request or the client asks for, and the user has
    /// a factor that reaches it: ask for that factor only (step-up).
    NeedStepUp { client: Box<Client>, acr: Acr },
    /// The client requires a class the user has no factor for: set one up first.
    NeedEnrolment { client: Box<Client>, acr: Acr },
}

fn with_iss(mut url: Url, issuer: &str) -> String {
    url.query_pairs_mut().append_pair("iss", issuer);
    url.into()
}

/// OIDC `prompt` (Core §3.1.2.1).
#[derive(Debug, Default)]
struct Prompt {
    none: bool,
    login: bool,
    consent: bool,
}

impl Prompt {
    fn parse(raw: Option<&str>) -> Result<Prompt, &'static str> {
        let mut p = Prompt::default();
        for v in raw.unwrap_or("").split_ascii_whitespace() {
            match v {
                "none" => p.none = true,
                "login" => p.login = true,
                "consent" => p.consent = true,
                // select_account has nothing to select here: one account per browser session.
                "select_account" => {}
                _ => return Err("prompt has an unsupported value"),
            }
        }
        if p.none && (p.login || p.consent) {
            return Err("prompt=none cannot be combined with other values");
        }
        Ok(p)
    }
}

/// An error redirect built by us (for errors oxide-auth does not know, like OIDC's).
pub(crate) fn plain_error_redirect(
    mut url: Url,
    code: &str,
    description: &str,
    state: Option<&str>,
    issuer: &str,
) -> String {
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("error", code);
        q.append_pair("error_description", description);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
    }
    with_iss(url, issuer)
}

/// An error redirect with RFC 6749 §4.1.2.1 parameter names (oxide-auth writes `description`
/// and `uri`), a description always present, and `iss`.
fn error_redirect(mut e: ErrorUrl, noted: Noted, issuer: &str) -> String {
    if noted == Noted::ResponseTypeMissing {
        // oxide-auth reports a missing response_type as unsupported; RFC 6749 §4.1.2.1 calls a
        // missing required parameter invalid_request.
        e.description()
            .set_type(AuthorizationErrorType::InvalidRequest);
    }
    let kind = e.description().kind();
    let explanation = match noted {
        Noted::ResponseTypeMissing => "response_type is missing",
        Noted::PkceRequired => "public clients must send a code_challenge (PKCE, S256)",
        Noted::PkceFailed => "code_challenge must be 43 characters of S256 (plain is not accepted)",
        Noted::ScopeNotAllowed => "the requested scope is not allowed for this client",
        _ => match kind {
            AuthorizationErrorType::UnsupportedResponseType => {
                "only response_type=code is supported"
            }
            AuthorizationErrorType::InvalidScope => "the scope parameter is malformed",
            AuthorizationErrorType::AccessDenied => "the user denied the request",
            AuthorizationErrorType::InvalidRequest => {
                "the request is missing a parameter or has an invalid one"
            }
            _ => "the request could not be completed",
        },
    };
    e.description().explain(explanation);
    let url: Url = e.into();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let start = pairs
        .iter()
        .rposition(|(k, _)| k == "error")
        .unwrap_or(pairs.len());
    let mut fixed = url.clone();
    {
        let mut q = fixed.query_pairs_mut();
        q.clear();
        for (i, (k, v)) in pairs.iter().enumerate() {
            let key = match k.as_str() {
                "description" if i > start => "error_description",
                "uri" if i > start => "error_uri",
                other => other,
            };
            q.append_pair(key, v);
        }
    }
    with_iss(fixed, issuer)
}

/// A client not registered for the authorization-code grant (say, only for
/// client_credentials) gets `unauthorized_client` (RFC 6749 §4.1.2.1) before anything is shown
/// or stored: redirected only to a redirect URI it registered, else on an error page.
fn refuse_unauthorized_client(
    ctx: &Ctx,
    params: &Params<'_>,
    issuer: &str,
) -> Option<AuthorizeOutcome> {
    let client = ctx.client(params.get("client_id")?.as_ref())?;
    if client.allows_grant(GRANT_AUTHORIZATION_CODE) {
        return None;
    }
    let description = "this client is not allowed to use the authorization code grant";
    let registered = match params.get("redirect_uri") {
        Some(requested) => client
            .redirect_uris
            .iter()
            .find(|r| redirect_matches(r, &requested, client.row.is_public))
            .map(|_| requested.into_owned()),
        None => match client.redirect_uris.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        },
    };
    Some(match registered.and_then(|r| Url::parse(&r).ok()) {
        Some(url) => AuthorizeOutcome::Redirect(plain_error_redirect(
            url,
            ErrorCode::UnauthorizedClient.as_str(),
            description,
            params.get("state").as_deref(),
            issuer,
        )),
        None => AuthorizeOutcome::ErrorPage(ProtocolError::new(
            ErrorCode::UnauthorizedClient,
            description,
        )),
    })
}

/// Refusals decided before the flow reads anything: a repeated parameter, a client not
/// allowed the grant, a request that had to be pushed first (RFC 9126 §5). `None`: carry on.
fn refuse_before_flow(
    ctx: &Ctx,
    params: &Params<'_>,
    pushed: bool,
    issuer: &str,
) -> Option<AuthorizeOutcome> {
    if !params.well_formed() {
        return Some(AuthorizeOutcome::ErrorPage(ProtocolError::invalid_request(
            "a parameter was repeated",
        )));
    }
    if let Some(refusal) = refuse_unauthorized_client(ctx, params, issuer) {
        return Some(refusal);
    }
    if !pushed {
        let required = ctx.settings.require_par
            || params
                .get("client_id")
                .and_then(|id| ctx.client(&id))
                .is_some_and(|c| c.row.require_par);
        if required {
            // RFC 9126 §5: nothing from this request is trusted, so no redirect.
            return Some(AuthorizeOutcome::ErrorPage(ProtocolError::invalid_request(
                "this application must push its authorization requests first (PAR, RFC 9126)",
            )));
        }
    }
    None
}

/// oxide-auth refused the request. `Ignore` means the client or redirect URI is not to be
/// trusted (or the store failed): a page, never a redirect; `Redirect` is an error the client
/// may be told at its validated redirect URI.
fn refused_by_flow(ctx: &Ctx, params: &Params<'_>, e: Error, issuer: &str) -> AuthorizeOutcome {
    match e {
        Error::Ignore => {
            if let Some(failure) = ctx.storage_failure() {
                return AuthorizeOutcome::ErrorPage(failure);
            }
            AuthorizeOutcome::ErrorPage(ProtocolError::invalid_request(
                "The application sent an invalid sign-in request: its client_id is unknown or \
                 its redirect_uri is not registered.",
            ))
        }
        Error::Redirect(e) => {
            let noted = if params.get("response_type").is_none() {
                Noted::ResponseTypeMissing
            } else {
                ctx.noted()
            };
            AuthorizeOutcome::Redirect(error_redirect(e, noted, issuer))
        }
        Error::PrimitiveError => {
            AuthorizeOutcome::ErrorPage(ProtocolError::server_error("authorization flow"))
        }
    }
}

/// Where errors go once the client and its redirect URI are validated: the redirect URI, with
/// the request's `state` and our `iss`.
struct ErrorTarget {
    redirect_uri: Url,
    state: Option<String>,
    issuer: String,
}

impl ErrorTarget {
    fn fail(&self, code: &str, description: &str) -> AuthorizeOutcome {
        AuthorizeOutcome::Redirect(plain_error_redirect(
            self.redirect_uri.clone(),
            code,
            description,
            self.state.as_deref(),
            &self.issuer,
        ))
    }
}

/// The OIDC parameters that shape the login: `prompt` and `max_age` (Core §3.1.2.1), refused
/// at the redirect URI when malformed.
fn login_parameters(
    params: &Params<'_>,
    target: &ErrorTarget,
) -> Result<(Prompt, Option<i64>), AuthorizeOutcome> {
    let prompt = Prompt::parse(params.get("prompt").as_deref())
        .map_err(|d| target.fail("invalid_request", d))?;
    let max_age = match params.get("max_age").map(|m| m.parse::<i64>()) {
        None => None,
        Some(Ok(m)) if m >= 0 => Some(m),
        Some(_) => {
            return Err(target.fail("invalid_request", "max_age must be a non-negative integer"))
        }
    };
    Ok((prompt, max_age))
}

/// The user an `id_token_hint` names, when it is an id_token this server issued to `client`
/// (expired ones too): the `sub` resolved as `client` was given it; an unknown pairwise sub
/// names nobody (`Some("")`). `None`: not such a token.
fn hinted_user(ctx: &Ctx, client: &Client, hint: &str) -> diesel::QueryResult<Option<String>> {
    use crate::crypto::jwt;
    let Ok(claims) = jwt::verify_with::<serde_json::Value>(
        &ctx.keys,
        hint,
        &ctx.settings.issuer,
        None,
        jwt::Expiry::MayHaveExpired,
        ctx.now,
    ) else {
        return Ok(None);
    };
    let for_client = match &claims["aud"] {
        serde_json::Value::String(a) => *a == client.row.client_id,
        serde_json::Value::Array(a) => a.iter().any(|v| *v == *client.row.client_id),
        _ => false,
    };
    let Some(sub) = claims["sub"].as_str().filter(|_| for_client) else {
        return Ok(None);
    };
    if !super::subject::is_pairwise(client) {
        return Ok(Some(sub.to_owned()));
    }
    let mut conn = ctx.conn()?;
    Ok(Some(
        super::subject::user_of(&mut conn, client, sub)?.unwrap_or_default(),
    ))
}

/// Whether the browser's sign-in is enough for this request and this client
/// (`authn::requirement`): `Ok` to go on, else what to do instead — log in, step up, enrol a
/// factor, or, with `prompt=none`, the OIDC error saying interaction is needed.
fn check_signin(
    ctx: &Ctx,
    client: &Client,
    params: &Params<'_>,
    input: &AuthorizeInput,
    user: Option<&User>,
    (prompt, max_age): (&Prompt, Option<i64>),
    target: &ErrorTarget,
) -> Result<(), AuthorizeOutcome> {
    let acr_values = params.get("acr_values");
    // An essential `acr` claim (OIDC Core §5.5.1.1) is a must, like the client's minimum (a
    // malformed claims parameter was refused before).
    let essential_acr = ClaimsRequest::from_params(params)
        .ok()
        .flatten()
        .and_then(|c| c.essential_acr());
    let signin = Signin {
        user: user.is_some(),
        auth_time: input.auth_time,
        fresh_login_at: input.fresh_login_at,
        amr: input.amr.as_deref(),
    };
    let demand = Demand {
        minimum: client
            .row
            .minimum_acr
            .as_deref()
            .and_then(Acr::parse)
            .max(essential_acr),
        acr_values: acr_values.as_deref(),
        max_age,
        prompt_login: prompt.login,
        passive: prompt.none,
    };
    let uid = user.map(|u| u.id.clone()).unwrap_or_default();
    let needed = requirement(ctx.now, &signin, &demand, || {
        ctx.conn().and_then(|mut c| Factors::load(&mut c, &uid))
    });
    let client_box = || Box::new(Client::clone(client));
    Err(match needed {
        Err(e) => AuthorizeOutcome::ErrorPage(ProtocolError::server_error(e)),
        Ok(Requirement::Satisfied) => return Ok(()),
        Ok(Requirement::Login) if prompt.none => {
            target.fail("login_required", "the user is not logged in")
        }
        Ok(Requirement::StepUp(_) | Requirement::Enrol(_)) if prompt.none => target.fail(
            "interaction_required",
            "a stronger authentication than the session's is needed",
        ),
        Ok(Requirement::Login) => AuthorizeOutcome::NeedLogin {
            client: client_box(),
        },
        Ok(Requirement::StepUp(acr)) => AuthorizeOutcome::NeedStepUp {
            client: client_box(),
            acr,
        },
        Ok(Requirement::Enrol(acr)) => AuthorizeOutcome::NeedEnrolment {
            client: client_box(),
            acr,
        },
    })
}

/// Whether the user has consented to `scopes` for this client: an `Allow` from the consent form
/// is recorded (and is consent), otherwise a stored consent must cover every scope asked for.
/// (`Deny` is answered before this.)
fn consented(
    ctx: &Ctx,
    client: &Client,
    user: &User,
    scopes: &[&str],
    decision: Option<Decision>,
) -> Result<bool, ProtocolError> {
    if decision == Some(Decision::Allow) {
        ctx.conn()
            .and_then(|mut conn| {
                consents::grant(&mut conn, &user.id, &client.row.client_id, scopes, ctx.now)
            })
            .map_err(ProtocolError::server_error)?;
        return Ok(true);
    }
    let existing = ctx
        .conn()
        .and_then(|mut conn| consents::get(&mut conn, &user.id, &client.row.client_id))
        .map_err(ProtocolError::server_error)?;
    Ok(existing.is_some_and(|c| {
        let granted: Vec<&str> = c.scope.split_ascii_whitespace().collect();
        scopes.iter().all(|s| granted.contains(s))
    }))
}

/// Runs one authorization request (`run_request`) and delivers a response for the client in the
/// mode it asked for: redirected with a query, or as a form to post. Only responses that were to
/// be redirected — to a validated redirect URI — become forms; an unknown mode was refused as a
/// query redirect.
pub fn run(
    ctx: &Ctx,
    params: &Params<'_>,
    input: AuthorizeInput,
    key: &SuccessorKey,
) -> AuthorizeOutcome {
    let outcome = run_request(ctx, params, input, key);
    match (outcome, response_mode::requested(params)) {
        (AuthorizeOutcome::Redirect(location), Ok(ResponseMode::FormPost)) => {
            match FormPost::from_redirect(&location) {
                Some(post) => AuthorizeOutcome::FormPost(post),
                None => AuthorizeOutcome::ErrorPage(ProtocolError::server_error(
                    "the redirect URI could not be parsed",
                )),
            }
        }
        (outcome, _) => outcome,
    }
}

/// One authorization request: the refusals that come before the flow, oxide-auth's validation
/// of client, redirect URI, scope and PKCE, then the sign-in this request needs, consent, and
/// the code.
fn run_request(
    ctx: &Ctx,
    params: &Params<'_>,
    mut input: AuthorizeInput,
    key: &SuccessorKey,
) -> AuthorizeOutcome {
    let issuer = ctx.settings.issuer.clone();
    if let Some(refusal) = refuse_before_flow(ctx, params, input.pushed, &issuer) {
        return refusal;
    }
    let mut flow = Flow::new(ctx, GrantKind::AuthorizationCode, key);
    let pending = match authorization_code(&mut flow, params) {
        Ok(p) => p,
        Err(e) => return refused_by_flow(ctx, params, e, &issuer),
    };

    let pre = pending.as_solicitation().pre_grant().clone();
    let target = ErrorTarget {
        redirect_uri: pre.redirect_uri.to_url(),
        state: pending.as_solicitation().state().map(str::to_owned),
        issuer: issuer.clone(),
    };
    let Some(client) = ctx.client(&pre.client_id) else {
        return AuthorizeOutcome::ErrorPage(ProtocolError::server_error("client vanished"));
    };
    if let Err(why) = response_mode::requested(params) {
        return target.fail("invalid_request", why);
    }
    let requested_claims = match ClaimsRequest::from_params(params) {
        Ok(c) => c.unwrap_or_default(),
        Err(why) => return target.fail("invalid_request", why),
    };
    let (prompt, max_age) = match login_parameters(params, &target) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let user = input.user.take().filter(|u| !u.disabled);
    if let Err(instead) = check_signin(
        ctx,
        &client,
        params,
        &input,
        user.as_ref(),
        (&prompt, max_age),
        &target,
    ) {
        return instead;
    }
    let Some(user) = user else {
        return AuthorizeOutcome::ErrorPage(ProtocolError::server_error("no user after login"));
    };
    // OIDC Core §3.1.2.1: with prompt=none, an id_token_hint naming someone else than the
    // signed-in user is `login_required`. It names them as this client saw them (a pairwise
    // client's own sub); a hint that is not this server's id_token for this client is ignored.
    if prompt.none {
        if let Some(hint) = params.get("id_token_hint") {
            match hinted_user(ctx, &client, &hint) {
                Ok(Some(hinted)) if hinted != user.id => {
                    return target.fail(
                        "login_required",
                        "the id_token_hint names another user than the signed-in one",
                    )
                }
                Ok(_) => {}
                Err(e) => return AuthorizeOutcome::ErrorPage(ProtocolError::server_error(e)),
            }
        }
    }
    // OIDC Core §5.5.1: a `sub` asked for with a value is answered only for that user, as this
    // client names them; anyone else signs in afresh (with prompt=none, or after a fresh login
    // that was still someone else, `login_required`).
    if let Some(wanted) = requested_claims.subject() {
        let named = ctx
            .conn()
            .and_then(|mut conn| super::subject::user_of(&mut conn, &client, wanted));
        match named {
            Ok(Some(named)) if named == user.id => {}
            Ok(_) if prompt.none || input.fresh_login_at.is_some() => {
                return target.fail(
                    "login_required",
                    "the signed-in user is not the subject the claims parameter asks for",
                )
            }
            Ok(_) => {
                return AuthorizeOutcome::NeedLogin {
                    client: Box::new(Client::clone(&client)),
                }
            }
            Err(e) => return AuthorizeOutcome::ErrorPage(ProtocolError::server_error(e)),
        }
    }
    let claims = requested_claims.release(|s| client.scopes().any(|allowed| allowed == s));
    let mut scopes: Vec<String> = pre.scope.iter().map(str::to_owned).collect();
    // Requested claims are consented to like the scopes that carry them.
    scopes.extend(claims.consent_scopes().into_iter().map(str::to_owned));
    scopes.sort();
    scopes.dedup();
    let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();

    if input.decision == Some(Decision::Deny) {
        return match pending.deny() {
            Err(Error::Redirect(e)) => {
                AuthorizeOutcome::Redirect(error_redirect(e, Noted::Nothing, &issuer))
            }
            _ => AuthorizeOutcome::ErrorPage(ProtocolError::server_error("deny")),
        };
    }
    let allowed = match consented(ctx, &client, &user, &scope_refs, input.decision) {
        Ok(a) => a,
        Err(e) => return AuthorizeOutcome::ErrorPage(e),
    };
    // prompt=consent asks again even when a stored consent covers the scopes.
    let allowed = allowed && !(prompt.consent && input.decision.is_none());
    if !allowed {
        if prompt.none {
            return target.fail(
                "consent_required",
                "the user has not consented to this client",
            );
        }
        return AuthorizeOutcome::NeedConsent {
            client: Box::new(Client::clone(&client)),
            scopes,
        };
    }

    *ctx.code_context.borrow_mut() = CodeContext {
        nonce: params.get("nonce").map(|n| n.into_owned()),
        session_id: input.session_id,
        auth_time: input.auth_time.unwrap_or(ctx.now),
        amr: input.amr,
        redirect_uri_given: params.get("redirect_uri").is_some(),
        claims: claims.to_stored(),
    };
    match pending.authorize(&mut flow, user.id.as_str().into()) {
        Ok(url) => AuthorizeOutcome::Redirect(with_iss(url, &issuer)),
        Err(Error::Redirect(e)) => {
            AuthorizeOutcome::Redirect(error_redirect(e, ctx.noted(), &issuer))
        }
        Err(_) => AuthorizeOutcome::ErrorPage(ProtocolError::new(
            ErrorCode::ServerError,
            "the authorization could not be stored",
        )),
    }
}
