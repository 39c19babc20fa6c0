// A relying party nobody on the project wrote registers itself and logs a user in: Node
// openid-client (pinned in package-lock.json) does discovery, Dynamic Client Registration
// (RFC 7591) with an initial access token, code + PKCE + state + nonce, the token exchange with
// id_token validation (signature from the JWKS, iss, aud, nonce, exp; RFC 9207 `iss` on the
// authorization response), userinfo and a refresh. Then RFC 7592 with plain fetch: read the
// registration, delete it, and check that the client is gone (registration unreadable, refresh
// refused, access token refused). The browser part (login and consent forms) is played by fetch
// with a small cookie jar, reading the HTML forms generically.
//
// Environment: ISSUER INITIAL_ACCESS_TOKEN REDIRECT_URI USERNAME PASSWORD
//   [REGISTRATION_ENDPOINT: only for a server whose discovery does not advertise one yet; the
//    run then says `registration_endpoint=injected` instead of `advertised`]
//   [TRACE=1: every request openid-client sends, and the response, on stderr]
// Prints "NODE OK ..." and exits 0 on success; any failure prints "NODE FAILED: ..." and exits 1.

import * as client from "openid-client";

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is required`);
  return v;
}

const ISSUER = env("ISSUER");
const INITIAL_ACCESS_TOKEN = env("INITIAL_ACCESS_TOKEN");
const REDIRECT_URI = env("REDIRECT_URI");
const USERNAME = env("USERNAME");
const PASSWORD = env("PASSWORD");
const REGISTRATION_ENDPOINT = process.env.REGISTRATION_ENDPOINT || "";

function check(cond, message) {
  if (!cond) throw new Error(message);
}

// Only loopback: the test server, and the redirect URI's host (which is never contacted).
check(new URL(ISSUER).hostname === "127.0.0.1", `ISSUER must be on 127.0.0.1: ${ISSUER}`);

// --- discovery, with a fallback for a server that does not advertise registration yet --------

let registrationEndpointSource = "advertised";
const discoveryUrl = new URL("/.well-known/openid-configuration", ISSUER).href;

async function libraryFetch(url, options) {
  const res = await fetch(url, options);
  if (process.env.TRACE) {
    const sent = options?.body ? ` ${options.body}` : "";
    console.error(`> ${options?.method ?? "GET"} ${url} ${JSON.stringify(Object.fromEntries(new Headers(options?.headers)))}${sent}`);
    console.error(`< ${res.status} ${JSON.stringify(Object.fromEntries(res.headers))} ${await res.clone().text()}`);
  }
  if (String(url) !== discoveryUrl || res.status !== 200) return res;
  const meta = await res.clone().json();
  if (meta.registration_endpoint || !REGISTRATION_ENDPOINT) return res;
  registrationEndpointSource = "injected";
  const headers = new Headers(res.headers);
  headers.delete("content-length");
  return new Response(JSON.stringify({ ...meta, registration_endpoint: REGISTRATION_ENDPOINT }), {
    status: 200,
    headers,
  });
}

// --- the browser: fetch with a cookie jar, never following redirects ---------------------------

const jar = new Map();

function storeCookies(res) {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(";");
    const eq = pair.indexOf("=");
    if (eq < 1) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const expired = attrs.some((a) => {
      const [k, v] = a.split("=").map((s) => s.trim().toLowerCase());
      return (k === "max-age" && Number(v) <= 0) || (k === "expires" && Date.parse(v) < Date.now());
    });
    if (expired || value === "") jar.delete(name);
    else jar.set(name, value);
  }
}

async function browse(url, { method = "GET", form } = {}) {
  const headers = { accept: "text/html" };
  if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
  let body;
  if (form) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(form).toString();
  }
  const res = await fetch(url, { method, headers, body, redirect: "manual" });
  storeCookies(res);
  return res;
}

// Character references as askama writes them (`&#38;`, `&#x27;`) and the named ones.
function unescapeHtml(s) {
  const named = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
  return s.replace(/&(?:#(\d+)|#[xX]([0-9a-fA-F]+)|([a-zA-Z]+));/g, (whole, dec, hex, name) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    return named[name.toLowerCase()] ?? whole;
  });
}

