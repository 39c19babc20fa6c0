// An upstream OpenID Provider that is not Ostiary, for the federation tests (issue 24):
// node-oidc-provider (pinned in package-lock.json) on 127.0.0.1, port 0, with an http issuer,
// one static confidential client, PKCE required, the `claims` parameter, RFC 9207 `iss` on every
// authorization response (oidc-provider always sends it and advertises
// authorization_response_iss_parameter_supported), and no developer interactions: a plain HTML
// login form (no JavaScript; drivable with a cookie jar) checks a username and password against
// the configured users, and consent is given automatically for the static client.
//
// Contract (environment; positional argv CLIENT_ID CLIENT_SECRET REDIRECT_URI override the
// first three):
//   UPSTREAM_CLIENT_ID, UPSTREAM_CLIENT_SECRET   the static client (required)
//   UPSTREAM_REDIRECT_URIS    its redirect URIs, space-separated (required)
//   UPSTREAM_TOKEN_AUTH       client_secret_basic (default) | client_secret_post
//   OSTIARY_UPSTREAM_USERS    JSON array of users (required, may be []):
//     [{"sub":"u1","username":"alice","password":"pw","email":"a@x","email_verified":true,
//       "name":"Alice","groups":["staff"]}]
//     `username` defaults to `sub`; an optional "amr" (e.g. ["pwd","otp","mfa"]) is the login's
//     methods (the id_token's amr); every other field but username/password is a claim (filtered by
//     scope and `claims` as usual: openid→sub, email→email email_verified, profile→name
//     preferred_username given_name family_name picture, groups→groups).
//   UPSTREAM_CONFORM_ID_TOKEN_CLAIMS=1   scope claims only at userinfo, not in the id_token
//     (oidc-provider's conformIdTokenClaims); default: they are in the id_token too.
// Stdout: one line `LISTENING <issuer>` once it accepts connections (the issuer has no trailing
// slash). Diagnostics go to stderr.
//
// Test-only endpoints (under /__standin/, never part of the OP's metadata):
//   GET  /__standin/users          the current users (JSON)
//   POST /__standin/users          JSON array: replaces the users (e.g. changed groups; the next
//                                  token or userinfo answer uses them)
//   POST /__standin/delay          {"ms": N}: every later OP request waits N ms first (0: off)
// The interaction pages: GET /interaction/:uid (login form: fields `username`, `password`; a
// consent prompt is granted at once with a 303 back to the authorization endpoint),
// POST /interaction/:uid (checks the form; wrong credentials: the form again, status 401).

import http from "node:http";

// oidc-provider writes its notices with console.info/log: to stderr, so that stdout carries
// nothing but the LISTENING line.
console.log = console.info = console.error;
import crypto from "node:crypto";
import Provider from "oidc-provider";

function required(name, argIndex) {
  const v = process.argv[2 + argIndex] || process.env[name];
  if (!v) {
    process.stderr.write(`upstream_op: ${name} is required\n`);
    process.exit(2);
  }
  return v;
}

const CLIENT_ID = required("UPSTREAM_CLIENT_ID", 0);
const CLIENT_SECRET = required("UPSTREAM_CLIENT_SECRET", 1);
const REDIRECT_URIS = required("UPSTREAM_REDIRECT_URIS", 2).split(/\s+/).filter(Boolean);
const TOKEN_AUTH = process.env.UPSTREAM_TOKEN_AUTH || "client_secret_basic";
const CONFORM = process.env.UPSTREAM_CONFORM_ID_TOKEN_CLAIMS === "1";

function parseUsers(text) {
  const users = JSON.parse(text);
  if (!Array.isArray(users) || users.some((u) => !u || typeof u.sub !== "string")) {
    throw new Error("users must be a JSON array of objects with a string `sub`");
  }
  return users;
}

let users = parseUsers(process.env.OSTIARY_UPSTREAM_USERS || "[]");
let delayMs = 0;

function claimsOf(user) {
  const { username: _u, password: _p, amr: _a, ...claims } = user;
  return claims;
}

