// A relying party nobody on the project wrote uses four capabilities through Node openid-client
// (pinned in package-lock.json), authenticating every back-channel request with private_key_jwt
// (an ES256 client assertion signed with PRIVATE_JWK):
//   - Pushed Authorization Requests (RFC 9126): the authorization URL carries only client_id and
//     request_uri; the browser logs in and consents from it, the code (PKCE + state + nonce) is
//     exchanged with id_token validation, the refresh token works, and the request_uri is
//     single-use (a second visit yields an error page, not a code).
//   - The Device Authorization Grant (RFC 8628): the library polls the token endpoint while the
//     user, in another browser, types the user code (lower case, without the dash) at
//     verification_uri, logs in and confirms; the polled tokens name the same user. Before the
//     library starts, three raw polls at once get authorization_pending and two slow_downs the
//     library never sees: it must still be in step after one slow_down of its own (RFC 8628
//     §3.5; it adds 5 s per slow_down it sees).
// The browser parts (user code, login, consent and confirmation forms) are played by fetch with
// a small cookie jar per browser, reading the HTML forms generically.
//
// Environment: ISSUER CLIENT_ID PRIVATE_JWK REDIRECT_URI USERNAME PASSWORD
//   PRIVATE_JWK: the client's private EC P-256 JWK (with "kid"); the client is registered with its
//     public part and token_endpoint_auth_method=private_key_jwt
//   [TRACE=1: every request openid-client sends, and the response, and every page the browsers
//    visit, on stderr]
//   - A signed request object (RFC 9101): buildAuthorizationUrlWithJAR signs the authorization
//     request with the same key; the state and nonce inside it come back.
// Prints "PAR OK ...", "JAR OK ...", "DEVICE OK ..." and "NODE OK ..." and exits 0 on success; any failure
// prints "NODE FAILED: ..." and exits 1.

