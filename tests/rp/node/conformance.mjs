// The OpenID Foundation conformance suite's OP test modules (plan
// oidcc-basic-certification-test-plan and the config plan), replayed by a relying party nobody on
// the project wrote: Node openid-client (pinned in package-lock.json) does discovery, the code
// flow with its checks (state, nonce, iss, id_token claims, max_age/auth_time), the token and
// refresh grants and userinfo; the person's browser is played by fetch (lib/browser.mjs). Each
// module checks what the suite's module of the same id checks, as far as it applies to a server
// offering the code flow only.
//
// Environment: ISSUER CLIENT_ID CLIENT_SECRET AUTH_METHOD (client_secret_basic|client_secret_post)
//   REDIRECT_URI USERNAME PASSWORD MODULE (a module id, e.g. oidcc-server); for the logout
//   plans (RP-initiated, back-channel, front-channel) POST_LOGOUT_REDIRECT_URI (registered) and
//   FRONTCHANNEL_LOGOUT_URI (registered, session required); DYNAMIC=1 for the Dynamic plan's
//   modules, whose clients openid-client registers itself (the server's registration is open).
// A module that needs time to pass prints "WAIT <what>" and reads one line from standard input
// before it goes on (the test ages the rows instead of sleeping); "WAIT backchannel-logout"
// is answered with the body the client's back-channel logout URI received.
// Prints "PASS <module> <details>" or "SKIP <module>: <why>" and exits 0; any failure prints
// "FAIL <module>: ..." and exits 1.

import * as crypto from "node:crypto";
import * as readline from "node:readline";
import * as client from "openid-client";
import { Browser, check, postForms, unescapeHtml } from "./lib/browser.mjs";

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is required`);
  return v;
}

const ISSUER = env("ISSUER");
const CLIENT_ID = env("CLIENT_ID");
const CLIENT_SECRET = env("CLIENT_SECRET");
const AUTH_METHOD = env("AUTH_METHOD");
const REDIRECT_URI = env("REDIRECT_URI");
const USER = { username: env("USERNAME"), password: env("PASSWORD") };
const MODULE = env("MODULE");
// The Form Post plan runs the Basic modules with response_mode=form_post.
const RESPONSE_MODE = process.env.RESPONSE_MODE || "";

// Only loopback: the test server, and the redirect URI's host (which is never contacted).
check(new URL(ISSUER).hostname === "127.0.0.1", `ISSUER must be on 127.0.0.1: ${ISSUER}`);
check(new URL(REDIRECT_URI).hostname === "127.0.0.1", `REDIRECT_URI must be on 127.0.0.1`);

const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));

/// Asks the test to make `what` happen (time passing, a delivery) and waits until it has; the
/// test's answer.
async function wait(what) {
  console.log(`WAIT ${what}`);
  return nextLine();
}

async function configuration() {
  const auth =
    AUTH_METHOD === "client_secret_post"
      ? client.ClientSecretPost(CLIENT_SECRET)
      : client.ClientSecretBasic(CLIENT_SECRET);
  return client.discovery(new URL(ISSUER), CLIENT_ID, undefined, auth, {
    execute: [client.allowInsecureRequests],
  });
}

/// A login in `browser` with `params`; the callback and the checks to redeem it with.
async function authorize(config, browser, params = {}, { expectPages, reorder } = {}) {
  const state = client.randomState();
  const nonce = params.nonce === null ? undefined : client.randomNonce();
  const query = { redirect_uri: REDIRECT_URI, scope: "openid", state, ...modeParam(), ...params };
  if (nonce) query.nonce = nonce;
  else delete query.nonce;
  const url = client.buildAuthorizationUrl(config, query);
  if (reorder) {
    // The query's parameters in the reverse order (oidcc-alternate-happy-flow).
    url.search = new URLSearchParams([...url.searchParams].reverse()).toString();
  }
  const { callback, pages, formPost } = await browser.play(url.href, REDIRECT_URI, USER);
  check(Boolean(formPost) === (RESPONSE_MODE === "form_post"), `answered by ${formPost ? "form post" : "redirect"} for response_mode ${RESPONSE_MODE || "(default)"}`);
  if (formPost) {
    check(/<script nonce="[^"]+">/.test(formPost.html), "the form-post page has no nonce script");
  }
  if (expectPages) {
    check(
      JSON.stringify(pages.filter((p) => p === "login")) === JSON.stringify(expectPages.filter((p) => p === "login")),
      `pages shown: ${pages} (expected ${expectPages})`,
    );
  }
  check(callback.searchParams.get("iss") === ISSUER, `authorization response iss: ${callback}`);
  check(callback.searchParams.get("state") === state, `state not returned: ${callback}`);
  return { callback, state, nonce, pages, formPost };
}

function modeParam() {
  return RESPONSE_MODE ? { response_mode: RESPONSE_MODE } : {};
}

/// The callback as openid-client takes it: the URL, or for a form post the POST the browser
/// would send (a fresh Request each time: a body reads once).
function callbackOf(got) {
  if (!got.formPost) return got.callback;
  return new Request(got.formPost.action, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(got.formPost.fields).toString(),
  });
}

async function redeem(config, got, extra = {}) {
  return client.authorizationCodeGrant(config, callbackOf(got), {
    expectedState: got.state,
    expectedNonce: got.nonce,
    idTokenExpected: true,
    ...extra,
  });
}

/// Signature of a compact JWS against the server's JWKS, by `kid` (what oidcc-idtoken-signature
/// checks; openid-client trusts TLS for the token response and does not).
async function verifySignature(config, jwt) {
  const [h, p, s] = jwt.split(".");
  const header = JSON.parse(Buffer.from(h, "base64url"));
  check(header.kid, `no kid in ${JSON.stringify(header)}`);
  const jwks = await (await fetch(config.serverMetadata().jwks_uri)).json();
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  check(jwk, `kid ${header.kid} is not in the JWKS`);
  check(!jwk.alg || jwk.alg === header.alg, `alg ${header.alg} vs the key's ${jwk.alg}`);
  const key = crypto.createPublicKey({ key: jwk, format: "jwk" });
  const data = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, "base64url");
  const ok =
    header.alg === "RS256"
      ? crypto.verify("sha256", data, key, sig)
      : header.alg === "ES256"
        ? crypto.verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, sig)
        : header.alg === "EdDSA"
          ? crypto.verify(null, data, key, sig)
          : false;
  check(ok, `the ${header.alg} signature of the JWT does not verify`);
  return header;
}