function escapeHtml(s) {
  return String(s).replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}

async function readBody(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error("body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function send(res, status, type, body) {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

function loginPage(uid, error) {
  return `<!doctype html>
<html><head><title>Upstream stand-in: sign in</title></head>
<body>
<h1>node-oidc-provider upstream (test stand-in)</h1>
${error ? `<p class="error">${escapeHtml(error)}</p>` : ""}
<form method="post" action="/interaction/${escapeHtml(uid)}">
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
</body></html>`;
}

const server = http.createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const ISSUER = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: "jwk" }), kid: "standin-1", alg: "RS256", use: "sig" };

const provider = new Provider(ISSUER, {
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: REDIRECT_URIS,
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: TOKEN_AUTH,
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString("hex")] },
  pkce: { required: () => true },
  conformIdTokenClaims: CONFORM,
  features: {
    devInteractions: { enabled: false },
    claimsParameter: { enabled: true },
  },
  scopes: ["openid", "email", "profile", "groups"],
  claims: {
    // amr: a user's "amr" (see above), in the id_token whenever the login has one.
    openid: ["sub", "amr"],
    email: ["email", "email_verified"],
    profile: ["name", "preferred_username", "given_name", "family_name", "picture"],
    groups: ["groups"],
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, sub) {
    const user = users.find((u) => u.sub === sub);
    if (!user) return undefined;
    return { accountId: sub, claims: async () => claimsOf(user) };
  },
});
provider.on("server_error", (_ctx, err) => process.stderr.write(`upstream_op: ${err.stack}\n`));

const callback = provider.callback();

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    send(res, 400, "text/plain", "interaction mismatch");
    return;
  }
  const { prompt, params, session } = details;
  if (prompt.name === "login") {
    if (req.method === "GET") {
      send(res, 200, "text/html; charset=utf-8", loginPage(uid));
      return;
    }
    const form = new URLSearchParams(await readBody(req));
    const user = users.find(
      (u) => (u.username ?? u.sub) === form.get("username") && u.password === form.get("password"),
    );
    if (!user) {
      send(res, 401, "text/html; charset=utf-8", loginPage(uid, "Wrong username or password."));
      return;
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: user.sub, ...(Array.isArray(user.amr) ? { amr: user.amr } : {}) } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  if (prompt.name === "consent") {
    if (params.client_id !== CLIENT_ID) {
      send(res, 403, "text/plain", "consent is automatic only for the static client");
      return;
    }
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(" "));
    }
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
    return;
  }
  send(res, 400, "text/plain", `unsupported prompt ${prompt.name}`);
}

async function standin(req, res, path) {
  if (path === "/__standin/users" && req.method === "GET") {
    send(res, 200, "application/json", JSON.stringify(users));
  } else if (path === "/__standin/users" && req.method === "POST") {
    users = parseUsers(await readBody(req));
    send(res, 204, "text/plain", "");
  } else if (path === "/__standin/delay" && req.method === "POST") {
    const ms = Number(JSON.parse(await readBody(req)).ms);
    if (!Number.isFinite(ms) || ms < 0) throw new Error("ms must be a number >= 0");
    delayMs = ms;
    send(res, 204, "text/plain", "");
  } else {
    send(res, 404, "text/plain", "not found");
  }
}

server.on("request", async (req, res) => {
  const path = new URL(req.url, ISSUER).pathname;
  try {
    if (path.startsWith("/__standin/")) {
      await standin(req, res, path);
      return;
    }
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    const m = path.match(/^\/interaction\/([^/]+)$/);
    if (m && (req.method === "GET" || req.method === "POST")) {
      await interaction(req, res, m[1]);
      return;
    }
    callback(req, res);
  } catch (err) {
    process.stderr.write(`upstream_op: ${req.method} ${path}: ${err.stack || err}\n`);
    if (!res.headersSent) send(res, 400, "text/plain", `stand-in error: ${err.message || err}`);
  }
});

process.on("SIGTERM", () => process.exit(0));
process.stdout.write(`LISTENING ${ISSUER}\n`);