import * as client from "openid-client";

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is required`);
  return v;
}

const ISSUER = env("ISSUER");
const CLIENT_ID = env("CLIENT_ID");
const PRIVATE_JWK = env("PRIVATE_JWK");
const REDIRECT_URI = env("REDIRECT_URI");
const USERNAME = env("USERNAME");
const PASSWORD = env("PASSWORD");
const TRACE = Boolean(process.env.TRACE);

function check(cond, message) {
  if (!cond) throw new Error(message);
}

// Only loopback: the test server, and the redirect URI's host (which is never contacted).
check(new URL(ISSUER).hostname === "127.0.0.1", `ISSUER must be on 127.0.0.1: ${ISSUER}`);
check(new URL(REDIRECT_URI).hostname === "127.0.0.1", `REDIRECT_URI must be on 127.0.0.1: ${REDIRECT_URI}`);
const ORIGIN = new URL(ISSUER).origin;

function excerpt(text) {
  return text.replace(/\s+/g, " ").slice(0, 300);
}

// --- what openid-client sends: loopback only, traced, device-code polls watched ---------------

const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const polls = { answers: [], waiters: [] };

// "400/authorization_pending×3,200"
function pollSummary() {
  const runs = [];
  for (const a of polls.answers) {
    if (runs.length && runs[runs.length - 1][0] === a) runs[runs.length - 1][1]++;
    else runs.push([a, 1]);
  }
  return runs.map(([a, n]) => (n > 1 ? `${a}×${n}` : a)).join(",") || "none";
}

function pollAnswered(status, error) {
  polls.answers.push(`${status}${error ? `/${error}` : ""}`);
  for (const resolve of polls.waiters.splice(0)) resolve();
}

async function libraryFetch(url, options) {
  check(new URL(url).hostname === "127.0.0.1", `openid-client was sent off loopback: ${url}`);
  const res = await fetch(url, options);
  if (TRACE) {
    const sent = options?.body ? ` ${options.body}` : "";
    console.error(`> ${options?.method ?? "GET"} ${url} ${JSON.stringify(Object.fromEntries(new Headers(options?.headers)))}${sent}`);
    console.error(`< ${res.status} ${JSON.stringify(Object.fromEntries(res.headers))} ${await res.clone().text()}`);
  }
  const body = options?.body instanceof URLSearchParams || typeof options?.body === "string"
    ? new URLSearchParams(options.body)
    : null;
  if (body?.get("grant_type") === DEVICE_CODE_GRANT) {
    let error;
    try {
      error = (await res.clone().json()).error;
    } catch {
      // not JSON; openid-client will say so
    }
    pollAnswered(res.status, error);
  }
  return res;
}

// Resolves once the token endpoint has answered `count` device-code polls in all.
function pollsAnswered(count, seconds) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`openid-client did not poll the token endpoint within ${seconds}s (answers: ${pollSummary()})`)),
      seconds * 1000,
    );
    const done = () => {
      if (polls.answers.length < count) return polls.waiters.push(done);
      clearTimeout(timer);
      resolve();
    };
    done();
  });
}

// --- the browsers: fetch with a cookie jar each, never following redirects ----------------------

function newBrowser(label) {
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
    check(new URL(url).origin === ORIGIN, `the ${label} browser was sent off the server: ${url}`);
    const headers = { accept: "text/html" };
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    let body;
    if (form) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, { method, headers, body, redirect: "manual" });
    storeCookies(res);
    if (TRACE) {
      const location = res.headers.get("location");
      console.error(`[${label}] ${method} ${url}${body ? ` ${body}` : ""} -> ${res.status}${location ? ` ${location}` : ""}`);
    }
    return res;
  }

  return { label, browse };
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

// The forms of a page: method, action, inputs with their values (hidden ones included; unchecked
// checkboxes and radios left out, as a browser does), named buttons, and whether the form asks
// for a password.
function pageForms(html) {
  const forms = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const a = attributes(m[1]);
    const form = {
      method: (a.method || "get").toLowerCase(),
      action: a.action ?? "",
      inputs: {},
      buttons: [],
      password: false,
    };
    for (const t of m[2].matchAll(/<(input|button)\b([^>]*)>/gi)) {
      const ta = attributes(t[2]);
      const type = (ta.type ?? "").toLowerCase();
      if (t[1].toLowerCase() === "input" && type === "password") form.password = true;
      if (t[1].toLowerCase() === "button" || type === "submit") {
        if (ta.name && type !== "button" && type !== "reset") form.buttons.push([ta.name, ta.value ?? ""]);
      } else if (ta.name && !((type === "checkbox" || type === "radio") && !("checked" in ta))) {
        form.inputs[ta.name] = ta.value ?? "";
      }
    }
    forms.push(form);
  }
  return forms;
}

// What the user does with a form: type the user code, log in, or click allow.
function formRole(form) {
  if ("user_code" in form.inputs) return "user_code";
  if (form.password) return "login";
  if (form.buttons.some(([n, v]) => n === "decision" && v === "allow")) return "allow";
  return null;
}

function isRedirect(status) {
  return [301, 302, 303, 307, 308].includes(status);
}

// Plays the user at the server's pages from `start`: follows redirects, types `userCode` into a
// user-code form, fills a login form, clicks decision=allow on consent and confirmation forms.
// Ends at a redirect to the client ({ callback }) or, once allow was clicked, at a 200 page that
// asks for no further decision ({ page, url }). `steps` says what was done where.
async function drive(browser, start, { userCode } = {}) {
  let url = new URL(start).href;
  let res = await browser.browse(url);
  const steps = [];
  let allowed = false;
  for (let step = 0; step < 12; step++) {
    if (isRedirect(res.status)) {
      const location = res.headers.get("location");
      check(location, `${res.status} without a Location at ${url}`);
      const target = new URL(location, url).href;
      steps.push(`${res.status}`);
      if (target.startsWith(REDIRECT_URI)) return { callback: new URL(target), steps };
      url = target;
      res = await browser.browse(url);
      continue;
    }
    const html = await res.text();
    const path = new URL(url).pathname;
    check(res.status === 200, `unexpected ${res.status} at ${url} (after ${steps.join(" ") || "nothing"}): ${excerpt(html)}`);
    const forms = pageForms(html);
    const form = forms.find(formRole);
    if (allowed && (!form || formRole(form) !== "allow")) {
      steps.push(`200 ${path}`);
      return { page: html, url, steps };
    }
    check(form, `no user-code, login or allow form at ${url} (after ${steps.join(" ") || "nothing"}): ${excerpt(html)}`);
    const role = formRole(form);
    steps.push(`${path}[${role}]`);
    const data = { ...form.inputs };
    if (form.method === "post") check("csrf_token" in data, `the ${role} form at ${url} has no csrf_token`);
    if (role === "user_code") {
      check(userCode !== undefined, `the server asked for a user code at ${url} outside the device flow`);
      data.user_code = userCode;
    } else if (role === "login") {
      data.username = USERNAME;
      data.password = PASSWORD;
    } else {
      data.decision = "allow";
      allowed = true;
    }
    const action = new URL(form.action || url, url);
    if (form.method === "post") {
      url = action.href;
      res = await browser.browse(url, { method: "POST", form: data });
    } else {
      action.search = new URLSearchParams(data).toString();
      url = action.href;
      res = await browser.browse(url);
    }
  }
  throw new Error(`the flow did not finish: ${steps.join(" ")}`);
}

// --- the three capabilities ---------------------------------------------------------------------

async function importClientKey() {
  let jwk;
  try {
    jwk = JSON.parse(PRIVATE_JWK);
  } catch (e) {
    throw new Error(`PRIVATE_JWK is not JSON: ${e.message}`);
  }
  check(jwk.kty === "EC" && jwk.crv === "P-256" && jwk.d, "PRIVATE_JWK must be a private EC P-256 JWK");
  check(typeof jwk.kid === "string" && jwk.kid, "PRIVATE_JWK has no kid");
  check(jwk.alg === undefined || jwk.alg === "ES256", `PRIVATE_JWK alg ${jwk.alg}`);
  const key = await crypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  return { key, kid: jwk.kid };
}

async function pushedAuthorization(config) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const parUrl = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: REDIRECT_URI,
    scope: "openid profile",
    code_challenge: codeChallenge,
    code_challenge_method: "S256",
    state,
    nonce,
  });
  const keys = [...parUrl.searchParams.keys()].sort();
  check(
    JSON.stringify(keys) === JSON.stringify(["client_id", "request_uri"]),
    `the PAR authorization URL carries more than client_id and request_uri: ${parUrl}`,
  );
  check(parUrl.searchParams.get("client_id") === CLIENT_ID, `PAR URL client_id: ${parUrl}`);
  check(
    parUrl.searchParams.get("request_uri").startsWith("urn:ietf:params:oauth:request_uri:"),
    `PAR URL request_uri: ${parUrl}`,
  );
  check(parUrl.origin === ORIGIN, `the authorization endpoint is off the server: ${parUrl}`);

  const browser = newBrowser("par");
  const flow = await drive(browser, parUrl);
  check(flow.callback, `the PAR flow ended on a page instead of at the client: ${flow.steps.join(" ")}`);
  check(flow.callback.searchParams.get("code"), `no code at the client: ${flow.callback}`);

  // The request_uri was used up by that visit: the same URL again, in the same (signed-in,
  // consented) browser, gives an error page and no code.
  const again = await browser.browse(parUrl.href);
  const againLocation = again.headers.get("location");
  check(
    !(againLocation && new URL(againLocation, parUrl).href.startsWith(REDIRECT_URI)),
    `a used request_uri sent the browser to the client again: ${againLocation}`,
  );
  const againPage = await again.text();
  check(
    again.status === 400,
    `a used request_uri was not refused with 400: ${again.status} ${againLocation ?? ""} ${excerpt(againPage)}`,
  );
  if (TRACE) console.error(`used request_uri: 400 ${excerpt(againPage)}`);

  const tokens = await client.authorizationCodeGrant(config, flow.callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  check(claims && typeof claims.sub === "string" && claims.sub, `no sub in the id_token: ${JSON.stringify(claims)}`);
  check(typeof tokens.refresh_token === "string" && tokens.refresh_token, "no refresh_token from the PAR code");

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  check(refreshed.access_token && refreshed.access_token !== tokens.access_token, "refresh gave no new access token");

  console.log(`PAR OK sub=${claims.sub}`);
  return claims.sub;
}

// A signed request object (RFC 9101, OIDC Core §6) by value: openid-client signs the whole
// authorization request with the client's key (buildAuthorizationUrlWithJAR); the URL carries only
// client_id and request, and the code comes back with the state and nonce from inside it.
async function signedRequestObject(config, privateKey, expectedSub) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const jarUrl = await client.buildAuthorizationUrlWithJAR(
    config,
    {
      redirect_uri: REDIRECT_URI,
      scope: "openid profile",
      code_challenge: codeChallenge,
      code_challenge_method: "S256",
      state,
      nonce,
    },
    privateKey,
  );
  check(jarUrl.searchParams.get("request"), `the JAR authorization URL has no request object: ${jarUrl}`);
  check(!jarUrl.searchParams.has("state"), `the JAR authorization URL carries state outside the object: ${jarUrl}`);
  const flow = await drive(newBrowser("jar"), jarUrl);
  check(flow.callback, `the JAR flow ended on a page instead of at the client: ${flow.steps.join(" ")}`);
  check(
    flow.callback.searchParams.get("state") === state,
    `the state inside the request object did not come back: ${flow.callback}`,
  );
  const tokens = await client.authorizationCodeGrant(config, flow.callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  check(claims?.sub === expectedSub, `JAR sub ${claims?.sub} is not the PAR sub ${expectedSub}`);
  console.log(`JAR OK sub=${claims.sub}`);
}

const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

async function deviceAuthorization(config, expectedSub) {
  const da = await client.initiateDeviceAuthorization(config, { scope: "openid profile" });
  check(USER_CODE.test(da.user_code), `user_code ${da.user_code}`);
  check(da.verification_uri.endsWith("/device"), `verification_uri ${da.verification_uri}`);
  check(new URL(da.verification_uri).origin === ORIGIN, `verification_uri is off the server: ${da.verification_uri}`);
  check(
    typeof da.verification_uri_complete === "string" && da.verification_uri_complete.includes(da.user_code),
    `verification_uri_complete ${da.verification_uri_complete}`,
  );
  check(Number.isInteger(da.interval) && da.interval > 0, `interval ${da.interval}`);

  // A client that missed slow_downs: three polls at once; the last two answers (slow_down) are
  // never seen by the library below, which starts from the interval it was first told.
  for (let i = 0; i < 3; i++) {
    try {
      await client.genericGrantRequest(config, DEVICE_CODE_GRANT, { device_code: da.device_code });
    } catch {
      // answered with an error, as expected; recorded by libraryFetch
    }
  }
  const raw = polls.answers.length;
  check(
    polls.answers.join(",") === "400/authorization_pending,400/slow_down,400/slow_down",
    `raw polls at once: ${pollSummary()}`,
  );

  // The library polls (waiting `interval` first) until the user has confirmed; stopped early if
  // the user's part fails, and at the latest when the device code expires.
  const stop = new AbortController();
  const polling = client.pollDeviceAuthorizationGrant(config, da, undefined, {
    signal: AbortSignal.any([stop.signal, AbortSignal.timeout(da.expires_in * 1000)]),
  });
  polling.catch(() => {}); // awaited below; this only keeps an early rejection from crashing

  let user;
  try {
    // The user is slower than the device: the first poll is answered "authorization_pending".
    await Promise.race([
      pollsAnswered(raw + 1, da.interval + 15),
      polling.then(() => {
        throw new Error("the device grant gave tokens before the user did anything");
      }),
    ]);
    check(
      ["400/authorization_pending", "400/slow_down"].includes(polls.answers[raw]),
      `the library's first poll, before the user did anything: ${polls.answers[raw]}`,
    );
    // Another browser, not signed in; the code typed as a person might: lower case, no dash.
    const typed = da.user_code.replace("-", "").toLowerCase();
    user = await drive(newBrowser("device"), da.verification_uri, { userCode: typed });
  } catch (e) {
    stop.abort(e);
    throw e;
  }
  check(user.page !== undefined, `the device flow sent the browser to the client: ${user.callback}`);
  const roles = user.steps.join(" ");
  check(/\[user_code\].*\[login\].*\[allow\]/.test(roles), `the device flow did not go user code, login, allow: ${roles}`);
  if (TRACE) console.error(`device user: ${roles}: ${excerpt(user.page)}`);

  // After at most one slow_down of its own the library is in step: its interval is then
  // da.interval + 5.
  const patience = (da.interval + 5) * 2 + 10;
  const late = setTimeout(() => stop.abort(new Error(`no tokens within ${patience}s of the user's confirmation (poll answers: ${pollSummary()})`)), patience * 1000);
  let tokens;
  try {
    tokens = await polling;
  } finally {
    clearTimeout(late);
  }
  check(typeof tokens.access_token === "string" && tokens.access_token, "no access_token from the device grant");
  const claims = tokens.claims();
  check(claims, "no id_token from the device grant (scope openid)");
  check(claims.sub === expectedSub, `device grant sub ${claims.sub} is not the PAR sub ${expectedSub}`);
  const slowed = polls.answers.slice(raw).filter((a) => a.endsWith("/slow_down")).length;
  check(slowed <= 1, `after missing two slow_downs the library was told slow_down ${slowed} times: ${pollSummary()}`);
  if (TRACE) console.error(`device polls: ${pollSummary()}`);

  console.log(`DEVICE OK sub=${claims.sub} interval=${da.interval}`);
}

