"""A STAND-IN for GitHub's OAuth 2.0 sign-in, for the federation tests (issue 24).

This is not GitHub: github.com cannot be reached from the test machines, so this small server
(Python standard library only) answers in the shapes GitHub documents for OAuth apps, on
127.0.0.1 and a port of its own. GitHub's real URLs and the stand-in's paths:

    https://github.com/login/oauth/authorize      -> GET  /login/oauth/authorize
    https://github.com/login/oauth/access_token   -> POST /login/oauth/access_token
    https://api.github.com/user                   -> GET  /api/user
    https://api.github.com/user/emails            -> GET  /api/user/emails
    https://api.github.com/user/orgs              -> GET  /api/user/orgs
    https://api.github.com/user/teams             -> GET  /api/user/teams

(so a provider configured with "authorize/token on https://github.com, API on
https://api.github.com" points at BASE and BASE/api here.)

What it does like GitHub (docs.github.com: "Authorizing OAuth apps", REST "Users", "Emails",
"Orgs", "Teams"):
- authorize takes client_id, redirect_uri, scope (space- or comma-separated), state, login,
  code_challenge + code_challenge_method=S256; shows a form (field `login`; a `password` too,
  checked only for users that have one; button `authorize` or `cancel`), then redirects to
  redirect_uri with code and state (cancel: error=access_denied). An unknown client_id or a
  redirect_uri other than the registered one gets a 400 page, never a redirect.
- access_token takes client_id, client_secret, code, redirect_uri, code_verifier as form
  parameters (client credentials by HTTP Basic work too). The answer is JSON with
  `Accept: application/json`, else application/x-www-form-urlencoded
  (access_token=gho_...&scope=read%3Aorg%2Cuser%3Aemail&token_type=bearer). Errors are
  answered with status 200 and `error`, `error_description`, `error_uri`:
  incorrect_client_credentials, redirect_uri_mismatch, bad_verification_code (unknown, used,
  expired after 10 minutes, or a code_verifier that does not match the challenge: a code
  works once). Scopes granted are those asked for that GitHub knows; the answer lists them
  comma-separated.
- /api/user* take `Authorization: Bearer TOKEN` (or `token TOKEN`); a bad token gets 401
  {"message":"Bad credentials",...}. /api/user/emails needs scope user or user:email,
  /api/user/orgs user, read:org or admin:org, /api/user/teams user, repo, read:org or
  admin:org (else 403 with X-Accepted-OAuth-Scopes). Every API answer carries X-OAuth-Scopes.
  Organization and team ids are stable numbers derived from their names.

Contract (environment; positional argv CLIENT_ID CLIENT_SECRET REDIRECT_URI override the
first three):
    GITHUB_STANDIN_CLIENT_ID, GITHUB_STANDIN_CLIENT_SECRET, GITHUB_STANDIN_REDIRECT_URI
    OSTIARY_GITHUB_USERS  JSON array of users:
      [{"id": 1, "login": "octocat", "name": "The Octocat", "email": "public@x" or null,
        "avatar_url": "...", "password": "optional",
        "emails": [{"email": "o@x", "primary": true, "verified": true}],
        "orgs": ["acme"], "teams": [{"org": "acme", "slug": "devs", "name": "Devs"}]}]
Stdout: one line `LISTENING <base URL>` once it accepts connections. Test-only endpoints:
    GET/POST /__standin/users   read / replace the users (JSON array; later API answers use it)
    POST     /__standin/delay   {"ms": N}: every later request (but these) waits N ms first
"""

import base64
import hashlib
import html
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KNOWN_SCOPES = {
    "repo", "public_repo", "user", "user:email", "read:user", "user:follow",
    "read:org", "write:org", "admin:org", "gist", "notifications", "workflow",
}
ERROR_URI = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/"
CODE_TTL = 600


def arg_or_env(index, name):
    value = sys.argv[1 + index] if len(sys.argv) > 1 + index else os.environ.get(name)
    if not value:
        sys.exit(f"github_standin: {name} is required")
    return value


CLIENT_ID = arg_or_env(0, "GITHUB_STANDIN_CLIENT_ID")
CLIENT_SECRET = arg_or_env(1, "GITHUB_STANDIN_CLIENT_SECRET")
REDIRECT_URI = arg_or_env(2, "GITHUB_STANDIN_REDIRECT_URI")


def parse_users(text):
    users = json.loads(text)
    if not isinstance(users, list) or not all(
        isinstance(u, dict) and isinstance(u.get("id"), int) and isinstance(u.get("login"), str)
        for u in users
    ):
        raise ValueError("users must be a JSON array of objects with an integer id and a login")
    return users


LOCK = threading.Lock()
STATE = {
    "users": parse_users(os.environ.get("OSTIARY_GITHUB_USERS", "[]")),
    "delay_ms": 0,
    "codes": {},  # code -> {user_id, scopes, redirect_uri, challenge, expires, used}
    "tokens": {},  # token -> {user_id, scopes}
}


def find_user(pred):
    with LOCK:
        return next((u for u in STATE["users"] if pred(u)), None)