async function userinfoBy(how, config, accessToken) {
  const endpoint = config.serverMetadata().userinfo_endpoint;
  const res =
    how === "get"
      ? await fetch(endpoint, { headers: { authorization: `Bearer ${accessToken}` } })
      : how === "post-header"
        ? await fetch(endpoint, { method: "POST", headers: { authorization: `Bearer ${accessToken}` } })
        : await fetch(endpoint, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({ access_token: accessToken }).toString(),
          });
  check(res.status === 200, `userinfo (${how}): ${res.status} ${await res.clone().text()}`);
  check(/application\/json/.test(res.headers.get("content-type") ?? ""), `userinfo content-type ${res.headers.get("content-type")}`);
  return res.json();
}

async function flow(config, params = {}) {
  const got = await authorize(config, new Browser(ISSUER), params);
  const tokens = await redeem(config, got);
  return { got, tokens, claims: tokens.claims() };
}

/// What a refused grant said (a ResponseBodyError from openid-client).
async function refused(promise) {
  try {
    await promise;
  } catch (e) {
    return { status: e?.status, error: e?.error ?? e?.code, message: e?.message };
  }
  throw new Error("the request was not refused");
}

// The claims the suite expects for each scope (OIDC Core §5.4); the test user has all of them.
const SCOPE_CLAIMS = {
  profile: ["name", "family_name", "given_name", "middle_name", "nickname", "preferred_username", "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"],
  email: ["email", "email_verified"],
  address: ["address"],
  phone: ["phone_number", "phone_number_verified"],
};

async function scopeModule(scopes) {
  const config = await configuration();
  const { tokens, claims } = await flow(config, { scope: `openid ${scopes.join(" ")}` });
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const missing = scopes.flatMap((s) => SCOPE_CLAIMS[s]).filter((c) => info[c] === undefined);
  check(missing.length === 0, `userinfo lacks ${missing} for scope ${scopes}: ${JSON.stringify(info)}`);
  return `claims=${Object.keys(info).length}`;
}

/// An authorization request with prompt=none in `browser` must come back to the client with
/// an error saying a user interface is needed (OIDC Core §3.1.2.6): nobody is signed in there.
async function promptNoneNeedsInteraction(config, browser) {
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT_URI, scope: "openid", state, prompt: "none", ...modeParam() });
  const res = await browser.browse(url.href);
  const to = await Browser.clientResponse(res, REDIRECT_URI);
  check(to, `no answer to the client: status ${res.status}`);
  const error = to.searchParams.get("error");
  check(["login_required", "interaction_required", "consent_required", "account_selection_required"].includes(error), `error=${error}`);
  check(!to.searchParams.get("code"), "a code with prompt=none");
  check(to.searchParams.get("state") === state, "state not returned");
  check(to.searchParams.get("iss") === ISSUER, "iss not returned with the error");
  return error;
}

// --- the logout plans (RP-Initiated, Back-Channel and Front-Channel Logout 1.0) ---------------

const POST_LOGOUT_REDIRECT_URI = process.env.POST_LOGOUT_REDIRECT_URI || "";
const FRONTCHANNEL_LOGOUT_URI = process.env.FRONTCHANNEL_LOGOUT_URI || "";

/// A signed-in browser and the tokens of its login (what every logout module starts from).
async function signedIn(config) {
  const browser = new Browser(ISSUER);
  const tokens = await redeem(config, await authorize(config, browser));
  return { browser, tokens, claims: tokens.claims() };
}

/// The suite uses a 128-character state at the end-session endpoint, to see it is not cut.
const longState = () => crypto.randomBytes(96).toString("base64url");

/// The browser sent to the end-session endpoint with `params` (openid-client builds the URL).
async function endSession(config, browser, params) {
  check(config.serverMetadata().end_session_endpoint, "no end_session_endpoint");
  const url = client.buildEndSessionUrl(config, params);
  return { res: await browser.browse(url.href), url: url.href };
}

const isRedirect = (res) => [301, 302, 303, 307, 308].includes(res.status);

/// OIDC RP-Initiated Logout §2/§3: a request that cannot be trusted (bad hint, unregistered URI,
/// no hint) must not be sent back: an error page, or a page asking the user (the suite wants a
/// screenshot of either). Returns which.
async function refusedOrAsked(res) {
  const where = res.headers.get("location");
  check(!isRedirect(res), `redirected: ${where}`);
  const html = await res.text();
  if (res.status === 400) return "error page";
  check(res.status === 200, `status ${res.status}`);
  const confirm = postForms(html).find((f) => f.buttons.some(([n, v]) => n === "confirm" && v === "yes"));
  check(confirm, `neither an error nor a confirmation: ${html.replace(/\s+/g, " ").slice(0, 300)}`);
  return "confirmation asked";
}

/// The signed-out page, after confirming if the server asks: must not go to the client (no
/// post_logout_redirect_uri was given), and the browser is signed out (prompt=none needs a login).
async function signedOut(config, browser, { res, url }) {
  check(!isRedirect(res), `redirected: ${res.headers.get("location")}`);
  check(res.status === 200, `status ${res.status}`);
  let html = await res.text();
  const confirm = postForms(html).find((f) => f.buttons.some(([n, v]) => n === "confirm" && v === "yes"));
  let how = "signed out at once";
  if (confirm) {
    const after = await browser.browse(new URL(confirm.action || url, url).href, { method: "POST", form: { ...confirm.inputs, confirm: "yes" } });
    check(!isRedirect(after), `redirected after confirming: ${after.headers.get("location")}`);
    check(after.status === 200, `status ${after.status} after confirming`);
    html = await after.text();
    how = "signed out after confirming";
  }
  check(/signed out/i.test(html), `no signed-out page: ${html.replace(/\s+/g, " ").slice(0, 300)}`);
  await promptNoneNeedsInteraction(config, browser);
  return how;
}

