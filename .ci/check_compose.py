#!/usr/bin/env python3
"""Checks docker-compose.yml: valid against the Compose Specification, and sane for Ostiary.

Run with the test virtualenv (created by `cargo test` from tests/rp/requirements.txt, which pins
jsonschema and PyYAML):

    target/rp-venv/bin/python .ci/check_compose.py [COMPOSE_FILE]

Prints "compose OK", or every problem found and exits 1.

.ci/compose-spec.json is schema/compose-spec.json of https://github.com/compose-spec/compose-spec
at commit 170098ba07d9f53c383a41bfd4c5166b0a4529a6 (2026-06-23; the file itself last changed
in a08f8d51631b7127ddac3d2c65537db429d0f1d0, 2025-10-28), copied unchanged. It declares JSON Schema draft 7.

Beyond the schema, for every Ostiary service (named ostiary*, or built from this repository):
- a healthcheck that asks /readyz or /healthz;
- if it sets `user`, not root;
- every OSTIARY_* variable it sets is a real setting (an `env = "OSTIARY_..."` flag in src/:
  src/config.rs, plus OSTIARY_CONFIG in src/cli/mod.rs);
- OSTIARY_KEY_ENCRYPTION_KEY is not a literal key (it must come from ${...}, an env file or a
  secret).

And the command that creates the KEK in `.env` is the same in the compose file's comment and in
README.md, and never replaces a key already there (a second run would make every signing key
undecryptable): it appends (`>> .env`) only when `.env` has no OSTIARY_KEY_ENCRYPTION_KEY.
"""

import base64
import binascii
import json
import re
import sys
from pathlib import Path

import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / ".ci" / "compose-spec.json"
ENV_ATTR = re.compile(r'env\s*=\s*"(OSTIARY_[A-Z0-9_]+)"')


def known_settings():
    names = set()
    for path in sorted((ROOT / "src").rglob("*.rs")):
        names.update(ENV_ATTR.findall(path.read_text(encoding="utf-8")))
    return names


def where(error):
    return "$" + "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
    )


def schema_errors(doc):
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    validator = Draft7Validator(schema)
    out = []
    for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        # oneOf/anyOf failures: say which alternative came closest.
        detail = best_match(e.context) if e.context else None
        msg = f"{where(e)}: {e.message}"
        if detail is not None:
            msg += f" (closest: {where(detail)}: {detail.message})"
        out.append(msg)
    return out


def environment(service):
    """The variables a service sets, as {name: value or None}."""
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return {str(k): v for k, v in env.items()}
    out = {}
    for item in env:
        name, sep, value = str(item).partition("=")
        out[name] = value if sep else None
    return out


def env_file_names(service, base):
    """Variables named in the service's env files that exist here (missing ones are skipped:
    they are the operator's, like .env)."""
    files = service.get("env_file") or []
    if isinstance(files, str):
        files = [files]
    out = {}
    for f in files:
        path = base / (f["path"] if isinstance(f, dict) else f)
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, value = line.removeprefix("export ").partition("=")
                out[name.strip()] = value
    return out


def looks_like_key(value):
    """A literal 32-byte key, as Ostiary would accept it (base64 or 64 hex digits)."""
    v = str(value).strip()
    if "${" in v or not v:
        return False
    if re.fullmatch(r"[0-9a-fA-F]{64}", v):
        return True
    padded = v + "=" * (-len(v) % 4)
    for altchars in (None, b"-_"):
        try:
            raw = base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 32:
            return True
    return False


def is_root(user):
    u = str(user).strip().split(":", 1)[0]
    return u in ("", "root", "0")


def healthcheck_problem(service):
    hc = service.get("healthcheck")
    if not hc:
        return "has no healthcheck (ask /readyz or /healthz)"
    if hc.get("disable"):
        return "disables its healthcheck"
    test = hc.get("test")
    text = " ".join(map(str, test)) if isinstance(test, list) else str(test or "")
    if "/readyz" not in text and "/healthz" not in text:
        return f"healthcheck does not ask /readyz or /healthz: {text!r}"
    return None


def ostiary_problems(doc, compose_path):
    services = doc.get("services") or {}
    ours = {
        name: svc
        for name, svc in services.items()
        if isinstance(svc, dict) and (name.startswith("ostiary") or "build" in svc)
    }
    if "ostiary" not in ours:
        return ["no service named `ostiary`"]
    settings = known_settings()
    if not settings:
        return ["found no env = \"OSTIARY_...\" settings in src/ (run from the repository?)"]
    out = []
    for name, svc in ours.items():
        where_ = f"services.{name}"
        problem = healthcheck_problem(svc)
        if problem:
            out.append(f"{where_} {problem}")
        if "user" in svc and is_root(svc["user"]):
            out.append(f"{where_} runs as root (user: {svc['user']!r})")
        env = env_file_names(svc, compose_path.parent)
        env.update(environment(svc))
        for var in sorted(env):
            if var.startswith("OSTIARY_") and var not in settings:
                out.append(f"{where_}: {var} is not an Ostiary setting")
        kek = env.get("OSTIARY_KEY_ENCRYPTION_KEY")
        if kek is not None and looks_like_key(kek):
            out.append(
                f"{where_}: OSTIARY_KEY_ENCRYPTION_KEY is a literal key; take it from "
                "${OSTIARY_KEY_ENCRYPTION_KEY}, an env file or a secret"
            )
    return out


KEK_COMMAND = re.compile(r"^[#\s]*(\S.*OSTIARY_KEY_ENCRYPTION_KEY=\$\(openssl.*)$", re.M)


def kek_command_problems(compose_path, readme_path):
    """The KEK-creating command of the compose comment and the README: one, guarded, appending."""
    found = {}
    for path in (compose_path, readme_path):
        try:
            commands = set(KEK_COMMAND.findall(path.read_text(encoding="utf-8")))
        except OSError as e:
            return [f"{path}: {e}"]
        if len(commands) != 1:
            return [f"{path}: expected one command creating the KEK, found {sorted(commands)}"]
        found[path] = commands.pop().strip()
    out = []
    for path, command in found.items():
        guarded = re.match(r"grep -qs \^?OSTIARY_KEY_ENCRYPTION_KEY=? \.env \|\| ", command)
        if not guarded or not command.endswith(">> .env") or re.search(r"[^>]> \.env", command):
            out.append(f"{path}: the KEK command must add a key only when .env has none: {command}")
    if len(set(found.values())) > 1:
        out.append(f"the KEK commands differ: {found}")
    return out


def main(argv):
    compose_path = Path(argv[1]) if len(argv) > 1 else ROOT / "docker-compose.yml"
    try:
        doc = yaml.safe_load(compose_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        print(f"{compose_path}: {e}", file=sys.stderr)
        return 1
    if not isinstance(doc, dict):
        print(f"{compose_path}: not a mapping at the top", file=sys.stderr)
        return 1
    problems = schema_errors(doc)
    problems += ostiary_problems(doc, compose_path)
    problems += kek_command_problems(compose_path, ROOT / "README.md")
    if problems:
        print(f"{compose_path}: {len(problems)} problem(s)", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print("compose OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
