//! The round trip to an upstream provider: `begin` sends the browser there with a fresh
//! `state`, `nonce` and PKCE S256 challenge (kept server-side, sealed under the KEK, bound to
//! the browser that asked); `finish` takes the callback: the state spent once and only by that
//! browser, the upstream's error said in plain words, RFC 9207's `iss` checked, the code
//! exchanged, the id_token checked (`crypto::jwt::decode`: signature by the upstream's JWKS,
//! `iss`, `aud` ∋ our client id, `exp`/`iat`; then `nonce` and `azp`), userinfo read — or, for
//! a plain OAuth 2.0 provider (no nonce, no id_token), `oauth2::identity`.
//!
//! Every call to the upstream goes through `outbound` within `Limits::UPSTREAM` (5 s): a slow
//! or absent upstream is an error the login page explains, never a hang.

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::json;
pub use super::error::FlowError;
use super::oauth2;
use super::providers::{self, KIND_OIDC};
use crate::authn::acr::Method;
use crate::authn::interaction::Browser;
use crate::crypto::jwt::{self, Expiry, Profile};
use crate::crypto::kek::Kek;
use crate::db::models::federation::{self as rows, ProviderRow, StateRow};
use crate::db::Pool;
use crate::outbound::{FetchError, Limits, Outbound};
use crate::random;

/// How long a person has at the upstream.
pub const TTL: i64 = 600;

/// What the round trip needs of the server.
pub struct Env<'a> {
    pub pool: &'a Pool,
    pub kek: &'a Kek,
    pub outbound: &'a Outbound,
    pub cache: &'a crate::fetched::Fetched,
    /// Our callback, `{issuer}/login/upstream/callback`, registered at every upstream.
    pub redirect_uri: String,
}

/// What is kept of a round trip, sealed under the KEK.
#[derive(Serialize, Deserialize)]
struct Secrets {
    nonce: String,
    verifier: String,
    return_to: String,
    /// The round trip's purpose when it is not a login: link the upstream account to this
    /// signed-in account (`/account`'s "link another provider"). Sealed with the rest, so the
    /// browser cannot change what a callback does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link_user: Option<String>,
}

/// The upstream's endpoints.
struct Endpoints {
    authorization: String,
    token: String,
    userinfo: Option<String>,
    jwks: Option<String>,
    /// RFC 9207: the upstream sends `iss` with its authorization responses.
    iss_parameter: bool,
    /// Whether the token endpoint takes `client_secret_basic` (else `client_secret_post`).
    basic_auth: bool,
}

async fn blocking<T: Send + 'static>(
    pool: &Pool,
    f: impl FnOnce(&mut crate::db::DbConn) -> Result<T, FlowError> + Send + 'static,
) -> Result<T, FlowError> {
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await
    .map_err(|_| FlowError::Join)?
}

/// The provider's endpoints: from its discovery document (cached; its `issuer` must be the one
/// configured, OIDC Discovery §4.3), or as configured for a plain OAuth 2.0 provider.
async fn endpoints(env: &Env<'_>, p: &ProviderRow) -> Result<Endpoints, FlowError> {
    if p.kind != KIND_OIDC {
        let url = |u: &Option<String>| u.clone().ok_or(FlowError::UnknownProvider);
        return Ok(Endpoints {
            authorization: url(&p.authorization_endpoint)?,
            token: url(&p.token_endpoint)?,
            userinfo: p.userinfo_endpoint.clone(),
            jwks: None,
            iss_parameter: false,
            basic_auth: oauth2::basic_auth(p),
        });
    }
    let issuer = p.issuer.as_deref().ok_or(FlowError::UnknownProvider)?;
    let url = discovery_url(issuer);
    let doc = env
        .cache
        .document(env.outbound, &url, Limits::UPSTREAM)
        .await?;
    if !doc.is_object() {
        return Err(FlowError::Invalid("not a JSON object"));
    }
    if doc["issuer"].as_str() != Some(issuer) {
        return Err(FlowError::Invalid(
            "issuer mismatch: its discovery document names another issuer than the one configured",
        ));
    }
    let s = |k: &str| doc[k].as_str().map(str::to_owned);
    let methods = doc["token_endpoint_auth_methods_supported"].as_array();
    let takes = |m: &str| methods.is_none_or(|a| a.iter().any(|v| v == m));
    Ok(Endpoints {
        authorization: s("authorization_endpoint")
            .ok_or(FlowError::Invalid("no authorization_endpoint"))?,
        token: s("token_endpoint").ok_or(FlowError::Invalid("no token_endpoint"))?,
        userinfo: s("userinfo_endpoint"),
        jwks: Some(s("jwks_uri").ok_or(FlowError::Invalid("no jwks_uri"))?),
        iss_parameter: doc["authorization_response_iss_parameter_supported"] == Value::Bool(true),
        basic_auth: takes("client_secret_basic") || !takes("client_secret_post"),
    })
}