/// The browser arrives at the registered post_logout_redirect_uri with `state` (or none) and no
/// other parameter (CheckPostLogoutState, CheckForUnexpectedParametersInPostLogoutRedirect).
function backAtClient(to, state) {
  check(to, "not sent back to the client");
  const at = new URL(to);
  check(`${at.origin}${at.pathname}` === POST_LOGOUT_REDIRECT_URI, `sent to ${to}`);
  const params = [...at.searchParams.keys()];
  if (state === undefined) {
    check(params.length === 0, `parameters without a state: ${at.search}`);
  } else {
    check(at.searchParams.get("state") === state, `state ${at.searchParams.get("state")} for ${state}`);
    check(params.length === 1, `unexpected parameters: ${at.search}`);
  }
}

/// rp-initiated-logout (and no-state): id_token_hint + registered URI (+ state) → sent back at
/// once with that state, and signed out.
async function rpInitiatedLogout(withState) {
  const config = await configuration();
  const { browser, tokens } = await signedIn(config);
  const state = withState ? longState() : undefined;
  const params = { id_token_hint: tokens.id_token, post_logout_redirect_uri: POST_LOGOUT_REDIRECT_URI };
  if (state) params.state = state;
  const { res } = await endSession(config, browser, params);
  check(isRedirect(res), `status ${res.status}: not sent back`);
  backAtClient(res.headers.get("location"), state);
  const error = await promptNoneNeedsInteraction(config, browser);
  return `back with ${state ? "state" : "no state"}; then ${error}`;
}

/// A module whose end-session request must be refused or confirmed, never sent back; `params`
/// from the id_token of the login.
async function notSentBack(build) {
  const config = await configuration();
  const { browser, tokens, claims } = await signedIn(config);
  const { res } = await endSession(config, browser, build(tokens, claims));
  return refusedOrAsked(res);
}

/// An id_token "issued" by the client (iss and aud the wrong way round), HS256 with its secret:
/// what the suite's bad-id-token-hint module sends.
function clientMadeIdToken() {
  const now = Math.floor(Date.now() / 1000);
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const body = `${enc({ alg: "HS256", typ: "JWT" })}.${enc({ iss: CLIENT_ID, sub: "SubjectID", aud: ISSUER, nonce: "flibble", iat: now, exp: now + 300 })}`;
  const sig = crypto.createHmac("sha256", CLIENT_SECRET).update(body).digest("base64url");
  return `${body}.${sig}`;
}

async function discoveryDocument() {
  const res = await fetch(new URL("/.well-known/openid-configuration", ISSUER));
  check(res.status === 200, `discovery: ${res.status}`);
  check(/application\/json/.test(res.headers.get("content-type") ?? ""), `discovery content-type ${res.headers.get("content-type")}`);
  return res.json();
}

/// What the logout plans' discovery modules check: end_session_endpoint, every *_endpoint on
/// https (here: the loopback test server's own origin, http), and the plan's flags.
async function logoutDiscovery(flags) {
  const doc = await discoveryDocument();
  const origin = new URL(ISSUER).origin;
  for (const [k, v] of Object.entries(doc)) {
    if (k.endsWith("_endpoint")) check(typeof v === "string" && new URL(v).origin === origin, `${k} ${v}`);
  }
  check(doc.end_session_endpoint === `${ISSUER}/logout`, `end_session_endpoint ${doc.end_session_endpoint}`);
  for (const f of flags) check(doc[f] === true, `${f} is ${doc[f]}`);
  return `end_session_endpoint ${flags.join(" ")}`;
}

/// ValidateLogoutTokenClaims and the checks around it (Back-Channel Logout 1.0 §2.4–2.6):
/// signature by the server's JWKS, explicitly typed, iss, aud, iat, jti, events with exactly the
/// back-channel member and an empty object, sub and sid as the id_token had them, no nonce.
async function checkLogoutToken(config, body, idClaims) {
  const form = new URLSearchParams(body);
  check([...form.keys()].join() === "logout_token", `back-channel request parameters: ${[...form.keys()]}`);
  const jwt = form.get("logout_token");
  const header = await verifySignature(config, jwt);
  check(header.typ === "logout+jwt", `typ ${header.typ}`);
  const claims = JSON.parse(Buffer.from(jwt.split(".")[1], "base64url"));
  const now = Math.floor(Date.now() / 1000);
  check(claims.iss === ISSUER, `iss ${claims.iss}`);
  check(claims.aud === CLIENT_ID || (Array.isArray(claims.aud) && claims.aud.includes(CLIENT_ID)), `aud ${claims.aud}`);
  check(Number.isInteger(claims.iat) && claims.iat <= now + 300 && claims.iat > now - 86400, `iat ${claims.iat}`);
  check(typeof claims.jti === "string" && claims.jti.length > 0, `jti ${claims.jti}`);
  if (claims.exp !== undefined) check(claims.exp > claims.iat, `exp ${claims.exp}`);
  const events = claims.events;
  check(events && typeof events === "object" && !Array.isArray(events), `events ${JSON.stringify(events)}`);
  check(Object.keys(events).length === 1, `events has ${Object.keys(events)}`);
  const member = events["http://schemas.openid.net/event/backchannel-logout"];
  check(member && typeof member === "object" && Object.keys(member).length === 0, `events ${JSON.stringify(events)}`);
  check(claims.nonce === undefined, "a nonce in the logout token");
  check(claims.sub !== undefined || claims.sid !== undefined, "neither sub nor sid");
  if (claims.sub !== undefined) check(claims.sub === idClaims.sub, `sub ${claims.sub} vs ${idClaims.sub}`);
  check(claims.sid !== undefined && claims.sid === idClaims.sid, `sid ${claims.sid} vs the id_token's ${idClaims.sid}`);
  return claims;
}

/// The front-channel frames of the signed-out page, as the browser would load them.
function framesOf(html) {
  return [...html.matchAll(/<iframe\b[^>]*\bsrc="([^"]*)"/gi)].map((m) => unescapeHtml(m[1]));
}

