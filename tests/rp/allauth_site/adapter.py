"""allauth's social-account adapter with a recorder: every HTTP exchange allauth makes with the
provider, and the error it shows the user when a login fails (allauth otherwise renders a
generic error page and keeps the cause to itself)."""
import re

from allauth.socialaccount.adapter import DefaultSocialAccountAdapter

EXCHANGES = []
ERRORS = []


def _record(response, *args, **kwargs):
    req = response.request
    body = req.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body:
        body = re.sub(r"(client_secret=)[^&]*", r"\1<redacted>", body)
    EXCHANGES.append(
        {
            "method": req.method,
            "url": req.url,
            "authorization": (req.headers.get("Authorization") or "").split(" ")[0] or None,
            "request_body": body,
            "status": response.status_code,
            "response_body": response.text[:600],
        }
    )


class RecordingAdapter(DefaultSocialAccountAdapter):
    def get_requests_session(self):
        session = super().get_requests_session()
        session.hooks["response"].append(_record)
        return session

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None):
        ERRORS.append({"error": error, "exception": repr(exception)})
        return super().on_authentication_error(
            request, provider, error=error, exception=exception, extra_context=extra_context
        )
