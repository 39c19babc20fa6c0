"""A relying party nobody on the project wrote: Authlib drives discovery, code + PKCE + nonce,
the token exchange, id_token validation (signature from JWKS, iss, aud, nonce, at_hash, exp)
and userinfo against a running Ostiary. The browser part (login and consent forms) is played
by requests with a cookie jar, reading the HTML forms generically.

Environment: ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD [EXPECT_ALG]
[TOTP_SECRET: answer the second-factor page with RFC 6238 codes computed here]
[ACR_VALUES: sent in the authorization request; EXPECT_ACR / EXPECT_AMR: what the id_token
must then say, checked by Authlib's claim validation]
Prints "RP OK ..." and exits 0 on success; any failure raises.
"""
import base64
import hashlib
import hmac
import os
import struct
import sys
import time
from urllib.parse import urljoin, urlparse, parse_qs

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

from htmlforms import forms

ISSUER = os.environ["ISSUER"]
CLIENT_ID = os.environ["CLIENT_ID"]
CLIENT_SECRET = os.environ["CLIENT_SECRET"]
REDIRECT_URI = os.environ["REDIRECT_URI"]
USERNAME = os.environ["USERNAME"]
PASSWORD = os.environ["PASSWORD"]
EXPECT_ALG = os.environ.get("EXPECT_ALG", "RS256")
TOTP_SECRET = os.environ.get("TOTP_SECRET")
ACR_VALUES = os.environ.get("ACR_VALUES")
EXPECT_ACR = os.environ.get("EXPECT_ACR")
EXPECT_AMR = os.environ.get("EXPECT_AMR")


def totp_next_step(secret):
    """RFC 6238 (SHA-1, 6 digits, 30 s) for the next time step: the current one may have been
    spent by the enrolment, and servers accept one step of drift."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = int(time.time()) // 30 + 1
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def main():
    meta = requests.get(ISSUER + "/.well-known/openid-configuration", timeout=10).json()
    assert meta["issuer"] == ISSUER, meta["issuer"]
    assert "S256" in meta["code_challenge_methods_supported"]

    client = OAuth2Session(
        CLIENT_ID, CLIENT_SECRET, scope="openid profile email", redirect_uri=REDIRECT_URI,
        code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic",
    )
    verifier = generate_token(64)
    nonce = generate_token(20)
    extra = {"acr_values": ACR_VALUES} if ACR_VALUES else {}
    url, state = client.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **extra)

    browser = requests.Session()
    res = browser.get(url, allow_redirects=False, timeout=10)
    location = None
    for _ in range(12):
        if res.status_code in (301, 302, 303):
            target = urljoin(res.url, res.headers["Location"])
            if target.startswith(REDIRECT_URI):
                location = target
                break
            res = browser.get(target, allow_redirects=False, timeout=10)
            continue
        assert res.status_code == 200, (res.status_code, res.text[:300])
        page_forms = [f for f in forms(res.text) if f["method"] == "post"]
        assert page_forms, res.text[:300]
        form = page_forms[0]
        data = dict(form["inputs"])
        if form["password"]:
            data["username"] = USERNAME
            data["password"] = PASSWORD
        elif "code" in data:
            assert TOTP_SECRET, "a second factor was asked for: " + res.text[:300]
            data["code"] = totp_next_step(TOTP_SECRET)
        else:
            allow = [b for b in form["buttons"] if b[1] in ("allow", "accept", "authorize")]
            assert allow, form
            data[allow[0][0]] = allow[0][1]
        res = browser.post(urljoin(res.url, form["action"]), data=data, allow_redirects=False, timeout=10)
    assert location, "the flow did not come back to the client"

    # RFC 9207: the authorization response names the issuer.
    query = parse_qs(urlparse(location).query)
    assert query.get("iss") == [ISSUER], query

    token = client.fetch_token(meta["token_endpoint"], authorization_response=location,
                               code_verifier=verifier)
    assert token["token_type"] == "Bearer", token["token_type"]

    jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    options = {"iss": {"essential": True, "value": ISSUER}}
    if EXPECT_ACR:
        # Authlib requires the claim (essential) and checks amr's type; the values are ours.
        options["acr"] = {"essential": True}
        options["amr"] = {"essential": True}
    claims = jwt.decode(
        token["id_token"], jwks, claims_cls=CodeIDToken,
        claims_options=options,
        claims_params={"nonce": nonce, "client_id": CLIENT_ID, "access_token": token["access_token"]},
    )
    claims.validate()  # exp, iat, aud, azp, nonce, at_hash, auth_time
    assert claims.header["alg"] == EXPECT_ALG, claims.header
    if EXPECT_ACR:
        assert claims["acr"] == EXPECT_ACR, claims.get("acr")
    if EXPECT_AMR:
        assert claims["amr"] == EXPECT_AMR.split(), claims.get("amr")

    info = client.get(meta["userinfo_endpoint"], timeout=10).json()
    assert info["sub"] == claims["sub"], (info, claims)
    assert info["email"] == claims["email"]

    refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"]

    print(f"RP OK sub={claims['sub']} alg={claims.header['alg']} email={info['email']} "
          f"acr={claims.get('acr')} amr={' '.join(claims.get('amr', []))}")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report anything as a failed run
        print(f"RP FAILED: {e!r}", file=sys.stderr)
        raise