/// Where an issuer's discovery document is (OIDC Discovery §4): the issuer, without one
/// trailing '/', then `/.well-known/openid-configuration`.
fn discovery_url(issuer: &str) -> String {
    let base = issuer.strip_suffix('/').unwrap_or(issuer);
    format!("{base}/.well-known/openid-configuration")
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

fn state_context(hash: &str) -> String {
    format!("upstream-state:{hash}")
}

/// Starts a login at provider `id` for `browser`, to come back to `return_to` (a local path,
/// checked by the caller) — or, with `link_user`, a round trip that links the upstream account
/// to that signed-in account: the URL to send the browser to.
pub async fn begin(
    env: &Env<'_>,
    id: &str,
    browser: &Browser,
    return_to: &str,
    link_user: Option<&str>,
    now: i64,
) -> Result<String, FlowError> {
    let wanted = id.to_owned();
    let provider = blocking(env.pool, move |c| Ok(providers::usable(c, &wanted)?))
        .await?
        .ok_or(FlowError::UnknownProvider)?;
    let ep = endpoints(env, &provider).await?;
    let state = random::token::<32>();
    let secrets = Secrets {
        nonce: random::token::<32>(),
        verifier: random::token::<48>(),
        return_to: return_to.to_owned(),
        link_user: link_user.map(str::to_owned),
    };
    let state_hash = random::sha256_hex(&state);
    let payload = serde_json::to_vec(&secrets).map_err(|_| FlowError::Join)?;
    let row = StateRow {
        payload: env.kek.seal(&state_context(&state_hash), &payload),
        state_hash,
        provider_id: provider.id.clone(),
        browser_hash: browser.hash(),
        created_at: now,
        expires_at: now + TTL,
        used_at: None,
    };
    blocking(env.pool, move |c| Ok(rows::insert_state(c, &row)?)).await?;
    let mut url = url::Url::parse(&ep.authorization)
        .map_err(|_| FlowError::Invalid("its authorization endpoint is not a URL"))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &provider.client_id)
            .append_pair("redirect_uri", &env.redirect_uri)
            .append_pair("scope", &provider.scopes)
            .append_pair("state", &state)
            .append_pair("code_challenge", &s256(&secrets.verifier))
            .append_pair("code_challenge_method", "S256");
        if provider.kind == KIND_OIDC {
            q.append_pair("nonce", &secrets.nonce);
            // Linking to a signed-in account: whoever is signed in at the upstream in this
            // browser (a shared computer, a login CSRF there) must not be linked unasked — the
            // person signs in there now, as the account they mean.
            if secrets.link_user.is_some() {
                q.append_pair("prompt", "login");
            }
        }
    }
    Ok(url.into())
}

/// The parameters of a callback.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}

/// Who the upstream says the person is.
#[derive(Debug)]
pub struct Identity {
    pub subject: String,
    /// The id_token's claims, completed by userinfo's (a plain OAuth 2.0 provider's mapped by
    /// its claim paths).
    pub claims: Map<String, Value>,
    /// `fed`, plus the upstream's own methods where the provider is trusted for them.
    pub methods: Vec<Method>,
}

/// A callback that went through.
#[derive(Debug)]
pub struct Finished {
    pub provider: ProviderRow,
    pub identity: Identity,
    pub return_to: String,
    /// Set when the round trip was started to link this account (`begin`'s `link_user`).
    pub link_user: Option<String>,
}

/// A callback that did not: why, with the provider's name and the path the login was for when
/// the state was ours (for the page's way back).
#[derive(Debug)]
pub struct Failed {
    pub error: FlowError,
    pub provider_name: Option<String>,
    pub return_to: Option<String>,
}

impl From<FlowError> for Failed {
    fn from(error: FlowError) -> Self {
        Failed {
            error,
            provider_name: None,
            return_to: None,
        }
    }
}