function attributes(tag) {
  const attrs = {};
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    attrs[m[1].toLowerCase()] = unescapeHtml(m[2] ?? m[3] ?? m[4] ?? "");
  }
  return attrs;
}

// The POST forms of a page: action, hidden and text inputs with their values, named buttons,
// and whether the form asks for a password.
function postForms(html) {
  const forms = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const a = attributes(m[1]);
    if ((a.method || "get").toLowerCase() !== "post") continue;
    const form = { action: a.action ?? "", inputs: {}, buttons: [], password: false };
    for (const t of m[2].matchAll(/<(input|button)\b([^>]*)>/gi)) {
      const ta = attributes(t[2]);
      if (t[1].toLowerCase() === "input" && ta.type === "password") form.password = true;
      if (t[1].toLowerCase() === "button" || ta.type === "submit") {
        if (ta.name) form.buttons.push([ta.name, ta.value ?? ""]);
      } else if (ta.name) {
        form.inputs[ta.name] = ta.value ?? "";
      }
    }
    forms.push(form);
  }
  return forms;
}

// Plays the user from the authorization URL to the redirect back to the client: login form,
// consent form (allow). Returns the callback URL the browser was sent to.
async function playBrowser(authorizationUrl) {
  let url = authorizationUrl.href;
  let res = await browse(url);
  const seen = [];
  for (let step = 0; step < 8; step++) {
    seen.push(`${res.status} ${url}`);
    if ([301, 302, 303, 307, 308].includes(res.status)) {
      const target = new URL(res.headers.get("location"), url).href;
      if (target.startsWith(REDIRECT_URI)) return new URL(target);
      url = target;
      check(new URL(url).origin === new URL(ISSUER).origin, `redirected off the server: ${url}`);
      res = await browse(url);
      continue;
    }
    const html = await res.text();
    check(res.status === 200, `unexpected ${res.status} at ${url}: ${html.slice(0, 300)}`);
    const forms = postForms(html);
    check(forms.length > 0, `no form at ${url}: ${html.slice(0, 300)}`);
    const form = forms[0];
    const data = { ...form.inputs };
    check("csrf_token" in data, `the form at ${url} has no csrf_token`);
    if (form.password) {
      data.username = USERNAME;
      data.password = PASSWORD;
    } else {
      const allow = form.buttons.find(([, v]) => ["allow", "accept", "authorize"].includes(v));
      check(allow, `no allow button in the form at ${url}: ${JSON.stringify(form)}`);
      data[allow[0]] = allow[1];
    }
    url = new URL(form.action || url, url).href;
    res = await browse(url, { method: "POST", form: data });
  }
  throw new Error(`the flow did not come back to the client: ${seen.join(" -> ")}`);
}

// --- RFC 7592 with plain fetch -------------------------------------------------------------------

async function management(method, uri, token) {
  const res = await fetch(uri, {
    method,
    headers: { authorization: `Bearer ${token}`, accept: "application/json" },
  });
  const text = await res.text();
  return { status: res.status, text, headers: res.headers };
}

// What a refused request said, from either error openid-client raises for it: a
// ResponseBodyError (the JSON error body) or a WWWAuthenticateChallengeError (a 401 with a
// challenge, which the library reports before the body; the body is still unread).
async function refusal(e) {
  const out = { status: e?.status, error: e?.error, challenge: "" };
  if (e?.code === "OAUTH_WWW_AUTHENTICATE_CHALLENGE") {
    out.challenge = (e.cause ?? [])
      .map((c) => `${c.scheme}${c.parameters?.error ? ` error=${c.parameters.error}` : ""}`)
      .join(",");
    try {
      out.error ??= (await e.response.json()).error;
    } catch {
      // no JSON body (a Bearer challenge carries its error in the header)
    }
    out.error ??= e.cause?.[0]?.parameters?.error;
  }
  return out;
}

