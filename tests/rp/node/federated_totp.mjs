// A relying party nobody on the project wrote (Node openid-client, pinned in package-lock.json)
// logs a person in at Ostiary (the "downstream") who signs in with an upstream provider (the
// button on the login page) while the downstream's policy requires a second factor: federation
// must not bypass the journey. Two logins, each in a fresh browser:
//   1. the first upstream login makes the account (just in time); the downstream then has the
//      person set up TOTP (enrolment) before anything goes back to the relying party;
//   2. the next upstream login asks for a TOTP code (the second-factor page).
// At the TOTP step the script first tries to skip it (straight to the interaction's resume
// URL): that must not reach the relying party. After TOTP, openid-client redeems the code
// (PKCE, state, nonce, id_token signature, iss, aud; RFC 9207 iss) and the id_token's `amr`
// must hold `fed` and `otp`.
//
// The browser is fetch with one cookie jar per origin (lib/browser.mjs), the forms read
// generically; the TOTP codes are computed here (RFC 6238: SHA-1, 6 digits, 30 s).
//
// Environment: ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI PROVIDER_NAME UPSTREAM_USER
//   UPSTREAM_PASSWORD
// Prints one "LOGIN {json}" line per login and "NODE OK"; on failure "NODE FAILED: …", exit 1.

