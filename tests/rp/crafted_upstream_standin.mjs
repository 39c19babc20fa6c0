// TEST STAND-IN, not a real provider: an OpenID Provider that signs the id_token the test tells
// it to, so the federation tests (tests/api/federation_proofs.rs) can prove what the downstream
// refuses. Node standard library only (no npm packages).
//
// It signs its one user in without a form: GET /authorize answers straight away with a redirect
// to the client's redirect URI carrying `code`, `state` and (RFC 9207) `iss`. POST /token
// redeems the code once (PKCE S256 checked) and answers with an id_token crafted by the current
// mode, set with POST /__standin/mode {"mode": M, "relay": URL}:
//   valid        a correct id_token (RS256, the published key, our iss, aud = the client, nonce)
//   nonce        nonce of another sign-in
//   aud          aud = another client
//   iss          iss = another issuer (still signed by our published key)
//   expired      exp an hour ago
//   alg-none     {"alg":"none"} and no signature
//   unknown-kid  signed by a key that is not in our JWKS, under its own kid
//   relay        the id_token minted by ANOTHER stand-in (POST {relay}/__standin/mint), with this
//                sign-in's nonce and aud: a token from another upstream (mix-up)
// POST /__standin/mint {"nonce": N, "aud": A} answers {"id_token": …}, a valid id_token of ours.
//
// Environment: STANDIN_CLIENT_ID, STANDIN_REDIRECT_URI, [STANDIN_SUB] [STANDIN_EMAIL].
// Listens on 127.0.0.1 port 0 and prints `LISTENING http://127.0.0.1:PORT`.

import http from "node:http";
import crypto from "node:crypto";

const CLIENT_ID = process.env.STANDIN_CLIENT_ID || "downstream";
const REDIRECT_URI = process.env.STANDIN_REDIRECT_URI || "";
const SUB = process.env.STANDIN_SUB || "crafted-1";
const EMAIL = process.env.STANDIN_EMAIL || "crafted@upstream.test";

function rsaKey() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = `k-${crypto.randomBytes(6).toString("hex")}`;
  return { privateKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" } };
}

const published = rsaKey();
const stray = rsaKey();
let issuer = "";
let mode = { mode: "valid" };
const codes = new Map();

const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

function sign(claims, key, alg = "RS256") {
  const head = b64({ alg, typ: "JWT", ...(alg === "none" ? {} : { kid: key.jwk.kid }) });
  const input = `${head}.${b64(claims)}`;
  if (alg === "none") return `${input}.`;
  return `${input}.${crypto.sign("sha256", Buffer.from(input), key.privateKey).toString("base64url")}`;
}

function claimsFor(nonce, aud) {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: issuer, sub: SUB, aud, iat: now, exp: now + 300, nonce,
    email: EMAIL, email_verified: false, preferred_username: "crafted", name: "Crafted Person",
  };
}

async function crafted(nonce) {
  const c = claimsFor(nonce, CLIENT_ID);
  switch (mode.mode) {
    case "valid": return sign(c, published);
    case "nonce": return sign({ ...c, nonce: "nonce-of-another-sign-in" }, published);
    case "aud": return sign({ ...c, aud: "another-client" }, published);
    case "iss": return sign({ ...c, iss: "http://127.0.0.1:9" }, published);
    case "expired": return sign({ ...c, iat: c.iat - 7200, exp: c.iat - 3600 }, published);
    case "alg-none": return sign(c, published, "none");
    case "unknown-kid": return sign(c, stray);
    case "relay": {
      const res = await fetch(`${mode.relay}/__standin/mint`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ nonce, aud: CLIENT_ID }),
      });
      return (await res.json()).id_token;
    }
    default: throw new Error(`unknown mode ${mode.mode}`);
  }
}

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

function send(res, status, value, headers = {}) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
  res.end(text);
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (req.method === "GET" && url.pathname === "/.well-known/openid-configuration") {
      return send(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ["code"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
        authorization_response_iss_parameter_supported: true,
      });
    }
    if (req.method === "GET" && url.pathname === "/jwks") {
      return send(res, 200, { keys: [published.jwk] });
    }
    if (req.method === "GET" && url.pathname === "/authorize") {
      const q = url.searchParams;
      if (q.get("client_id") !== CLIENT_ID || q.get("redirect_uri") !== REDIRECT_URI) {
        return send(res, 400, { error: "invalid_request" });
      }
      const code = crypto.randomBytes(16).toString("hex");
      codes.set(code, { nonce: q.get("nonce"), challenge: q.get("code_challenge") });
      const back = new URL(REDIRECT_URI);
      back.searchParams.set("code", code);
      back.searchParams.set("state", q.get("state") ?? "");
      back.searchParams.set("iss", issuer);
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (req.method === "POST" && url.pathname === "/token") {
      const form = new URLSearchParams(await body(req));
      const grant = codes.get(form.get("code") ?? "");
      codes.delete(form.get("code") ?? "");
      const verifier = form.get("code_verifier") ?? "";
      const s256 = crypto.createHash("sha256").update(verifier).digest("base64url");
      if (!grant || grant.challenge !== s256) return send(res, 400, { error: "invalid_grant" });
      const id_token = await crafted(grant.nonce);
      return send(res, 200, { access_token: crypto.randomBytes(16).toString("hex"), token_type: "Bearer", expires_in: 300, id_token });
    }
    if (req.method === "POST" && url.pathname === "/__standin/mode") {
      mode = JSON.parse(await body(req));
      return send(res, 200, { ok: true });
    }
    if (req.method === "POST" && url.pathname === "/__standin/mint") {
      const { nonce, aud } = JSON.parse(await body(req));
      return send(res, 200, { id_token: sign(claimsFor(nonce, aud), published) });
    }
    send(res, 404, { error: "not_found" });
  } catch (e) {
    process.stderr.write(`stand-in error: ${e?.stack ?? e}\n`);
    send(res, 500, { error: "server_error" });
  }
});

server.listen(0, "127.0.0.1", () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(`LISTENING ${issuer}\n`);
});