def user_json(u, base):
    return {
        "login": u["login"],
        "id": u["id"],
        "node_id": base64.b64encode(f"04:User{u['id']}".encode()).decode(),
        "avatar_url": u.get("avatar_url", f"{base}/avatars/{u['id']}"),
        "html_url": f"{base}/{u['login']}",
        "type": "User",
        "site_admin": False,
        "name": u.get("name"),
        "company": u.get("company"),
        "email": u.get("email"),
        "created_at": "2011-01-25T18:44:36Z",
    }


def stable_id(text):
    return 1000 + zlib.crc32(text.encode()) % 1_000_000


def org_json(name, base):
    oid = stable_id(name)
    return {
        "login": name,
        "id": oid,
        "node_id": base64.b64encode(f"04:Organization{oid}".encode()).decode(),
        "url": f"{base}/api/orgs/{name}",
        "description": None,
    }


def team_json(team, base):
    tid = stable_id(team["org"] + "/" + team["slug"])
    return {
        "id": tid,
        "node_id": base64.b64encode(f"04:Team{tid}".encode()).decode(),
        "name": team.get("name", team["slug"]),
        "slug": team["slug"],
        "description": None,
        "privacy": "closed",
        "permission": "pull",
        "url": f"{base}/api/teams/{tid}",
        "organization": org_json(team["org"], base),
    }