const logoutModules = {
  "oidcc-rp-initiated-logout-discovery-endpoint-verification": () => logoutDiscovery([]),
  "oidcc-rp-initiated-logout": () => rpInitiatedLogout(true),
  "oidcc-rp-initiated-logout-no-state": () => rpInitiatedLogout(false),
  "oidcc-rp-initiated-logout-bad-post-logout-redirect-uri": () =>
    notSentBack((t) => ({ id_token_hint: t.id_token, post_logout_redirect_uri: new URL("/bad_post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI).href, state: longState() })),
  "oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri": () =>
    notSentBack((t) => ({ id_token_hint: t.id_token, post_logout_redirect_uri: `${POST_LOGOUT_REDIRECT_URI}?foo=bar`, state: longState() })),
  "oidcc-rp-initiated-logout-modified-id-token-hint": () =>
    notSentBack((t) => {
      const none = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");
      return { id_token_hint: `${none}.${t.id_token.split(".")[1]}.`, post_logout_redirect_uri: POST_LOGOUT_REDIRECT_URI, state: longState() };
    }),
  "oidcc-rp-initiated-logout-bad-id-token-hint": () =>
    notSentBack(() => ({ id_token_hint: clientMadeIdToken(), post_logout_redirect_uri: POST_LOGOUT_REDIRECT_URI, state: longState() })),
  "oidcc-rp-initiated-logout-no-id-token-hint": () =>
    notSentBack(() => ({ post_logout_redirect_uri: POST_LOGOUT_REDIRECT_URI, state: longState() })),

  async "oidcc-rp-initiated-logout-no-params"() {
    const config = await configuration();
    const { browser } = await signedIn(config);
    return signedOut(config, browser, await endSession(config, browser, {}));
  },

  async "oidcc-rp-initiated-logout-no-post-logout-redirect-uri"() {
    const config = await configuration();
    const { browser, tokens } = await signedIn(config);
    return signedOut(config, browser, await endSession(config, browser, { id_token_hint: tokens.id_token, state: longState() }));
  },

  async "oidcc-rp-initiated-logout-only-state"() {
    const config = await configuration();
    const { browser } = await signedIn(config);
    return signedOut(config, browser, await endSession(config, browser, { state: longState() }));
  },

  "oidcc-backchannel-logout-discovery-endpoint-verification": () =>
    logoutDiscovery(["backchannel_logout_supported", "backchannel_logout_session_supported"]),

  async "oidcc-backchannel-rp-initiated-logout"() {
    const config = await configuration();
    const { browser, tokens, claims } = await signedIn(config);
    check(claims.sid, "no sid in the id_token (back-channel logout session support)");
    const state = longState();
    const { res } = await endSession(config, browser, { id_token_hint: tokens.id_token, post_logout_redirect_uri: POST_LOGOUT_REDIRECT_URI, state });
    check(isRedirect(res), `status ${res.status}: not sent back`);
    backAtClient(res.headers.get("location"), state);
    const logout = await checkLogoutToken(config, await wait("backchannel-logout"), claims);
    const error = await promptNoneNeedsInteraction(config, browser);
    return `logout token jti=${logout.jti}; back with state; then ${error}`;
  },

  "oidcc-frontchannel-logout-discovery-endpoint-verification": () =>
    logoutDiscovery(["frontchannel_logout_supported", "frontchannel_logout_session_supported"]),

  async "oidcc-frontchannel-rp-initiated-logout"() {
    const config = await configuration();
    const { browser, tokens, claims } = await signedIn(config);
    check(claims.sid, "no sid in the id_token (front-channel logout session support)");
    const state = longState();
    const { res } = await endSession(config, browser, { id_token_hint: tokens.id_token, post_logout_redirect_uri: POST_LOGOUT_REDIRECT_URI, state });
    check(res.status === 200, `status ${res.status}: the frames' page expected`);
    const html = await res.text();
    const frames = framesOf(html).filter((f) => f.startsWith(FRONTCHANNEL_LOGOUT_URI));
    check(frames.length === 1, `frames ${framesOf(html)}`);
    const frame = new URL(frames[0]);
    check(`${frame.origin}${frame.pathname}` === FRONTCHANNEL_LOGOUT_URI, `frame ${frame}`);
    check([...frame.searchParams.keys()].sort().join() === "iss,sid", `frame parameters ${frame.search}`);
    check(frame.searchParams.get("iss") === ISSUER, `frame iss ${frame.searchParams.get("iss")}`);
    check(frame.searchParams.get("sid") === claims.sid, `frame sid ${frame.searchParams.get("sid")} vs ${claims.sid}`);
    const loaded = await fetch(frame.href);
    check(loaded.ok, `the frame answered ${loaded.status}`);
    const onward = html.match(/<a\b[^>]*\bid="continue"[^>]*\bhref="([^"]*)"/i) ?? html.match(/<a\b[^>]*\bhref="([^"]*)"[^>]*\bid="continue"/i);
    check(onward, "no way on to the post_logout_redirect_uri");
    backAtClient(unescapeHtml(onward[1]), state);
    const error = await promptNoneNeedsInteraction(config, browser);
    return `frame iss+sid; back with state; then ${error}`;
  },
};

// --- the Dynamic plan (oidcc-dynamic-certification-test-plan): clients registered by openid-client
// (OIDC Dynamic Client Registration 1.0) with private_key_jwt, as the plan's variant has them ---

/// An RS256 key pair with a kid: the CryptoKey openid-client signs with, and the public JWK.
async function clientKey() {
  const pair = await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  );
  const kid = crypto.randomBytes(8).toString("hex");
  const jwk = { ...(await crypto.subtle.exportKey("jwk", pair.publicKey)), kid, alg: "RS256", use: "sig" };
  delete jwk.key_ops;
  delete jwk.ext;
  return { key: pair.privateKey, kid, jwk };
}

/// The client's jwks_uri on loopback: serves `key`'s public JWK (another one after `serve`) and
/// counts the reads.
async function jwksServer(key) {
  const http = await import("node:http");
  let current = key;
  let fetched = 0;
  const server = http.createServer((req, res) => {
    fetched += 1;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: [current.jwk] }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    uri: `http://127.0.0.1:${server.address().port}/client1_jwks`,
    fetched: () => fetched,
    serve: (k) => {
      current = k;
    },
    close: () => server.close(),
  };
}

/// Registers a client at the registration endpoint (openid-client's dynamicClientRegistration):
/// the code grant with refresh tokens, private_key_jwt with `key`'s public JWK unless `metadata`
/// says otherwise (a jwks_uri); the configuration openid-client made of the answer.
async function registered(key, metadata = {}, authOptions = {}) {
  const body = {
    client_name: "Conformance dynamic client",
    redirect_uris: [REDIRECT_URI],
    response_types: ["code"],
    grant_types: ["authorization_code", "refresh_token"],
    token_endpoint_auth_method: "private_key_jwt",
    scope: "openid profile email",
    ...(metadata.jwks_uri ? {} : { jwks: { keys: [key.jwk] } }),
    ...metadata,
  };
  return client.dynamicClientRegistration(new URL(ISSUER), body, client.PrivateKeyJwt({ key: key.key, kid: key.kid }, authOptions), {
    execute: [client.allowInsecureRequests],
  });
}

/// The registration endpoint's raw answer to `body` (for refusals openid-client would throw on).
async function register(body) {
  const endpoint = (await discoveryDocument()).registration_endpoint;
  check(endpoint, "no registration_endpoint");
  const res = await fetch(endpoint, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.json().catch(() => null) };
}

/// A full flow with a dynamically registered `config` (redirect `redirectUri`), what
/// AbstractOIDCCServerTest does: code, token with the client's assertion, id_token checks.
async function dynamicFlow(config, redirectUri = REDIRECT_URI) {
  const browser = new Browser(ISSUER);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: "openid", state, nonce });
  const { callback } = await browser.play(url.href, redirectUri, USER);
  check(callback.searchParams.get("state") === state, `state: ${callback}`);
  check(callback.searchParams.get("iss") === ISSUER, `iss: ${callback}`);
  if (new URL(redirectUri).search) {
    // openid-client takes the redirect URI to be the callback without its query; the registered
    // one has a query of its own, which the token request must repeat (RFC 6749 §4.1.3).
    config[client.customFetch] = (endpoint, options) => {
      if (String(endpoint) === config.serverMetadata().token_endpoint) {
        const form = new URLSearchParams(options.body);
        form.set("redirect_uri", redirectUri);
        options = { ...options, body: form.toString() };
      }
      return fetch(endpoint, options);
    };
  }
  const tokens = await client.authorizationCodeGrant(config, callback, { expectedState: state, expectedNonce: nonce, idTokenExpected: true });
  return { tokens, claims: tokens.claims(), callback };
}

/// The authorization request (with `params` over the usual ones) must end on an error page of
/// ours: never sent to the client (AuthorizationEndpointRedirectedBackUnexpectedly).
async function errorPage(config, params, drop = []) {
  const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT_URI, scope: "openid", state: client.randomState(), nonce: client.randomNonce(), ...params });
  for (const p of drop) url.searchParams.delete(p);
  const res = await new Browser(ISSUER).browse(url.href);
  check(!isRedirect(res), `redirected: ${res.headers.get("location")}`);
  check(res.status === 400, `status ${res.status}`);
  return "error page";
}