async function main() {
  // openid-client takes the registration endpoint only from discovery; say so plainly when it is
  // not there (the library's own error would be a generic one).
  const advertised = await (await fetch(discoveryUrl)).json();
  check(
    advertised.registration_endpoint || REGISTRATION_ENDPOINT,
    `discovery (${discoveryUrl}) does not advertise registration_endpoint, so ` +
      "dynamicClientRegistration() cannot find where to register",
  );
  if (advertised.registration_endpoint) {
    check(
      advertised.registration_endpoint === new URL("/register", ISSUER).href,
      `registration_endpoint ${advertised.registration_endpoint}`,
    );
  }
  const options = {
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
    [client.customFetch]: libraryFetch,
  };
  const metadata = {
    client_name: "openid-client (Node) self-registered",
    redirect_uris: [REDIRECT_URI],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
    scope: "openid profile email",
    id_token_signed_response_alg: "RS256",
    application_type: "web",
  };
  // openid-client authenticates a registered client with client_secret_post unless told
  // otherwise, whatever token_endpoint_auth_method was registered; this sends what was
  // registered (Basic), taking the secret from the registration response.
  const basicAuth = (as, c, body, headers) =>
    client.ClientSecretBasic(c.client_secret)(as, c, body, headers);

  const config = await client.dynamicClientRegistration(new URL(ISSUER), metadata, basicAuth, {
    ...options,
    initialAccessToken: INITIAL_ACCESS_TOKEN,
  });
  const registered = config.clientMetadata();
  const server = config.serverMetadata();
  check(server.issuer === ISSUER, `discovery issuer ${server.issuer} is not ${ISSUER}`);
  check(typeof registered.client_id === "string" && registered.client_id, "no client_id");
  check(typeof registered.client_secret === "string" && registered.client_secret.length >= 32, "no client_secret for a confidential client");
  check(registered.client_secret_expires_at === 0, `client_secret_expires_at ${registered.client_secret_expires_at}`);
  check(Number.isInteger(registered.client_id_issued_at), "no client_id_issued_at");
  check(typeof registered.registration_access_token === "string" && registered.registration_access_token, "no registration_access_token");
  check(typeof registered.registration_client_uri === "string", "no registration_client_uri");
  check(new URL(registered.registration_client_uri).origin === new URL(ISSUER).origin, `registration_client_uri ${registered.registration_client_uri} is off the server`);
  check(JSON.stringify(registered.redirect_uris) === JSON.stringify([REDIRECT_URI]), `redirect_uris ${JSON.stringify(registered.redirect_uris)}`);
  check(registered.token_endpoint_auth_method === "client_secret_basic", `token_endpoint_auth_method ${registered.token_endpoint_auth_method}`);
  check(registered.client_name === metadata.client_name, `client_name ${registered.client_name}`);

  // The single-use initial access token is used up: a second registration is refused.
  let second = null;
  try {
    await client.dynamicClientRegistration(new URL(ISSUER), metadata, undefined, {
      ...options,
      initialAccessToken: INITIAL_ACCESS_TOKEN,
    });
  } catch (e) {
    second = e;
  }
  check(second, "a second registration with a single-use initial access token succeeded");
  const secondRefusal = await refusal(second);
  check(
    secondRefusal.status === 401 && secondRefusal.error === "invalid_token",
    `second registration with a used-up initial access token: ${second} ${JSON.stringify(secondRefusal)}`,
  );

  // Code + PKCE + state + nonce.
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: "openid profile email",
    code_challenge: codeChallenge,
    code_challenge_method: "S256",
    state,
    nonce,
  });
  const callback = await playBrowser(authorizationUrl);
  check(callback.searchParams.get("iss") === ISSUER, `authorization response iss: ${callback}`);

  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  check(tokens.token_type?.toLowerCase() === "bearer", `token_type ${tokens.token_type}`);
  const claims = tokens.claims();
  check(claims && claims.sub, "no id_token claims");
  check(claims.aud === registered.client_id || (Array.isArray(claims.aud) && claims.aud.includes(registered.client_id)), `aud ${claims.aud}`);
  check(typeof tokens.refresh_token === "string", "no refresh_token");

  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  check(info.email && info.email === claims.email, `userinfo ${JSON.stringify(info)} vs id_token ${JSON.stringify(claims)}`);

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  check(refreshed.access_token && refreshed.access_token !== tokens.access_token, "refresh gave no new access token");
  check(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, "refresh did not rotate the refresh token");

  // RFC 7592: read the registration.
  const uri = registered.registration_client_uri;
  const rat = registered.registration_access_token;
  const read = await management("GET", uri, rat);
  check(read.status === 200, `GET ${uri}: ${read.status} ${read.text}`);
  const readBody = JSON.parse(read.text);
  check(readBody.client_id === registered.client_id, `GET ${uri} client_id ${readBody.client_id}`);
  check(JSON.stringify(readBody.redirect_uris) === JSON.stringify([REDIRECT_URI]), `GET ${uri} redirect_uris ${read.text}`);
  // RFC 7592 §3: the read carries a new registration access token; the old one ended.
  check(typeof readBody.registration_access_token === "string" && readBody.registration_access_token !== rat, `GET ${uri}: no new registration_access_token`);
  const stale = await management("GET", uri, rat);
  check(stale.status === 401, `GET ${uri} with the replaced token: ${stale.status} ${stale.text}`);
  const wrong = await management("GET", uri, "not-the-token");
  check(wrong.status === 401, `GET ${uri} with a wrong token: ${wrong.status} ${wrong.text}`);
  check(/invalid_token/.test(wrong.headers.get("www-authenticate") ?? ""), `GET with a wrong token: WWW-Authenticate ${wrong.headers.get("www-authenticate")}`);

  // RFC 7592: delete it; then it is gone for every purpose.
  const del = await management("DELETE", uri, readBody.registration_access_token);
  check(del.status === 204, `DELETE ${uri}: ${del.status} ${del.text}`);
  const after = await management("GET", uri, readBody.registration_access_token);
  check(after.status === 401, `GET ${uri} after DELETE: ${after.status} ${after.text}`);

  let refused = null;
  try {
    await client.refreshTokenGrant(config, refreshed.refresh_token);
  } catch (e) {
    refused = e;
  }
  check(refused, "a refresh_token grant for a deleted client succeeded");
  const refreshRefusal = await refusal(refused);
  check(
    refreshRefusal.status === 401 && refreshRefusal.error === "invalid_client",
    `refresh after DELETE: ${refused} ${JSON.stringify(refreshRefusal)}`,
  );

  let userinfoRefused = null;
  try {
    await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
  } catch (e) {
    userinfoRefused = e;
  }
  check(userinfoRefused, "userinfo accepted an access token of a deleted client");
  const userinfoRefusal = await refusal(userinfoRefused);
  check(
    userinfoRefusal.status === 401 && userinfoRefusal.error === "invalid_token",
    `userinfo after DELETE: ${userinfoRefused} ${JSON.stringify(userinfoRefusal)}`,
  );

  console.log(
    `NODE OK client_id=${registered.client_id} sub=${claims.sub} email=${info.email} ` +
      `registration_endpoint=${registrationEndpointSource} auth=client_secret_basic ` +
      `after_delete=refresh:${refreshRefusal.status}/${refreshRefusal.error},` +
      `userinfo:${userinfoRefusal.status}/${userinfoRefusal.error},registration:${after.status}`,
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    const detail = [e?.message ?? String(e)];
    if (e?.code) detail.push(`code=${e.code}`);
    if (e?.error) detail.push(`error=${e.error}`);
    if (e?.error_description) detail.push(`error_description=${e.error_description}`);
    if (e?.status) detail.push(`status=${e.status}`);
    if (e?.cause) detail.push(`cause=${JSON.stringify(e.cause)}`);
    console.error(`NODE FAILED: ${detail.join(" ")}`);
    if (e?.stack) console.error(e.stack);
    process.exit(1);
  },
);