def s256(verifier):
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def login_page(params, error=None):
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
    )
    err = f'<p class="error">{html.escape(error)}</p>' if error else ""
    login = html.escape(params.get("login", ""))
    return f"""<!doctype html>
<html><head><title>GitHub stand-in: sign in</title></head><body>
<h1>GitHub stand-in (not GitHub)</h1>
{err}
<form method="post" action="/login/oauth/authorize">{hidden}
<label>Username <input name="login" value="{login}"></label>
<label>Password <input name="password" type="password"></label>
<button type="submit" name="authorize" value="1">Authorize</button>
<button type="submit" name="cancel" value="1">Cancel</button>
</form></body></html>"""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("github_standin: " + (fmt % args) + "\n")

    @property
    def base(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def send(self, status, ctype, body, headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status, value, headers=()):
        self.send(status, "application/json; charset=utf-8", json.dumps(value), headers)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 64 * 1024:
            raise ValueError("body too large")
        return self.rfile.read(n).decode()

    def route(self, method):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = dict(urllib.parse.parse_qsl(url.query))
        try:
            if path.startswith("/__standin/"):
                return self.standin(method, path)
            delay = STATE["delay_ms"]
            if delay:
                time.sleep(delay / 1000)
            if path == "/login/oauth/authorize" and method == "GET":
                return self.authorize_get(query)
            if path == "/login/oauth/authorize" and method == "POST":
                return self.authorize_post(dict(urllib.parse.parse_qsl(self.body())))
            if path == "/login/oauth/access_token" and method == "POST":
                return self.access_token(dict(urllib.parse.parse_qsl(self.body())))
            if path.startswith("/api/") and method == "GET":
                return self.api(path[len("/api"):])
            self.send_json(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
        except (ValueError, KeyError, TypeError) as e:
            self.send(400, "text/plain; charset=utf-8", f"stand-in: bad request: {e}")

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    # --- test-only -------------------------------------------------------------------------

    def standin(self, method, path):
        if path == "/__standin/users" and method == "GET":
            with LOCK:
                return self.send_json(200, STATE["users"])
        if path == "/__standin/users" and method == "POST":
            users = parse_users(self.body())
            with LOCK:
                STATE["users"] = users
            return self.send(204, "text/plain", "")
        if path == "/__standin/delay" and method == "POST":
            ms = float(json.loads(self.body())["ms"])
            if ms < 0:
                raise ValueError("ms must be >= 0")
            STATE["delay_ms"] = ms
            return self.send(204, "text/plain", "")
        self.send(404, "text/plain", "not found")

    # --- github.com/login/oauth --------------------------------------------------------------

    def check_client(self, params):
        """The authorize request's client and redirect URI; an error page when they are wrong."""
        if params.get("client_id") != CLIENT_ID:
            self.send(400, "text/html; charset=utf-8", "<h1>Not found: no such OAuth app</h1>")
            return False
        if params.get("redirect_uri", REDIRECT_URI) != REDIRECT_URI:
            self.send(400, "text/html; charset=utf-8",
                      "<h1>The redirect_uri is not associated with this application.</h1>")
            return False
        method = params.get("code_challenge_method", "S256" if params.get("code_challenge") else "")
        if method not in ("", "S256"):
            self.send(400, "text/html; charset=utf-8", "<h1>code_challenge_method must be S256</h1>")
            return False
        return True

    def authorize_get(self, query):
        if not self.check_client(query):
            return
        keep = {k: v for k, v in query.items()
                if k in ("client_id", "redirect_uri", "scope", "state", "login",
                         "code_challenge", "code_challenge_method")}
        self.send(200, "text/html; charset=utf-8", login_page(keep))

    def redirect(self, params):
        sep = "&" if "?" in REDIRECT_URI else "?"
        location = REDIRECT_URI + sep + urllib.parse.urlencode(params)
        self.send(302, "text/html; charset=utf-8", "", [("Location", location)])

    def authorize_post(self, form):
        if not self.check_client(form):
            return
        state = {"state": form["state"]} if "state" in form else {}
        if "cancel" in form:
            return self.redirect({
                "error": "access_denied",
                "error_description": "The user has denied your application access.",
                "error_uri": ERROR_URI + "#access-denied", **state})
        user = find_user(lambda u: u["login"].lower() == form.get("login", "").lower())
        if user is None or ("password" in user and user["password"] != form.get("password")):
            keep = {k: v for k, v in form.items() if k not in ("password", "authorize")}
            return self.send(401, "text/html; charset=utf-8",
                             login_page(keep, "Incorrect username or password."))
        asked = form.get("scope", "").replace(",", " ").split()
        code = secrets.token_hex(10)
        with LOCK:
            STATE["codes"][code] = {
                "user_id": user["id"],
                "scopes": [s for s in dict.fromkeys(asked) if s in KNOWN_SCOPES],
                "redirect_uri": form.get("redirect_uri"),
                "challenge": form.get("code_challenge"),
                "expires": time.time() + CODE_TTL,
                "used": False,
            }
        self.redirect({"code": code, **state})

    def access_token(self, form):
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            form.setdefault("client_id", urllib.parse.unquote(cid))
            form.setdefault("client_secret", urllib.parse.unquote(secret))
        as_json = "application/json" in self.headers.get("Accept", "")

        def answer(values):
            if as_json:
                return self.send_json(200, values)
            return self.send(200, "application/x-www-form-urlencoded; charset=utf-8",
                             urllib.parse.urlencode(values))

        def error(code, description, anchor):
            return answer({"error": code, "error_description": description,
                           "error_uri": ERROR_URI + anchor})

        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return error("incorrect_client_credentials",
                         "The client_id and/or client_secret passed are incorrect.",
                         "#incorrect-client-credentials")
        with LOCK:
            grant = STATE["codes"].get(form.get("code", ""))
            fresh = grant is not None and not grant["used"] and grant["expires"] > time.time()
            if grant is not None:
                grant["used"] = True  # one try per code, as GitHub: a second use always fails
        if not fresh:
            return error("bad_verification_code", "The code passed is incorrect or expired.",
                         "#bad-verification-code")
        if grant["redirect_uri"] is not None and form.get("redirect_uri", grant["redirect_uri"]) != grant["redirect_uri"]:
            return error("redirect_uri_mismatch",
                         "The redirect_uri MUST match the registered callback URL for this application.",
                         "#redirect-uri-mismatch")
        if grant["challenge"] and s256(form.get("code_verifier", "")) != grant["challenge"]:
            return error("bad_verification_code", "The code passed is incorrect or expired.",
                         "#bad-verification-code")
        token = "gho_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]
        with LOCK:
            STATE["tokens"][token] = {"user_id": grant["user_id"], "scopes": grant["scopes"]}
        answer({"access_token": token, "scope": ",".join(grant["scopes"]), "token_type": "bearer"})

    # --- api.github.com ----------------------------------------------------------------------

    def api(self, path):
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        with LOCK:
            grant = STATE["tokens"].get(token) if scheme.lower() in ("bearer", "token") else None
        user = grant and find_user(lambda u: u["id"] == grant["user_id"])
        if not user:
            return self.send_json(401, {"message": "Bad credentials",
                                        "documentation_url": "https://docs.github.com/rest",
                                        "status": "401"})
        scopes = set(grant["scopes"])
        headers = [("X-OAuth-Scopes", ", ".join(grant["scopes"])),
                   ("X-GitHub-Media-Type", "github.v3; format=json")]

        def needs(*any_of):
            if scopes.isdisjoint(any_of):
                self.send_json(403, {"message": "Resource not accessible by integration",
                                     "documentation_url": "https://docs.github.com/rest",
                                     "status": "403"},
                               headers + [("X-Accepted-OAuth-Scopes", ", ".join(any_of))])
                return False
            return True

        if path == "/user":
            return self.send_json(200, user_json(user, self.base), headers)
        if path == "/user/emails":
            if needs("user", "user:email"):
                emails = [{"email": e["email"], "primary": bool(e.get("primary")),
                           "verified": bool(e.get("verified")),
                           "visibility": "public" if e.get("primary") else None}
                          for e in user.get("emails", [])]
                self.send_json(200, emails, headers)
            return None
        if path == "/user/orgs":
            if needs("user", "read:org", "admin:org"):
                self.send_json(200, [org_json(o, self.base) for o in user.get("orgs", [])], headers)
            return None
        if path == "/user/teams":
            if needs("user", "read:org", "admin:org", "repo"):
                self.send_json(200, [team_json(t, self.base) for t in user.get("teams", [])], headers)
            return None
        return self.send_json(404, {"message": "Not Found",
                                    "documentation_url": "https://docs.github.com/rest"}, headers)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"LISTENING http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