/// The login page a fresh browser gets for `config`'s authorization request.
async function loginPage(config) {
  const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT_URI, scope: "openid", state: client.randomState() });
  const browser = new Browser(ISSUER);
  let res = await browser.browse(url.href);
  for (let i = 0; i < 5 && isRedirect(res); i++) res = await browser.browse(new URL(res.headers.get("location"), url).href);
  check(res.status === 200, `status ${res.status}`);
  const html = await res.text();
  check(postForms(html).some((f) => f.password), "not the login page");
  return html;
}

const links = (html) => [...html.matchAll(/<a\b[^>]*\bhref="([^"]*)"/gi)].map((m) => unescapeHtml(m[1]));

/// The keys of the server's JWKS, checked as the rotate-keys module does: kids, distinct, public.
async function serverKids() {
  const jwks = await (await fetch(new URL("/jwks.json", ISSUER))).json();
  const kids = jwks.keys.map((k) => k.kid);
  check(kids.every(Boolean), "a key without kid");
  check(new Set(kids).size === kids.length, `kids repeat: ${kids}`);
  check(jwks.keys.every((k) => !k.d && !k.p && !k.q), "a private member in the JWKS");
  return kids;
}

const dynamicModules = {
  async "oidcc-server"() {
    const key = await clientKey();
    const config = await registered(key);
    const { claims } = await dynamicFlow(config);
    check(claims.aud === config.clientMetadata().client_id, `aud ${claims.aud}`);
    return `registered ${config.clientMetadata().client_id}, jwks, private_key_jwt`;
  },

  async "oidcc-idtoken-rs256"() {
    const config = await registered(await clientKey(), { id_token_signed_response_alg: "RS256" });
    check(config.clientMetadata().id_token_signed_response_alg === "RS256", "RS256 not registered");
    const { tokens } = await dynamicFlow(config);
    const header = await verifySignature(config, tokens.id_token);
    check(header.alg === "RS256", `alg ${header.alg}`);
    return `alg=${header.alg} kid=${header.kid}`;
  },

  async "oidcc-ensure-redirect-uri-in-authorization-request"() {
    const second = REDIRECT_URI.replace(/\/?$/, "/2");
    const config = await registered(await clientKey(), { redirect_uris: [REDIRECT_URI, second] });
    return errorPage(config, {}, ["redirect_uri"]);
  },

  async "oidcc-redirect-uri-query-OK"() {
    const withQuery = `${REDIRECT_URI}?foo=bar`;
    const config = await registered(await clientKey(), { redirect_uris: [withQuery] });
    const { callback } = await dynamicFlow(config, withQuery);
    check(callback.searchParams.get("foo") === "bar", `the registered query is lost: ${callback}`);
    return "query kept";
  },

  async "oidcc-redirect-uri-query-mismatch"() {
    const config = await registered(await clientKey(), { redirect_uris: [`${REDIRECT_URI}?foo=bar`] });
    return errorPage(config, { redirect_uri: `${REDIRECT_URI}?foo=baz` });
  },

  async "oidcc-redirect-uri-query-added"() {
    const config = await registered(await clientKey());
    return errorPage(config, { redirect_uri: `${REDIRECT_URI}?foo=bar` });
  },

  async "oidcc-redirect-uri-regfrag"() {
    const key = await clientKey();
    const got = await register({ redirect_uris: [`${REDIRECT_URI}#foo`], token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [key.jwk] } });
    check(got.status === 400, `status ${got.status}`);
    check(/application\/json/.test(got.type), `content-type ${got.type}`);
    check(["invalid_redirect_uri", "invalid_client_metadata"].includes(got.body?.error), `error ${got.body?.error}`);
    return `error=${got.body.error}`;
  },

  async "oidcc-registration-logo-uri"() {
    const logo = "https://rp.example/logo.png";
    const config = await registered(await clientKey(), { logo_uri: logo });
    check(config.clientMetadata().logo_uri === logo, "logo_uri not registered");
    const html = await loginPage(config);
    // OIDC Registration §2 says SHOULD display it; a self-registered client's logo is not loaded
    // until an administrator vouches for the client (no third-party image on the login page).
    check(!html.includes(logo), "the logo of an unverified client is shown");
    return { skip: "logo_uri registered; an unverified client's logo is not shown on the login page (web::templates::client_logo)" };
  },

  async "oidcc-registration-policy-uri"() {
    const policy = "https://rp.example/privacy";
    const config = await registered(await clientKey(), { policy_uri: policy });
    check(links(await loginPage(config)).includes(policy), "no link to the policy on the login page");
    return "policy link shown";
  },

  async "oidcc-registration-tos-uri"() {
    const tos = "https://rp.example/terms";
    const config = await registered(await clientKey(), { tos_uri: tos });
    check(links(await loginPage(config)).includes(tos), "no link to the terms on the login page");
    return "terms link shown";
  },

  async "oidcc-registration-jwks-uri"() {
    const key = await clientKey();
    const jwks = await jwksServer(key);
    try {
      const config = await registered(key, { jwks_uri: jwks.uri });
      check(config.clientMetadata().jwks_uri === jwks.uri, "jwks_uri not registered");
      await dynamicFlow(config);
      check(jwks.fetched() > 0, "the jwks_uri was never read");
      return `jwks_uri read ${jwks.fetched()} time(s)`;
    } finally {
      jwks.close();
    }
  },

  async "oidcc-refresh-token-rp-key-rotation"() {
    const key = await clientKey();
    const jwks = await jwksServer(key);
    try {
      const config = await registered(key, { jwks_uri: jwks.uri });
      const { tokens, claims } = await dynamicFlow(config);
      check(tokens.refresh_token, "no refresh token");
      // The client rotates: a new key with a new kid at its jwks_uri, the old one gone.
      const next = await clientKey();
      jwks.serve(next);
      await wait("jwks-refetch-pause");
      const rotated = new client.Configuration(config.serverMetadata(), config.clientMetadata().client_id, config.clientMetadata(), client.PrivateKeyJwt({ key: next.key, kid: next.kid }));
      client.allowInsecureRequests(rotated);
      const refreshed = await client.refreshTokenGrant(rotated, tokens.refresh_token);
      check(refreshed.access_token, "no access token at refresh");
      const again = refreshed.claims();
      if (again) check(again.sub === claims.sub && again.iss === claims.iss, "sub/iss changed at refresh");
      const info = await client.fetchUserInfo(rotated, refreshed.access_token, claims.sub);
      check(info.sub === claims.sub, `userinfo sub ${info.sub}`);
      return `refreshed with kid ${next.kid}`;
    } finally {
      jwks.close();
    }
  },

  async "oidcc-server-rotate-keys"() {
    const before = await serverKids();
    await wait("rotate-keys");
    const after = await serverKids();
    const added = after.filter((k) => !before.includes(k));
    check(added.length > 0, `no new signing key: ${before} -> ${after}`);
    check(before.every((k) => after.includes(k)), `an old key is gone: ${before} -> ${after}`);
    return `${before.length} -> ${after.length} keys`;
  },

  async "oidcc-ensure-client-assertion-with-iss-aud-succeeds"() {
    const config = await registered(await clientKey(), {}, {
      [client.modifyAssertion]: (_header, payload) => {
        payload.aud = ISSUER;
      },
    });
    const { tokens } = await dynamicFlow(config);
    check(tokens.access_token, "no access token");
    return "aud=issuer accepted";
  },
};