async function main() {
  const privateKey = await importClientKey();
  const config = await client.discovery(
    new URL(ISSUER),
    CLIENT_ID,
    undefined,
    client.PrivateKeyJwt(privateKey),
    {
      execute: [client.allowInsecureRequests],
      [client.customFetch]: libraryFetch,
    },
  );
  const server = config.serverMetadata();
  check(server.issuer === ISSUER, `discovery issuer ${server.issuer} is not ${ISSUER}`);
  // openid-client's own errors for a missing endpoint are generic ones; say which is missing.
  check(server.pushed_authorization_request_endpoint, "discovery does not advertise pushed_authorization_request_endpoint");
  check(server.device_authorization_endpoint, "discovery does not advertise device_authorization_endpoint");
  check(
    server.token_endpoint_auth_methods_supported?.includes("private_key_jwt"),
    `token_endpoint_auth_methods_supported ${JSON.stringify(server.token_endpoint_auth_methods_supported)}`,
  );

  const sub = await pushedAuthorization(config);
  check(
    server.request_object_signing_alg_values_supported?.includes("ES256"),
    `request_object_signing_alg_values_supported ${JSON.stringify(server.request_object_signing_alg_values_supported)}`,
  );
  await signedRequestObject(config, privateKey, sub);
  await deviceAuthorization(config, sub);

  console.log("NODE OK par device private_key_jwt");
}

