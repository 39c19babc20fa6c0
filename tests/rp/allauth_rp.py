"""Another relying party nobody on the project wrote: a Django site using django-allauth's
OpenID Connect provider, configured with nothing but Ostiary's issuer, a client id and a secret.
allauth reads discovery and picks the token endpoint's authentication method itself (it prefers
client_secret_post whenever discovery lists it), exchanges the code, reads userinfo and the
id_token, and signs the user up and in.

Django runs in-process under django.test.Client (the RP, as http://127.0.0.1:8000; nothing
listens there); requests with a cookie jar plays the browser at Ostiary (login and consent
forms); allauth's own requests to Ostiary are real HTTP.

Environment: ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD EXPECT_SUB EXPECT_EMAIL
Prints "ALLAUTH OK ..." and exits 0 on success; any failure raises with what allauth saw.
"""
import json
import os
import sys
import tempfile
from urllib.parse import parse_qs, urljoin, urlparse

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ISSUER = os.environ["ISSUER"]
REDIRECT_URI = os.environ["REDIRECT_URI"]
USERNAME = os.environ["USERNAME"]
PASSWORD = os.environ["PASSWORD"]
EXPECT_SUB = os.environ["EXPECT_SUB"]
EXPECT_EMAIL = os.environ["EXPECT_EMAIL"]
LOGIN_PATH = "/accounts/oidc/ostiary/login/"

_tmp = tempfile.TemporaryDirectory(prefix="allauth-rp-")
os.environ["DJANGO_DB"] = os.path.join(_tmp.name, "django.sqlite3")
os.environ["DJANGO_SETTINGS_MODULE"] = "allauth_site.settings"
sys.path.insert(0, HERE)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from allauth_site import adapter as recorder  # noqa: E402
from htmlforms import forms  # noqa: E402


def what_allauth_saw():
    lines = ["allauth's HTTP exchanges with the provider:"]
    for x in recorder.EXCHANGES:
        lines.append(f"  {x['method']} {x['url']} auth-header={x['authorization']} body={x['request_body']!r}")
        lines.append(f"    -> {x['status']} {x['response_body']}")
    lines.append(f"allauth's authentication errors: {recorder.ERRORS}")
    return "\n".join(lines)


def fail(message):
    raise AssertionError(f"{message}\n{what_allauth_saw()}")


def start_login(rp):
    """What a user does on the RP: open allauth's provider login page and press Continue (a
    POST with Django's CSRF token; allauth refuses to start a login on GET by default)."""
    page = rp.get(LOGIN_PATH)
    if page.status_code != 200:
        fail(f"GET {LOGIN_PATH} on the RP: {page.status_code} {page.content[:300]!r}")
    posts = [f for f in forms(page.content.decode()) if f["method"] == "post"]
    if not posts or "csrfmiddlewaretoken" not in posts[0]["inputs"]:
        fail(f"no login form with a CSRF token on {LOGIN_PATH}: {page.content[:500]!r}")
    res = rp.post(LOGIN_PATH, posts[0]["inputs"])
    if res.status_code != 302:
        fail(f"POST {LOGIN_PATH} on the RP: {res.status_code} {res.content[:500]!r}")
    url = res["Location"]
    if not url.startswith(ISSUER + "/"):
        fail(f"allauth did not send the browser to Ostiary: {url}")
    asked = parse_qs(urlparse(url).query)
    if asked.get("redirect_uri") != [REDIRECT_URI]:
        fail(f"allauth's redirect_uri {asked.get('redirect_uri')} is not the registered {REDIRECT_URI}")
    return url, asked