const modules = {
  async "oidcc-server"() {
    const config = await configuration();
    const { tokens, claims } = await flow(config);
    check(tokens.token_type.toLowerCase() === "bearer", `token_type ${tokens.token_type}`);
    for (const c of ["iss", "sub", "aud", "exp", "iat", "nonce"]) check(claims[c] !== undefined, `id_token lacks ${c}`);
    check(claims.aud === CLIENT_ID || claims.aud.includes(CLIENT_ID), `aud ${claims.aud}`);
    return `sub=${claims.sub}`;
  },

  async "oidcc-server-client-secret-post"() {
    check(AUTH_METHOD === "client_secret_post", "run with AUTH_METHOD=client_secret_post");
    return modules["oidcc-server"]();
  },

  async "oidcc-response-type-missing"() {
    const config = await configuration();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT_URI, scope: "openid", state, ...modeParam() });
    url.searchParams.delete("response_type");
    const res = await new Browser(ISSUER).browse(url.href);
    // The suite accepts an error page or an error sent to the client.
    const to = await Browser.clientResponse(res.clone(), REDIRECT_URI);
    if (to) {
      const error = to.searchParams.get("error");
      check(["invalid_request", "unsupported_response_type"].includes(error), `error=${error}`);
      check(to.searchParams.get("state") === state, "state not returned with the error");
      return `redirected error=${error}`;
    }
    check(res.status === 400, `status ${res.status}`);
    return "error page";
  },

  async "oidcc-idtoken-signature"() {
    const config = await configuration();
    const { tokens } = await flow(config);
    const header = await verifySignature(config, tokens.id_token);
    return `alg=${header.alg} kid=${header.kid}`;
  },

  async "oidcc-idtoken-unsigned"() {
    const config = await configuration();
    const algs = config.serverMetadata().id_token_signing_alg_values_supported;
    check(!algs.includes("none"), "alg none is advertised: the suite would run the unsigned module");
    return { skip: `id_token_signing_alg_values_supported (${algs}) has no "none", as the suite requires to skip` };
  },

  async "oidcc-userinfo-get"() {
    const config = await configuration();
    const { tokens, claims } = await flow(config, { scope: "openid email" });
    const info = await userinfoBy("get", config, tokens.access_token);
    check(info.sub === claims.sub, `userinfo sub ${info.sub} is not the id_token's ${claims.sub}`);
    return `sub=${info.sub}`;
  },

  async "oidcc-userinfo-post-header"() {
    const config = await configuration();
    const { tokens, claims } = await flow(config, { scope: "openid email" });
    const info = await userinfoBy("post-header", config, tokens.access_token);
    check(info.sub === claims.sub, `userinfo sub ${info.sub}`);
    return `sub=${info.sub}`;
  },

  async "oidcc-userinfo-post-body"() {
    const config = await configuration();
    const { tokens, claims } = await flow(config, { scope: "openid email" });
    const info = await userinfoBy("post-body", config, tokens.access_token);
    check(info.sub === claims.sub, `userinfo sub ${info.sub}`);
    return `sub=${info.sub}`;
  },

  async "oidcc-ensure-request-without-nonce-succeeds-for-code-flow"() {
    const config = await configuration();
    const { claims } = await flow(config, { nonce: null });
    check(claims.nonce === undefined, `nonce ${claims.nonce} in an id_token asked without one`);
    return "no nonce";
  },

  "oidcc-scope-profile": () => scopeModule(["profile"]),
  "oidcc-scope-email": () => scopeModule(["email"]),
  "oidcc-scope-address": () => scopeModule(["address"]),
  "oidcc-scope-phone": () => scopeModule(["phone"]),
  "oidcc-scope-all": () => scopeModule(["profile", "email", "address", "phone"]),

  async "oidcc-ensure-other-scope-order-succeeds"() {
    const config = await configuration();
    const { tokens, claims } = await flow(config, { scope: "email openid" });
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    check(info.email, `no email for scope "email openid": ${JSON.stringify(info)}`);
    return "scope=email openid";
  },

  async "oidcc-alternate-happy-flow"() {
    const config = await configuration();
    const got = await authorize(config, new Browser(ISSUER), { scope: "email openid" }, { reorder: true });
    const tokens = await redeem(config, got);
    const info = await client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub);
    check(info.email && info.email_verified !== undefined, `no email for scope "email openid": ${JSON.stringify(info)}`);
    return "scope and parameters reversed";
  },

  async "oidcc-display-page"() {
    await flow(await configuration(), { display: "page" });
    return "display=page";
  },

  async "oidcc-display-popup"() {
    await flow(await configuration(), { display: "popup" });
    return "display=popup";
  },

  async "oidcc-prompt-login"() {
    const config = await configuration();
    const browser = new Browser(ISSUER);
    const first = await redeem(config, await authorize(config, browser, {}, { expectPages: ["login"] }));
    const again = await authorize(config, browser, { prompt: "login" }, { expectPages: ["login"] });
    const second = await redeem(config, again);
    check(second.claims().auth_time >= first.claims().auth_time, "auth_time went back");
    check(second.claims().sub === first.claims().sub, "another sub");
    return `auth_time=${first.claims().auth_time}->${second.claims().auth_time}`;
  },

  async "oidcc-prompt-none-not-logged-in"() {
    const error = await promptNoneNeedsInteraction(await configuration(), new Browser(ISSUER));
    return `error=${error}`;
  },

  async "oidcc-prompt-none-logged-in"() {
    const config = await configuration();
    const browser = new Browser(ISSUER);
    const first = await redeem(config, await authorize(config, browser));
    const again = await authorize(config, browser, { prompt: "none" }, { expectPages: [] });
    check(again.pages.length === 0, `pages shown with prompt=none: ${again.pages}`);
    const second = await redeem(config, again);
    check(second.claims().sub === first.claims().sub, "another sub");
    return "no interaction";
  },

  async "oidcc-max-age-1"() {
    const config = await configuration();
    const browser = new Browser(ISSUER);
    const first = await redeem(config, await authorize(config, browser));
    await wait("sessions-older");
    const again = await authorize(config, browser, { max_age: "1" }, { expectPages: ["login"] });
    const second = await redeem(config, again, { maxAge: 1 });
    check(typeof second.claims().auth_time === "number", "no auth_time with max_age");
    check(second.claims().auth_time > first.claims().auth_time - 1, "auth_time of the new login");
    return `auth_time=${second.claims().auth_time}`;
  },

  async "oidcc-max-age-10000"() {
    const config = await configuration();
    const browser = new Browser(ISSUER);
    const first = await redeem(config, await authorize(config, browser));
    const again = await authorize(config, browser, { max_age: "10000" }, { expectPages: [] });
    const second = await redeem(config, again, { maxAge: 10000 });
    check(second.claims().auth_time === first.claims().auth_time, "auth_time changed without a login");
    return `auth_time=${second.claims().auth_time}`;
  },

  async "oidcc-ensure-request-with-unknown-parameter-succeeds"() {
    await flow(await configuration(), { extra: "foobar" });
    return "extra=foobar";
  },

  async "oidcc-id-token-hint"() {
    const config = await configuration();
    const browser = new Browser(ISSUER);
    const first = await redeem(config, await authorize(config, browser));
    const again = await authorize(config, browser, { prompt: "none", id_token_hint: first.id_token }, { expectPages: [] });
    const second = await redeem(config, again);
    check(second.claims().sub === first.claims().sub, "another sub");
    return "prompt=none with id_token_hint";
  },

  async "oidcc-login-hint"() {
    await flow(await configuration(), { login_hint: USER.username });
    return `login_hint=${USER.username}`;
  },

  async "oidcc-ui-locales"() {
    await flow(await configuration(), { ui_locales: "se" });
    return "ui_locales=se";
  },

  async "oidcc-claims-locales"() {
    await flow(await configuration(), { claims_locales: "se" });
    return "claims_locales=se";
  },

  async "oidcc-ensure-request-with-acr-values-succeeds"() {
    const { claims } = await flow(await configuration(), { acr_values: "1 2" });
    check(claims.acr !== undefined, "no acr in the id_token");
    return `acr=${claims.acr}`;
  },

  async "oidcc-codereuse"() {
    const config = await configuration();
    const got = await authorize(config, new Browser(ISSUER));
    await redeem(config, got);
    const second = await refused(redeem(config, got));
    check(second.error === "invalid_grant", `second use: ${JSON.stringify(second)}`);
    return "invalid_grant";
  },

  async "oidcc-codereuse-30seconds"() {
    const config = await configuration();
    const got = await authorize(config, new Browser(ISSUER));
    const tokens = await redeem(config, got);
    await wait("code-30-seconds-older");
    const second = await refused(redeem(config, got));
    check(second.error === "invalid_grant", `second use: ${JSON.stringify(second)}`);
    // SHOULD: the tokens issued from the code are revoked.
    const endpoint = config.serverMetadata().userinfo_endpoint;
    const res = await fetch(endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    check(res.status === 401, `the access token from a replayed code still works: ${res.status}`);
    return "invalid_grant, access token revoked";
  },

  async "oidcc-ensure-registered-redirect-uri"() {
    const config = await configuration();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: "https://evil.example/callback",
      scope: "openid",
      state: client.randomState(),
      ...modeParam(),
    });
    const res = await new Browser(ISSUER).browse(url.href);
    check(![301, 302, 303, 307, 308].includes(res.status), `redirected: ${res.headers.get("location")}`);
    check(res.status === 400, `status ${res.status}`);
    return "error page, no redirect";
  },

  async "oidcc-refresh-token"() {
    const config = await configuration();
    const { tokens, claims } = await flow(config, { scope: "openid offline_access", prompt: "consent" });
    check(tokens.refresh_token, "no refresh_token for offline_access");
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    check(refreshed.access_token !== tokens.access_token, "the same access token again");
    const again = refreshed.claims();
    if (again) {
      // OIDC Core §12.2.
      check(again.iss === claims.iss && again.sub === claims.sub, "iss/sub changed at refresh");
      check(JSON.stringify(again.aud) === JSON.stringify(claims.aud), "aud changed at refresh");
      check(again.auth_time === claims.auth_time, "auth_time changed at refresh");
    }
    const old = await refused(client.refreshTokenGrant(config, tokens.refresh_token));
    check(old.error === "invalid_grant", `the rotated-out refresh token: ${JSON.stringify(old)}`);
    return `id_token at refresh: ${Boolean(again)}`;
  },

  async "oidcc-ensure-request-with-valid-pkce-succeeds"() {
    const config = await configuration();
    const verifier = client.randomPKCECodeVerifier();
    const challenge = await client.calculatePKCECodeChallenge(verifier);
    const got = await authorize(config, new Browser(ISSUER), { code_challenge: challenge, code_challenge_method: "S256" });
    await redeem(config, got, { pkceCodeVerifier: verifier });
    return "S256";
  },

  async "oidcc-ensure-post-request-succeeds"() {
    const config = await configuration();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const params = { response_type: "code", client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, scope: "openid", state, nonce, ...modeParam() };
    const endpoint = config.serverMetadata().authorization_endpoint;
    const browser = new Browser(ISSUER);
    const first = await browser.browse(endpoint, { method: "POST", form: params });
    const { callback, formPost } = await browser.play(endpoint, REDIRECT_URI, USER, { first });
    check(callback.searchParams.get("state") === state, "state");
    await redeem(config, { callback, formPost, state, nonce });
    return "POST";
  },

  async "oidcc-discovery-endpoint-verification"() {
    const doc = await (await fetch(new URL("/.well-known/openid-configuration", ISSUER))).json();
    check(doc.issuer === ISSUER, `issuer ${doc.issuer}`);
    for (const f of ["authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"]) {
      check(typeof doc[f] === "string" && new URL(doc[f]).origin === new URL(ISSUER).origin, `${f} ${doc[f]}`);
    }
    for (const [f, must] of [
      ["response_types_supported", "code"],
      ["subject_types_supported", "public"],
      ["id_token_signing_alg_values_supported", "RS256"],
      ["scopes_supported", "openid"],
      ["grant_types_supported", "authorization_code"],
    ]) {
      check(Array.isArray(doc[f]) && doc[f].includes(must), `${f} lacks ${must}: ${doc[f]}`);
    }
    check(!doc.id_token_signing_alg_values_supported.includes("none"), "none is advertised");
    check(Array.isArray(doc.claims_supported) && doc.claims_supported.includes("sub"), "claims_supported");
    const jwks = await (await fetch(doc.jwks_uri)).json();
    check(jwks.keys.length > 0 && jwks.keys.every((k) => k.kid && k.use === "sig" && !k.d), "jwks keys");
    return `${Object.keys(doc).length} fields`;
  },
};

async function main() {
  // The Dynamic plan shares a module id with the Basic one (oidcc-server): DYNAMIC=1 picks it.
  const run = process.env.DYNAMIC ? dynamicModules[MODULE] : (modules[MODULE] ?? logoutModules[MODULE]);
  check(run, `no module ${MODULE}`);
  const out = await run();
  if (out && typeof out === "object" && out.skip) console.log(`SKIP ${MODULE}: ${out.skip}`);
  else console.log(`PASS ${MODULE} ${out ?? ""}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    const detail = [e?.message ?? String(e)];
    if (e?.code) detail.push(`code=${e.code}`);
    if (e?.error) detail.push(`error=${e.error}`);
    if (e?.error_description) detail.push(`error_description=${e.error_description}`);
    if (e?.status) detail.push(`status=${e.status}`);
    console.log(`FAIL ${MODULE}: ${detail.join(" ")}`);
    if (e?.stack) console.error(e.stack);
    process.exit(1);
  },
);
