// A relying party nobody on the project wrote receives its authorization response by
// response_mode=form_post (OAuth 2.0 Form Post Response Mode): Node openid-client (pinned in
// package-lock.json) does discovery, builds a code + PKCE + state + nonce request with
// response_mode=form_post, and — once the "browser" (fetch with a cookie jar) has logged in,
// consented and submitted the self-posting form to the redirect URI the way a browser would —
// takes that POST as a Request (its form body is what openid-client reads for form_post),
// checks state and RFC 9207 `iss`, and exchanges the code (id_token signature, iss, aud, nonce).
//
// Environment: ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD
// Prints "NODE FORM_POST OK ..." and exits 0; any failure prints "NODE FAILED: ..." and exits 1.

import * as client from "openid-client";

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is required`);
  return v;
}
function check(cond, message) {
  if (!cond) throw new Error(message);
}

const ISSUER = env("ISSUER");
const REDIRECT_URI = env("REDIRECT_URI");
check(new URL(ISSUER).hostname === "127.0.0.1", `ISSUER must be on 127.0.0.1: ${ISSUER}`);

const jar = new Map();
async function browse(url, { method = "GET", form } = {}) {
  const headers = { accept: "text/html" };
  if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
  let body;
  if (form) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(form).toString();
  }
  const res = await fetch(url, { method, headers, body, redirect: "manual" });
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const eq = pair.indexOf("=");
    if (eq > 0) jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
  return res;
}

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
function postForm(html) {
  const m = html.match(/<form\b([^>]*method="post"[^>]*)>([\s\S]*?)<\/form>/i);
  check(m, `no POST form: ${html.slice(0, 300)}`);
  const form = { action: attributes(m[1]).action ?? "", inputs: {}, buttons: [], password: false };
  for (const t of m[2].matchAll(/<(input|button)\b([^>]*)>/gi)) {
    const a = attributes(t[2]);
    if (t[1].toLowerCase() === "input" && a.type === "password") form.password = true;
    if (t[1].toLowerCase() === "button") {
      if (a.name) form.buttons.push([a.name, a.value ?? ""]);
    } else if (a.name) {
      form.inputs[a.name] = a.value ?? "";
    }
  }
  return form;
}

// Plays the browser until the server answers with the form-post page; returns the Request the
// browser would send to the redirect URI by submitting it.
async function playBrowser(authorizationUrl) {
  let url = authorizationUrl.href;
  let res = await browse(url);
  for (let step = 0; step < 8; step++) {
    if ([302, 303].includes(res.status)) {
      url = new URL(res.headers.get("location"), url).href;
      check(!url.startsWith(REDIRECT_URI), `redirected to the client instead of a form post: ${url}`);
      res = await browse(url);
      continue;
    }
    const html = await res.text();
    check(res.status === 200, `unexpected ${res.status} at ${url}: ${html.slice(0, 300)}`);
    const form = postForm(html);
    const action = new URL(form.action || url, url).href;
    if (action.startsWith(REDIRECT_URI)) {
      check(/<script nonce="[^"]+">/.test(html), "the form-post page has no nonce script");
      const csp = res.headers.get("content-security-policy") ?? "";
      check(csp.includes("'nonce-") && !csp.includes("unsafe-inline"), `CSP ${csp}`);
      return new Request(action, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(form.inputs).toString(),
      });
    }
    const data = { ...form.inputs };
    if (form.password) {
      data.username = env("USERNAME");
      data.password = env("PASSWORD");
    } else {
      const allow = form.buttons.find(([, v]) => v === "allow");
      check(allow, `no allow button at ${url}`);
      data[allow[0]] = allow[1];
    }
    res = await browse(action, { method: "POST", form: data });
    url = action;
  }
  throw new Error("the flow did not end in a form post");
}

async function main() {
  const config = await client.discovery(new URL(ISSUER), env("CLIENT_ID"), env("CLIENT_SECRET"), undefined, {
    execute: [client.allowInsecureRequests],
  });
  const modes = config.serverMetadata().response_modes_supported ?? [];
  check(modes.includes("form_post"), `response_modes_supported ${JSON.stringify(modes)}`);
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: "openid email",
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
    response_mode: "form_post",
  });
  const callback = await playBrowser(authorizationUrl);
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  check(claims?.iss === ISSUER, `id_token iss ${claims?.iss}`);
  check(claims?.email, "no email in the id_token");
  console.log(`NODE FORM_POST OK sub=${claims.sub} email=${claims.email}`);
}

main().catch((e) => {
  console.log(`NODE FAILED: ${e?.stack ?? e}`);
  if (e?.cause) console.log(`cause: ${JSON.stringify(e.cause)}`);
  process.exit(1);
});