def browse_ostiary(url):
    """The browser at Ostiary: authorize -> login form -> consent form -> back to the RP."""
    browser = requests.Session()
    res = browser.get(url, allow_redirects=False, timeout=10)
    for _ in range(8):
        if res.status_code in (301, 302, 303):
            target = urljoin(res.url, res.headers["Location"])
            if target.startswith(REDIRECT_URI):
                return target
            res = browser.get(target, allow_redirects=False, timeout=10)
            continue
        if res.status_code != 200:
            raise AssertionError(f"Ostiary answered {res.status_code} at {res.url}: {res.text[:500]}")
        page_forms = [f for f in forms(res.text) if f["method"] == "post"]
        if not page_forms:
            raise AssertionError(f"no form on {res.url}: {res.text[:500]}")
        form = page_forms[0]
        data = dict(form["inputs"])
        if form["password"]:
            data["username"] = USERNAME
            data["password"] = PASSWORD
        else:
            allow = [b for b in form["buttons"] if b[1] in ("allow", "accept", "authorize")]
            if not allow:
                raise AssertionError(f"no allow button on the consent form: {form}")
            data[allow[0][0]] = allow[0][1]
        res = browser.post(urljoin(res.url, form["action"]), data=data, allow_redirects=False, timeout=10)
    raise AssertionError("the flow did not come back to the RP's redirect URI")


def main():
    call_command("migrate", verbosity=0, interactive=False)
    from django.contrib.auth import get_user_model
    from allauth.socialaccount.models import SocialAccount

    # Host, not SERVER_NAME/SERVER_PORT: the test client resets SERVER_PORT to 80 on each request.
    rp = Client(enforce_csrf_checks=True, HTTP_HOST="127.0.0.1:8000")

    url, asked = start_login(rp)
    callback = browse_ostiary(url)
    back = parse_qs(urlparse(callback).query)
    if "error" in back:
        raise AssertionError(f"Ostiary sent an error back to the RP: {back}")
    if back.get("state") != asked.get("state"):
        raise AssertionError(f"state changed on the way: {asked.get('state')} -> {back.get('state')}")

    # The browser arrives at the RP's callback: allauth exchanges the code, reads userinfo and the
    # id_token, signs the user up and logs them in.
    parts = urlparse(callback)
    res = rp.get(f"{parts.path}?{parts.query}")
    if res.status_code != 302:
        fail(f"the RP's callback answered {res.status_code}, not a redirect after login: "
             f"{res.content[:400]!r}")
    if recorder.ERRORS:
        fail("allauth reported an authentication error")
    if urlparse(res["Location"]).path != "/whoami/":
        fail(f"the RP redirected to {res['Location']} after the callback, not to LOGIN_REDIRECT_URL")

    who = json.loads(rp.get("/whoami/").content)
    if not who["authenticated"]:
        fail(f"the RP does not consider the browser logged in: {who}")
    user_id = rp.session.get("_auth_user_id")
    user = get_user_model().objects.get(pk=user_id)

    accounts = list(SocialAccount.objects.filter(user=user))
    if len(accounts) != 1:
        fail(f"expected one SocialAccount for {user}, found {accounts}")
    account = accounts[0]
    if account.uid != EXPECT_SUB:
        fail(f"SocialAccount uid {account.uid!r} is not Ostiary's sub {EXPECT_SUB!r}")
    extra = account.extra_data
    userinfo = extra.get("userinfo") or {}
    id_token = extra.get("id_token") or {}
    if userinfo.get("email") != EXPECT_EMAIL or userinfo.get("sub") != EXPECT_SUB:
        fail(f"userinfo in extra_data lacks the user's email or sub: {extra}")
    if id_token.get("sub") != EXPECT_SUB or id_token.get("iss") != ISSUER:
        fail(f"id_token in extra_data is not Ostiary's for this user: {extra}")
    if user.email != EXPECT_EMAIL:
        fail(f"the Django user's email is {user.email!r}, not {EXPECT_EMAIL!r}")

    token_calls = [x for x in recorder.EXCHANGES if x["method"] == "POST"]
    if len(token_calls) != 1:
        fail("expected exactly one token request")
    body = parse_qs(token_calls[0]["request_body"] or "")
    method = ("client_secret_basic" if token_calls[0]["authorization"] == "Basic"
              else "client_secret_post" if "client_secret" in body else "none")

    print(what_allauth_saw(), file=sys.stderr)
    print(f"ALLAUTH OK sub={account.uid} django_user={user.get_username()} email={user.email} "
          f"token_auth={method} provider={account.provider}")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report anything as a failed run
        print(f"ALLAUTH FAILED: {e}", file=sys.stderr)
        raise