/// Takes a callback in `browser`.
pub async fn finish(
    env: &Env<'_>,
    cb: Callback,
    browser: Option<&Browser>,
    now: i64,
) -> Result<Finished, Failed> {
    let state = cb
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .ok_or(FlowError::UnknownState)?;
    let hash = random::sha256_hex(state);
    let browser = browser.map(|b| b.value().to_owned());
    // Found, this browser's, then spent by one conditional UPDATE: another browser's callback
    // leaves it to its own, and of two callbacks with it only one goes on.
    let found = blocking(env.pool, move |c| {
        let Some(row) = rows::pending_state(c, &hash, now)? else {
            return Err(FlowError::UnknownState);
        };
        if !browser
            .as_deref()
            .is_some_and(|b| random::verify_sha256_hex(b, &row.browser_hash))
        {
            return Err(FlowError::OtherBrowser);
        }
        if !rows::spend_state(c, &hash, now)? {
            return Err(FlowError::UnknownState);
        }
        let provider = rows::get(c, &row.provider_id)?.filter(|p| p.enabled);
        Ok((row, provider))
    })
    .await?;
    let (row, provider) = found;
    let provider = provider.ok_or(FlowError::UnknownProvider)?;
    let secrets: Secrets = env
        .kek
        .open(&state_context(&row.state_hash), &row.payload)
        .ok()
        .and_then(|p| serde_json::from_slice(&p).ok())
        .ok_or(FlowError::UnknownState)?;
    let failed = |error| Failed {
        error,
        provider_name: Some(provider.name.clone()),
        return_to: Some(secrets.return_to.clone()),
    };
    match exchange(env, &provider, &secrets, cb, now).await {
        Ok(identity) => Ok(Finished {
            return_to: secrets.return_to.clone(),
            link_user: secrets.link_user.clone(),
            provider,
            identity,
        }),
        Err(e) => Err(failed(e)),
    }
}

async fn exchange(
    env: &Env<'_>,
    p: &ProviderRow,
    secrets: &Secrets,
    cb: Callback,
    now: i64,
) -> Result<Identity, FlowError> {
    if let Some(error) = cb.error {
        return Err(FlowError::Upstream {
            error,
            description: cb.error_description,
        });
    }
    let ep = endpoints(env, p).await?;
    // RFC 9207 §2.4: where the upstream says it sends `iss`, or sent one, it must be its issuer
    // (a response from another upstream, mixed up, is refused before its code goes anywhere).
    if p.kind == KIND_OIDC && (ep.iss_parameter || cb.iss.is_some()) {
        let issuer = p.issuer.as_deref().unwrap_or_default();
        if cb.iss.as_deref() != Some(issuer) {
            return Err(FlowError::Invalid(
                "the response names another issuer (iss)",
            ));
        }
    }
    let code = cb
        .code
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or(FlowError::Invalid("no authorization code"))?;
    let secret = providers::secret_of(env.kek, p);
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", env.redirect_uri.as_str()),
        ("code_verifier", secrets.verifier.as_str()),
    ];
    let basic = match (&secret, ep.basic_auth) {
        (Some(s), true) => Some((p.client_id.as_str(), s.as_str())),
        (Some(s), false) => {
            form.push(("client_id", p.client_id.as_str()));
            form.push(("client_secret", s.as_str()));
            None
        }
        (None, _) => {
            form.push(("client_id", p.client_id.as_str()));
            None
        }
    };
    let answer = env
        .outbound
        .post_form_as(&ep.token, &form, basic, Limits::UPSTREAM)
        .await
        .map_err(|e| match e {
            FetchError::Status(_) => FlowError::Invalid("the code was not accepted"),
            other => other.into(),
        })?;
    let tokens = json(&answer)?;
    // RFC 6749 §5.2, whatever the status (GitHub answers its errors with 200).
    if tokens.get("error").is_some() {
        return Err(FlowError::Invalid("the code was not accepted"));
    }
    let claims = if p.kind == KIND_OIDC {
        oidc_identity(env, p, &ep, &tokens, secrets, now).await?
    } else {
        let token = tokens["access_token"]
            .as_str()
            .ok_or(FlowError::Invalid("no access token"))?;
        oauth2::identity(env.outbound, p, token).await?
    };
    let subject = match claims.get("sub") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if subject.is_empty() || subject.len() > 255 {
        return Err(FlowError::Invalid("no subject"));
    }
    let mut methods = vec![Method::Fed];
    if p.trusted_acr {
        let upstream = claims.get("amr").and_then(Value::as_array);
        methods.extend(
            upstream
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter_map(Method::parse),
        );
    }
    Ok(Identity {
        subject,
        claims,
        methods,
    })
}