import crypto from "node:crypto";
import * as client from "openid-client";
import { Browser, check, postForms, unescapeHtml } from "./lib/browser.mjs";

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is required`);
  return v;
}

const ISSUER = env("ISSUER");
const REDIRECT_URI = env("REDIRECT_URI");
const PROVIDER_NAME = env("PROVIDER_NAME");
const UPSTREAM = { username: env("UPSTREAM_USER"), password: env("UPSTREAM_PASSWORD") };

// RFC 4648 base32 (the secret as the set-up page shows it, spaces allowed).
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of text.replace(/[\s=]/g, "").toUpperCase()) {
    const i = alphabet.indexOf(c);
    check(i >= 0, `not base32: ${text}`);
    bits += i.toString(2).padStart(5, "0");
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

// RFC 6238 with SHA-1, 6 digits, 30 s steps; `steps` ahead of now.
function totp(secret, steps = 0) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30) + steps));
  const mac = crypto.createHmac("sha1", base32(secret)).update(counter).digest();
  const at = mac[mac.length - 1] & 0xf;
  const n = (mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, "0");
}

const config = await client.discovery(
  new URL(ISSUER),
  env("CLIENT_ID"),
  undefined,
  client.ClientSecretBasic(env("CLIENT_SECRET")),
  { execute: [client.allowInsecureRequests] },
);

let secret = null;

// One login in a fresh browser (a jar per origin); `codeSteps`: which TOTP step to answer with
// (a step is accepted once: the second login uses the next one).
async function login(codeSteps) {
  const jars = new Map();
  const browserFor = (url) => {
    const origin = new URL(url).origin;
    if (!jars.has(origin)) jars.set(origin, new Browser(origin));
    return jars.get(origin);
  };
  const downOrigin = new URL(ISSUER).origin;
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  let url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: "openid profile email",
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
  }).href;
  const pages = [];
  let skipTried = false;
  let res = await browserFor(url).browse(url);
  for (let step = 0; step < 30; step++) {
    if ([301, 302, 303, 307, 308].includes(res.status)) {
      const target = new URL(res.headers.get("location"), url).href;
      if (target.startsWith(REDIRECT_URI)) {
        check(skipTried, "the relying party was answered before any TOTP step");
        const tokens = await client.authorizationCodeGrant(config, new URL(target), {
          pkceCodeVerifier: verifier,
          expectedState: state,
          expectedNonce: nonce,
          idTokenExpected: true,
        });
        const claims = tokens.claims();
        return { pages, sub: claims.sub, amr: claims.amr, acr: claims.acr, username: claims.preferred_username };
      }
      url = target;
      res = await browserFor(url).browse(url);
      continue;
    }
    const html = await res.text();
    check(res.status === 200, `unexpected ${res.status} at ${url}: ${html.replace(/\s+/g, " ").slice(0, 400)}`);
    const origin = new URL(url).origin;
    const b = browserFor(url);
    const forms = postForms(html);
    const upstreams = html.match(/id="upstreams"[\s\S]*?<\/div>/);
    if (origin === downOrigin && upstreams) {
      // The downstream's login page: the provider's button.
      const a = [...upstreams[0].matchAll(/<a\b[^>]*href="([^"]*)"[^>]*>([^<]*)<\/a>/g)].find(
        (m) => unescapeHtml(m[2]).trim() === PROVIDER_NAME,
      );
      check(a, `no ${PROVIDER_NAME} button on the login page`);
      pages.push("provider-button");
      url = new URL(unescapeHtml(a[1]), url).href;
      res = await b.browse(url);
      continue;
    }
    const totpPage = /id="totp-secret"/.test(html) || /action="\/login\/second-factor"/.test(html);
    if (origin === downOrigin && totpPage && !skipTried) {
      // Skipping the second factor: straight to where the login was going.
      skipTried = true;
      const returnTo = forms[0]?.inputs.return_to;
      check(returnTo?.startsWith("/authorize/resume"), `return_to on the TOTP page: ${returnTo}`);
      const skip = await b.browse(new URL(returnTo, url).href);
      const to = skip.headers.get("location") ?? "";
      check(!to.startsWith(REDIRECT_URI), `skipping TOTP reached the relying party: ${to}`);
      await skip.text();
    }
    if (origin === downOrigin && /id="totp-secret"/.test(html)) {
      secret = unescapeHtml(html.match(/id="totp-secret"[^>]*>([^<]*)</)[1]).replace(/\s/g, "");
      pages.push("enrol-totp");
      const form = forms.find((f) => "secret_id" in f.inputs);
      url = new URL(form.action, url).href;
      res = await b.browse(url, { method: "POST", form: { ...form.inputs, code: totp(secret, codeSteps) } });
      continue;
    }
    if (origin === downOrigin && /action="\/login\/second-factor"/.test(html)) {
      check(secret, "asked for a TOTP code before one was set up");
      pages.push("totp");
      const form = forms[0];
      url = new URL(form.action, url).href;
      res = await b.browse(url, { method: "POST", form: { ...form.inputs, code: totp(secret, codeSteps) } });
      continue;
    }
    const next = html.match(/<a\b[^>]*href="([^"]*)"[^>]*id="continue"/);
    if (origin === downOrigin && next) {
      pages.push("recovery-codes");
      url = new URL(unescapeHtml(next[1]), url).href;
      res = await b.browse(url);
      continue;
    }
    const form = forms[0];
    check(form, `no form at ${url}: ${html.replace(/\s+/g, " ").slice(0, 400)}`);
    const data = { ...form.inputs };
    if (form.password) {
      check(origin !== downOrigin, "the downstream asked for a password");
      pages.push("upstream-login");
      data.username = UPSTREAM.username;
      data.password = UPSTREAM.password;
    } else {
      const allow = form.buttons.find(([, v]) => v === "allow");
      check(allow, `no allow button at ${url}: ${html.replace(/\s+/g, " ").slice(0, 400)}`);
      pages.push(origin === downOrigin ? "consent" : "upstream-consent");
      data[allow[0]] = allow[1];
    }
    url = new URL(form.action || url, url).href;
    res = await b.browse(url, { method: "POST", form: data });
  }
  throw new Error(`the login did not come back to the relying party: ${pages}`);
}

try {
  const first = await login(0);
  console.log(`LOGIN ${JSON.stringify(first)}`);
  const second = await login(1);
  console.log(`LOGIN ${JSON.stringify(second)}`);
  for (const l of [first, second]) {
    check(Array.isArray(l.amr) && l.amr.includes("fed") && l.amr.includes("otp"), `amr: ${l.amr}`);
  }
  check(first.sub === second.sub, "the same account both times");
  console.log("NODE OK");
} catch (e) {
  console.log(`NODE FAILED: ${e?.stack ?? e}`);
  process.exit(1);
}
