"""A tiny SMTP server for the integration tests (tests/api/mail.rs).

Listens on 127.0.0.1:PORT and writes each message it accepts to OUT_DIR as one JSON file
(written under a temporary name, then renamed, so a reader never sees half a message):
envelope sender and recipients, the headers that matter, and the text and HTML parts. Prints
"READY" on stdout once it accepts connections. With --auth USER:PASSWORD it requires SMTP AUTH
(over plain loopback, as the tests have no certificate) and refuses other credentials.

    python smtp_sink.py --port 2525 --out /tmp/mails [--auth user:secret]
"""

import argparse
import email
import email.policy
import itertools
import json
import os
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, out):
        self.out = out
        self.seq = itertools.count(1)
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        parts = {}
        for part in msg.walk():
            ctype = part.get_content_type()
            if ctype in ("text/plain", "text/html") and ctype not in parts:
                parts[ctype] = part.get_content()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "message_id": str(msg["Message-ID"]),
            "content_type": msg.get_content_type(),
            "text": parts.get("text/plain"),
            "html": parts.get("text/html"),
            "authenticated_as": session.auth_data,
        }
        with self.lock:
            n = next(self.seq)
        tmp = os.path.join(self.out, f".{n:06d}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.out, f"{n:06d}.json"))
        return "250 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--auth", help="USER:PASSWORD to require")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    kwargs = {}
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            return AuthResult(success=ok, auth_data=user if ok else None)

        kwargs = dict(
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=False,
        )
    controller = Controller(
        Sink(a.out),
        hostname="127.0.0.1",
        port=a.port,
        server_kwargs=dict(enable_SMTPUTF8=True, **kwargs),
    )
    controller.start()
    print("READY", flush=True)
    # Runs until the test kills it.
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