/// An OpenID Connect upstream's claims: its id_token checked, completed by userinfo's.
async fn oidc_identity(
    env: &Env<'_>,
    p: &ProviderRow,
    ep: &Endpoints,
    tokens: &Value,
    secrets: &Secrets,
    now: i64,
) -> Result<Map<String, Value>, FlowError> {
    let id_token = tokens["id_token"]
        .as_str()
        .ok_or(FlowError::Invalid("no id_token"))?;
    let mut claims = verify_id_token(env, p, ep, id_token, &secrets.nonce, now).await?;
    if let (Some(url), Some(token)) = (&ep.userinfo, tokens["access_token"].as_str()) {
        let info = env
            .outbound
            .get_bearer(url, "application/json", token, Limits::UPSTREAM)
            .await?;
        let info = json(&info)?;
        // OIDC Core §5.3.4: userinfo's sub must be the id_token's.
        if info.get("sub") != claims.get("sub") {
            return Err(FlowError::Invalid("userinfo names another subject"));
        }
        if let Value::Object(mut more) = info {
            // An address and its verified flag come as a pair from one document: a flag from
            // userinfo speaks of userinfo's address, never of the id_token's.
            if claims.contains_key("email") || claims.contains_key("email_verified") {
                more.remove("email");
                more.remove("email_verified");
            }
            for (k, v) in more {
                claims.entry(k).or_insert(v);
            }
        }
    }
    Ok(claims)
}

async fn verify_id_token(
    env: &Env<'_>,
    p: &ProviderRow,
    ep: &Endpoints,
    id_token: &str,
    nonce: &str,
    now: i64,
) -> Result<Map<String, Value>, FlowError> {
    let header =
        jsonwebtoken::decode_header(id_token).map_err(|_| FlowError::Invalid("not a JWT"))?;
    if !jwt::ASYMMETRIC.contains(&header.alg) {
        return Err(FlowError::Invalid("an id_token algorithm we do not accept"));
    }
    let url = ep
        .jwks
        .as_deref()
        .ok_or(FlowError::Invalid("no jwks_uri"))?;
    // The upstream's JWKS (`fetched`: cached, fetched again when stale or when `kid` is not in
    // it, the upstream having rotated); the key for this header's kid and alg, never one for
    // another use or algorithm.
    let set = env
        .cache
        .key_set(env.outbound, url, Limits::UPSTREAM, header.kid.as_deref())
        .await?;
    let jwk = jwt::select_key(&set, header.kid.as_deref(), header.alg).ok_or(
        FlowError::Invalid("the id_token is signed by an unknown key"),
    )?;
    let key =
        DecodingKey::from_jwk(&jwk).map_err(|_| FlowError::Invalid("its key is not usable"))?;
    let issuer = p.issuer.as_deref().unwrap_or_default();
    let audiences = [p.client_id.clone()];
    let profile = Profile {
        issuer,
        audiences: Some(&audiences),
        subject: None,
        expiry: Expiry::Skewed,
    };
    let claims: Map<String, Value> = jwt::decode(id_token, &key, header.alg, &profile, now)
        .map_err(|e| {
            tracing::info!(provider = %p.id, error = %e, "upstream id_token refused");
            FlowError::Invalid("the id_token (signature, iss, aud or exp)")
        })?;
    if claims.get("iat").and_then(Value::as_i64).is_none() {
        return Err(FlowError::Invalid("the id_token has no iat"));
    }
    if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
        return Err(FlowError::Invalid(
            "the id_token is for another sign-in (nonce)",
        ));
    }
    // OIDC Core §3.1.3.7: several audiences need azp, and azp must be us.
    let several = claims
        .get("aud")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() > 1);
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != p.client_id => {
            return Err(FlowError::Invalid(
                "the id_token is for another client (azp)",
            ))
        }
        None if several => return Err(FlowError::Invalid("the id_token has no azp")),
        _ => {}
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_discovery_url_strips_one_trailing_slash_only() {
        for (issuer, url) in [
            (
                "https://sso.example.com",
                "https://sso.example.com/.well-known/openid-configuration",
            ),
            (
                "https://sso.example.com/",
                "https://sso.example.com/.well-known/openid-configuration",
            ),
            (
                "https://x.example/tenant/",
                "https://x.example/tenant/.well-known/openid-configuration",
            ),
            (
                "https://x.example/t//",
                "https://x.example/t//.well-known/openid-configuration",
            ),
        ] {
            assert_eq!(discovery_url(issuer), url);
        }
    }
}