// What an error says, with what openid-client attached to it: a response (status and body), an
// error body, a wrapped error, the parameters of an authorization response.
async function show(value, depth = 0) {
  if (value === undefined || value === null || depth > 3) return "";
  if (value instanceof Response) {
    let body = "";
    try {
      body = value.bodyUsed ? "(body read)" : excerpt(await value.text());
    } catch {
      body = "(body unreadable)";
    }
    return `HTTP ${value.status} ${body}`;
  }
  if (value instanceof Error) {
    const parts = [value.message];
    if (value.code) parts.push(`code=${value.code}`);
    if (value.error) parts.push(`error=${value.error}`);
    if (value.error_description) parts.push(`error_description=${value.error_description}`);
    if (value.status) parts.push(`status=${value.status}`);
    const cause = await show(value.cause, depth + 1);
    if (cause) parts.push(`cause=(${cause})`);
    if (value.response instanceof Response && !(value.cause instanceof Response) && !value.response.bodyUsed) {
      parts.push(`response=(${await show(value.response, depth + 1)})`);
    }
    return parts.join(" ");
  }
  if (value instanceof URLSearchParams) return value.toString();
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

main().then(
  () => process.exit(0),
  async (e) => {
    console.error(`NODE FAILED: ${await show(e)}`);
    if (e?.stack) console.error(e.stack);
    process.exit(1);
  },
);
