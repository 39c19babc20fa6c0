#!/usr/bin/env python3
"""Wrong-password flood vs. legitimate logins and /token latency (issue "Hardening").

Target: during a 100-connection wrong-password flood from one address, at least 9 of 10
logins from another address succeed within 2 s, and /token p99 stays under 20 ms.

Three kinds of traffic, each from its own loopback source address (all of 127.0.0.0/8 is
local on Linux, so the server sees three distinct client addresses):

  flood   127.0.0.1  N keep-alive connections (default 100), each looping
                     GET /login (CSRF cookie + token) -> POST /login username=<victim> + a
                     wrong password. Runs in a separate process (its own GIL), so the
                     measuring threads below are not delayed by 100 busy Python threads.
  logins  127.0.0.2  10 legitimate logins, one per second after a 2 s warm-up, each on a
                     fresh connection: GET /login, POST the right password; success = 303
                     with a session cookie. Wall time = GET + POST. By default each login is
                     a different user (alice, alice2, ...): one account signing in 10 times in
                     10 s meets the per-account limit with or without a flood. --login-users 1
                     makes them all alice's.
  token   127.0.0.3  one keep-alive connection, POST /token grant_type=client_credentials
                     (client_secret_basic) at a fixed rate; latency = send to body read.

Python 3.11 standard library only. Only ever talks to 127.0.0.0/8. Exit status: 0 when the
targets are met, 1 when missed, 2 on a setup/usage error, 130 on Ctrl-C. The last line of
output is a JSON object with every figure.

  python3 bench/login_flood.py                        # builds/starts target/release/ostiary
  python3 bench/login_flood.py --binary target/debug/ostiary
  python3 bench/login_flood.py --url http://127.0.0.1:8080 --client-id ID \\
      --client-secret SECRET --user alice --password '...'
"""

from __future__ import annotations

import argparse
import base64
import html
import http.client
import ipaddress
import json
import math
import multiprocessing as mp
import os
import queue
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLOOD_REQUEST_CAP = 400_000  # HTTP requests (GET + POST) the flood may send, whatever --duration
MAX_DURATION = 600.0
LOGIN_DEADLINE = 2.0  # s: a legitimate login must finish within this
TOKEN_P99_TARGET_MS = 20.0
LOGIN_SUCCESS_FRACTION = 0.9

CSRF_INPUT = re.compile(r"<input\b[^>]*\bname=\"csrf_token\"[^>]*>", re.I)
VALUE_ATTR = re.compile(r"\bvalue=\"([^\"]*)\"", re.I)
ERROR_P = re.compile(r"<p class=\"error\"[^>]*>(.*?)</p>", re.I | re.S)
WRONG_PASSWORD_TEXT = b"Incorrect username or password."
THROTTLED_TEXT = b"Too many sign-in attempts"


class SetupError(Exception):
    pass


class Stop(Exception):
    """Raised in the main thread by SIGTERM, like KeyboardInterrupt for SIGINT."""


# ----------------------------------------------------------------------------- HTTP helpers


def loopback_target(url: str) -> tuple[str, int]:
    """(host, port) of an http URL whose host is in 127.0.0.0/8; anything else is refused."""
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http":
        raise SetupError(f"--url must be http://127.x.y.z:PORT (got {url!r})")
    host = u.hostname or ""
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise SetupError(f"--url host must be a 127.0.0.0/8 address (got {host!r})") from None
    if ip not in ipaddress.ip_network("127.0.0.0/8"):
        raise SetupError(f"--url host must be in 127.0.0.0/8 (got {host}); this bench only "
                         "sends traffic to loopback")
    return host, u.port or 80


def check_source(addr: str, what: str) -> str:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        raise SetupError(f"{what}: not an IP address: {addr!r}") from None
    if ip not in ipaddress.ip_network("127.0.0.0/8"):
        raise SetupError(f"{what} must be in 127.0.0.0/8 (got {addr})")
    return addr


def connect(host: str, port: int, source: str, timeout: float) -> http.client.HTTPConnection:
    c = http.client.HTTPConnection(host, port, timeout=timeout, source_address=(source, 0))
    c.connect()
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


class Jar:
    """Cookies by name (no paths or domains: one loopback origin)."""

    def __init__(self) -> None:
        self.c: dict[str, str] = {}

    def take(self, resp: http.client.HTTPResponse) -> list[str]:
        names = []
        for raw in resp.headers.get_all("Set-Cookie") or []:
            first = raw.split(";", 1)[0]
            if "=" not in first:
                continue
            name, value = first.split("=", 1)
            name = name.strip()
            attrs = raw.lower()
            if value == "" or "max-age=0" in attrs:
                self.c.pop(name, None)
            else:
                self.c[name] = value
                names.append(name)
        return names

    def header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.c.items())} if self.c else {}


def csrf_from(body: bytes) -> str | None:
    m = CSRF_INPUT.search(body.decode("utf-8", "replace"))
    if not m:
        return None
    v = VALUE_ATTR.search(m.group(0))
    return html.unescape(v.group(1)) if v else None


def error_text(body: bytes) -> str:
    m = ERROR_P.search(body.decode("utf-8", "replace"))
    return html.unescape(m.group(1)).strip() if m else ""


def request(conn, method, path, body=None, headers=None):
    """One request on `conn`; returns (status, response, body bytes)."""
    h = dict(headers or {})
    if body is not None:
        h.setdefault("Content-Type", "application/x-www-form-urlencoded")
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, resp, data


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of values; None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(1, math.ceil(p / 100.0 * len(s)))
    return s[k - 1]


# ----------------------------------------------------------------------------- the flood
# Runs in a child process (spawn): the parent's measuring threads then do not compete with
# 100 flood threads for one GIL.


def _flood_thread(i, cfg, stop, start_gate, out, lock):
    host, port = cfg["host"], cfg["port"]
    cap = cfg["per_thread_cap"]
    st: dict = {"post": {}, "get": {}, "errors": {}, "sent": 0, "connects": 0,
                "post_ms": [], "no_retry_after": 0, "unexpected_200": 0, "no_csrf": 0}
    wrong = urllib.parse.quote(cfg["wrong_password"] + str(i))
    victim = urllib.parse.quote(cfg["victim"])
    jar = Jar()
    conn = None
    start_gate.wait()

    def bump(d, k):
        d[k] = d.get(k, 0) + 1

    while not stop.is_set() and st["sent"] < cap:
        try:
            if conn is None:
                conn = connect(host, port, cfg["source"], cfg["timeout"])
                st["connects"] += 1
            st["sent"] += 1
            status, resp, body = request(conn, "GET", "/login", headers=jar.header())
            jar.take(resp)
            bump(st["get"], status)
            token = csrf_from(body) if status == 200 else None
            if token is None:
                st["no_csrf"] += 1
                if resp.will_close:
                    conn.close(); conn = None
                continue
            form = (f"username={victim}&password={wrong}&csrf_token="
                    f"{urllib.parse.quote(token)}&return_to=%2F")
            st["sent"] += 1
            t = time.perf_counter()
            status, resp, body = request(conn, "POST", "/login", body=form, headers=jar.header())
            st["post_ms"].append((time.perf_counter() - t) * 1000.0)
            jar.take(resp)
            bump(st["post"], status)
            if status == 429 and not resp.headers.get("Retry-After"):
                st["no_retry_after"] += 1
            if status == 200 and WRONG_PASSWORD_TEXT not in body:
                st["unexpected_200"] += 1
            if resp.will_close:
                conn.close(); conn = None
        except Exception as e:  # connection reset, timeout, refused...
            bump(st["errors"], type(e).__name__)
            if conn is not None:
                conn.close()
            conn = None
            if stop.wait(0.05):  # do not spin on a dead server
                break
    if conn is not None:
        conn.close()
    with lock:
        out.append(st)


def flood_process(cfg, stop, started, results):
    """Child process entry: cfg['connections'] threads; puts one result dict on `results`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    out: list = []
    lock = threading.Lock()
    gate = threading.Event()
    threads = [threading.Thread(target=_flood_thread, args=(i, cfg, stop, gate, out, lock),
                                daemon=True) for i in range(cfg["connections"])]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    gate.set()
    started.set()
    # Bounded no matter what the parent does, and over as soon as the parent is gone.
    parent = mp.parent_process()
    deadline = t0 + cfg["duration"] + 5
    while not stop.wait(0.25):
        if time.monotonic() > deadline or (parent is not None and not parent.is_alive()):
            break
    stop.set()
    for t in threads:
        t.join(timeout=cfg["timeout"] + 2)
    elapsed = time.monotonic() - t0
    agg: dict = {"post": {}, "get": {}, "errors": {}, "sent": 0, "connects": 0,
                 "no_retry_after": 0, "unexpected_200": 0, "no_csrf": 0, "post_ms": []}
    for st in out:
        for k in ("post", "get", "errors"):
            for code, n in st[k].items():
                agg[k][str(code)] = agg[k].get(str(code), 0) + n
        for k in ("sent", "connects", "no_retry_after", "unexpected_200", "no_csrf"):
            agg[k] += st[k]
        agg["post_ms"].extend(st["post_ms"])
    ms = agg.pop("post_ms")
    agg["post_latency_ms"] = {"p50": pct(ms, 50), "p99": pct(ms, 99),
                              "max": max(ms) if ms else None}
    agg["threads_reported"] = len(out)
    agg["threads_stuck"] = sum(t.is_alive() for t in threads)
    agg["elapsed_s"] = elapsed
    agg["cpu_s"] = sum(os.times()[:2])
    results.put(agg)


# ----------------------------------------------------------------------------- legit traffic


def one_login(host, port, source, user, password, timeout):
    """GET /login then POST the right password on a fresh connection from `source`."""
    r = {"ok": False, "status": None, "get_ms": None, "post_ms": None, "total_s": None,
         "detail": ""}
    t0 = time.perf_counter()
    conn = None
    try:
        conn = connect(host, port, source, timeout)
        jar = Jar()
        status, resp, body = request(conn, "GET", "/login")
        jar.take(resp)
        t1 = time.perf_counter()
        r["get_ms"] = (t1 - t0) * 1000.0
        token = csrf_from(body)
        if status != 200 or token is None:
            r["status"] = status
            r["detail"] = f"GET /login {status}, csrf_token {'found' if token else 'missing'}"
            return r
        form = urllib.parse.urlencode({"username": user, "password": password,
                                       "csrf_token": token, "return_to": "/"})
        status, resp, body = request(conn, "POST", "/login", body=form, headers=jar.header())
        t2 = time.perf_counter()
        r["post_ms"] = (t2 - t1) * 1000.0
        r["status"] = status
        names = jar.take(resp)
        got_session = any(n.endswith("ostiary_session") for n in names)
        r["ok"] = status == 303 and got_session
        if not r["ok"]:
            msg = error_text(body)
            ra = resp.headers.get("Retry-After")
            r["detail"] = (f"{status}" + (f" Retry-After {ra}" if ra else "")
                           + (f": {msg}" if msg else "")
                           + ("" if status != 303 else " (no session cookie)"))
    except Exception as e:
        r["detail"] = f"{type(e).__name__}: {e}"
    finally:
        r["total_s"] = time.perf_counter() - t0
        if conn is not None:
            conn.close()
    return r


class TokenProbe(threading.Thread):
    """POST /token client_credentials at a fixed rate on one keep-alive connection."""

    def __init__(self, host, port, source, client_id, client_secret, rate, timeout, stop):
        super().__init__(daemon=True, name="token-probe")
        self.host, self.port, self.source = host, port, source
        cred = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(client_secret, safe='')}"
        self.auth = "Basic " + base64.b64encode(cred.encode()).decode()
        self.interval = 1.0 / rate
        self.timeout = timeout
        self.stop = stop
        # (monotonic send time, latency ms or None for failure, status/err, CO-corrected ms)
        self.samples: list[tuple[float, float | None, str, float | None]] = []
        self.reconnects = 0
        self.crashed: str | None = None

    def run(self):
        try:
            self._run()
        except Exception as e:  # never leave silently
            self.crashed = f"{type(e).__name__}: {e}"

    def _run(self):
        conn = None
        headers = {"Authorization": self.auth, "Accept": "application/json"}
        body = "grant_type=client_credentials"
        nxt = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            if nxt > now:
                if self.stop.wait(nxt - now):
                    break
            intended = nxt
            nxt += self.interval
            sent = time.monotonic()
            t = time.perf_counter()
            for attempt in (0, 1):
                try:
                    if conn is None:
                        conn = connect(self.host, self.port, self.source, self.timeout)
                        self.reconnects += 1
                        t = time.perf_counter()  # a (re)connect is not the server's latency
                    status, resp, data = request(conn, "POST", "/token", body=body, headers=headers)
                    ms = (time.perf_counter() - t) * 1000.0
                    co = (time.monotonic() - intended) * 1000.0
                    ok = status == 200 and b"access_token" in data
                    self.samples.append((sent, ms if ok else None, str(status), co if ok else None))
                    if resp.will_close:
                        conn.close(); conn = None
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError,
                        ConnectionResetError) as e:
                    # A keep-alive connection the server closed while idle: retry once, fresh.
                    if conn is not None:
                        conn.close()
                    conn = None
                    if attempt == 1:
                        self.samples.append((sent, None, type(e).__name__, None))
                except Exception as e:
                    if conn is not None:
                        conn.close()
                    conn = None
                    self.samples.append((sent, None, type(e).__name__, None))
                    break
        if conn is not None:
            conn.close()


def token_stats(samples, t_from, t_to):
    win = [s for s in samples if t_from <= s[0] < t_to]
    # A failed request counts as infinitely slow: errors cannot improve the percentile.
    lat = [s[1] if s[1] is not None else math.inf for s in win]
    co = [s[3] if s[3] is not None else math.inf for s in win]
    bad: dict[str, int] = {}
    for s in win:
        if s[1] is None:
            bad[s[2]] = bad.get(s[2], 0) + 1
    finite = [x for x in lat if x != math.inf]
    fin = lambda v: None if v is None or v == math.inf else round(v, 2)  # noqa: E731
    return {
        "requests": len(win),
        "non_200": sum(bad.values()),
        "non_200_by_status": bad,
        "p50_ms": fin(pct(lat, 50)),
        "p95_ms": fin(pct(lat, 95)),
        "p99_ms": fin(pct(lat, 99)) if win else None,
        "p99_is_failure": bool(win) and pct(lat, 99) == math.inf,
        "max_ms": round(max(finite), 2) if finite else None,
        "p99_co_ms": fin(pct(co, 99)),
    }


# ----------------------------------------------------------------------------- server set-up


def proc_cpu_s(pid: int | None) -> float | None:
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def proc_status(pid: int | None, key: str) -> str | None:
    if not pid:
        return None
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies over all cores from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """preexec_fn: the server gets SIGTERM if this script dies (even by SIGKILL)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Server:
    def __init__(self, binary: Path, extra_env: dict[str, str], keep: bool):
        self.binary = binary
        self.tmp = Path(tempfile.mkdtemp(prefix="ostiary-flood-"))
        self.keep = keep
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}
        env.update({
            "OSTIARY_DATABASE_URL": f"sqlite://{self.tmp}/o.db",
            "OSTIARY_KEYS_DIR": str(self.tmp / "keys"),
            "OSTIARY_BIND": f"127.0.0.1:{self.port}",
            "OSTIARY_ISSUER": self.url,
            "OSTIARY_LOG": "warn",
        })
        env.update(extra_env)
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.log_path = self.tmp / "server.log"

    def cli(self, args: list[str], stdin: str | None = None) -> str:
        r = subprocess.run([str(self.binary), *args], env=self.env, input=stdin,
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise SetupError(f"`ostiary {' '.join(args)}` failed ({r.returncode}): "
                             f"{(r.stderr or r.stdout).strip()[-800:]}")
        return r.stdout

    def start(self, timeout: float = 60.0) -> None:
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(self.binary), "serve"], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + timeout
        delay = 0.02
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SetupError(f"server exited with {self.proc.returncode} during start-up:\n"
                                 + self.log_tail())
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    c.close()
                    return
                c.close()
            except OSError:
                pass
            time.sleep(delay)  # polling back-off, not a fixed wait
            delay = min(delay * 1.5, 0.25)
        raise SetupError(f"/healthz not 200 within {timeout:.0f} s:\n" + self.log_tail())

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"

    def log_summary(self) -> dict:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return {"lines": 0, "errors": 0, "samples": []}
        # Strip ANSI colours, timestamps and request ids so repeated messages group together.
        ansi = re.compile(r"\x1b\[[0-9;]*m")
        groups: dict[str, int] = {}
        for ln in lines:
            s = ansi.sub("", ln)
            s = re.sub(r"^\S+\s+", "", s)  # timestamp
            s = re.sub(r"(request_id|address|account)=\S+", r"\1=…", s)
            groups[s] = groups.get(s, 0) + 1
        errors = sum(1 for ln in lines if "ERROR" in ansi.sub("", ln))
        top = sorted(groups.items(), key=lambda kv: -kv[1])[:6]
        return {"lines": len(lines), "errors": errors,
                "samples": [f"{n}× {s[:220]}" for s, n in top]}

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode

    def cleanup(self) -> None:
        if self.keep:
            print(f"kept server data in {self.tmp}", file=sys.stderr)
            return
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)


def ensure_binary(binary: Path, build: bool) -> None:
    default = binary == default_binary()
    if not binary.exists():
        if not (build and default):
            raise SetupError(f"{binary} not found (build it, or pass --binary)")
        print(f"{binary} is missing: building it with `cargo build --release` "
              "(several minutes on 2 cores)…", flush=True)
        r = subprocess.run(["cargo", "build", "--release"], cwd=REPO)
        if r.returncode != 0 or not binary.exists():
            raise SetupError("cargo build --release failed")
        print("build finished", flush=True)
    # Warn (do not rebuild) when sources are newer than the binary: the figures would be
    # those of older code.
    bt = binary.stat().st_mtime
    newer = [p for d in ("src", "templates", "migrations", "static") if (REPO / d).is_dir()
             for p in (REPO / d).rglob("*") if p.is_file() and p.stat().st_mtime > bt]
    newer += [p for p in (REPO / "Cargo.toml", REPO / "Cargo.lock")
              if p.exists() and p.stat().st_mtime > bt]
    if newer:
        print(f"WARNING: {len(newer)} source file(s) are newer than {binary} (e.g. "
              f"{newer[0].relative_to(REPO)}); the figures are those of the older build.",
              flush=True)


def default_binary() -> Path:
    td = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if not td.is_absolute():
        td = REPO / td
    return td / "release" / "ostiary"


def last_json_object(text: str) -> dict:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return json.loads(text)


# ----------------------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--url", help="use this running server (http://127.x.y.z:PORT) instead of "
                    "starting one; needs --client-id/--client-secret/--user/--password")
    ap.add_argument("--client-id")
    ap.add_argument("--client-secret")
    ap.add_argument("--user", action="append", default=[],
                    help="a legitimate user; repeat for several (logins cycle through them). "
                    "Default with a started server: alice, alice2, … (see --login-users)")
    ap.add_argument("--password", help="the legitimate users' password")
    ap.add_argument("--login-users", type=int,
                    help="with a started server: create this many legitimate users (alice, "
                    "alice2, …) and spread the logins over them. Default: one per login; "
                    "--login-users 1 makes them all one account's")
    ap.add_argument("--victim", default="bob", help="username the flood attacks (default bob)")
    ap.add_argument("--duration", type=float, default=15.0, help="flood seconds (default 15)")
    ap.add_argument("--flood-connections", type=int, default=100)
    ap.add_argument("--flood-cap", type=int, default=FLOOD_REQUEST_CAP,
                    help=f"most HTTP requests the flood sends (default {FLOOD_REQUEST_CAP})")
    ap.add_argument("--logins", type=int, default=10, help="legitimate logins (default 10)")
    ap.add_argument("--login-warmup", type=float, default=2.0,
                    help="seconds of flood before the first login (default 2)")
    ap.add_argument("--token-rate", type=float, default=100.0,
                    help="/token requests per second (default 100)")
    ap.add_argument("--baseline", type=float, default=3.0,
                    help="seconds of /token alone before the flood, reported apart (default 3)")
    ap.add_argument("--timeout", type=float, default=10.0, help="per-request socket timeout")
    ap.add_argument("--flood-source", default="127.0.0.1")
    ap.add_argument("--login-source", default="127.0.0.2")
    ap.add_argument("--token-source", default="127.0.0.3")
    ap.add_argument("--binary", type=Path, help="server binary (default target/release/ostiary, "
                    "built with cargo build --release when missing)")
    ap.add_argument("--no-build", action="store_true", help="never run cargo")
    ap.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the started server, e.g. OSTIARY_WORKERS=2")
    ap.add_argument("--server-pid", type=int, help="with --url: the server's pid, for CPU/RSS")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (db, server log)")
    a = ap.parse_args(argv)
    if a.url and not all([a.client_id, a.client_secret, a.user, a.password]):
        ap.error("--url needs --client-id, --client-secret, --user and --password")
    if not (0 < a.duration <= MAX_DURATION):
        ap.error(f"--duration must be in (0, {MAX_DURATION:.0f}]")
    if not (1 <= a.flood_connections <= 1000):
        ap.error("--flood-connections must be 1..1000")
    if a.logins < 1 or a.token_rate <= 0 or a.token_rate > 2000:
        ap.error("--logins >= 1 and 0 < --token-rate <= 2000")
    if a.url and a.login_users is not None:
        ap.error("--login-users creates users, so it needs a started server; with --url "
                 "repeat --user")
    if a.login_users is None:
        a.login_users = 1 if a.url else min(a.logins, 100)
    if not (1 <= a.login_users <= 100):
        ap.error("--login-users must be 1..100")
    for kv in a.server_env:
        if "=" not in kv:
            ap.error(f"--server-env {kv!r}: expected KEY=VALUE")
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    stop = threading.Event()
    server: Server | None = None
    flood: mp.Process | None = None
    flood_stop = results = None
    probe: TokenProbe | None = None
    login_threads: list[threading.Thread] = []

    def on_term(signum, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C must stop everything even when started from a shell that ignores SIGINT for
    # background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for src, what in ((a.flood_source, "--flood-source"), (a.login_source, "--login-source"),
                          (a.token_source, "--token-source")):
            check_source(src, what)
        if len({a.flood_source, a.login_source, a.token_source}) < 3:
            raise SetupError("flood, login and token sources must be three distinct addresses")

        # --- server
        if a.url:
            host, port = loopback_target(a.url)
            base_url = a.url.rstrip("/")
            users, password = a.user, a.password
            client_id, client_secret = a.client_id, a.client_secret
            server_pid = a.server_pid
            binary_desc = "(external server)"
        else:
            binary = (a.binary or default_binary()).resolve()
            ensure_binary(binary, build=not a.no_build and a.binary is None)
            extra = dict(kv.split("=", 1) for kv in a.server_env)
            server = Server(binary, extra, a.keep)
            users = a.user or ["alice"] + [f"alice{i}" for i in range(2, a.login_users + 1)]
            password = a.password or secrets.token_urlsafe(18)
            for u in users:
                server.cli(["user", "add", u, "--email", f"{u}@example.test",
                            "--password-stdin"], stdin=password + "\n")
            server.cli(["user", "add", a.victim, "--email", f"{a.victim}@example.test",
                        "--password-stdin"], stdin=secrets.token_urlsafe(18) + "\n")
            # A redirect URI (never contacted) is registered because a client_credentials-only
            # client without one was refused at /token (invalid_request) by the build this
            # was written against.
            client = last_json_object(server.cli(["client", "add", "--name", "bench",
                                                  "--grant-type", "client_credentials",
                                                  "--redirect-uri", "http://127.0.0.1:9/cb",
                                                  "--json"]))
            client_id, client_secret = client["client_id"], client["client_secret"]
            t = time.monotonic()
            server.start()
            print(f"server: {binary} pid {server.proc.pid} on {server.url} "
                  f"(up in {time.monotonic() - t:.2f} s), data in {server.tmp}", flush=True)
            host, port, base_url = "127.0.0.1", server.port, server.url
            server_pid = server.proc.pid
            binary_desc = str(binary)

        # Sanity before anything: the login page answers with a CSRF token. (No pre-flight
        # login: it would spend the users' and the login address's password-check budget.)
        try:
            c = connect(host, port, a.login_source, a.timeout)
            status, _, body = request(c, "GET", "/login")
            c.close()
        except OSError as e:
            raise SetupError(f"GET /login from {a.login_source}: {e}") from None
        if status != 200 or csrf_from(body) is None:
            raise SetupError(f"GET /login answered {status} without a csrf_token input")

        # --- /token baseline, alone
        probe = TokenProbe(host, port, a.token_source, client_id, client_secret, a.token_rate,
                           a.timeout, stop)
        t_base = time.monotonic()
        probe.start()
        if stop.wait(a.baseline):
            pass
        if probe.crashed:
            raise SetupError(f"token probe: {probe.crashed}")
        base_ok = [s for s in probe.samples if s[1] is not None]
        if probe.samples and not base_ok:
            raise SetupError(f"/token never answered 200 before the flood: "
                             f"{probe.samples[-1][2]}")

        # --- flood (child process)
        ctx = mp.get_context("spawn")
        flood_stop, started, results = ctx.Event(), ctx.Event(), ctx.Queue()
        cfg = {"host": host, "port": port, "source": a.flood_source,
               "connections": a.flood_connections, "timeout": a.timeout,
               "duration": a.duration, "victim": a.victim,
               "wrong_password": "wrong-" + secrets.token_hex(4) + "-",
               "per_thread_cap": max(2, a.flood_cap // a.flood_connections)}
        flood = ctx.Process(target=flood_process, args=(cfg, flood_stop, started, results),
                            daemon=True, name="flood")
        cpu0 = {"server": proc_cpu_s(server_pid), "self": sum(os.times()[:2]),
                "machine": machine_cpu()}
        flood.start()
        if not started.wait(30):
            raise SetupError("flood process did not start")
        t0 = time.monotonic()
        print(f"flood: {a.flood_connections} connections from {a.flood_source} for "
              f"{a.duration:g} s (victim {a.victim!r}); logins from {a.login_source}; "
              f"/token at {a.token_rate:g}/s from {a.token_source}", flush=True)

        # --- legitimate logins, spread over the flood
        spacing = 1.0 if a.logins == 1 else min(
            1.0, (a.duration - a.login_warmup - LOGIN_DEADLINE - 0.5) / (a.logins - 1))
        if spacing < 0.05:
            raise SetupError("--duration too short for --logins after --login-warmup")
        logins: list[dict | None] = [None] * a.logins

        def login_at(i, when):
            delay = when - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
            u = users[i % len(users)]
            r = one_login(host, port, a.login_source, u, password, a.timeout)
            r["at_s"] = round(when - t0, 2)
            r["user"] = u
            logins[i] = r

        for i in range(a.logins):
            th = threading.Thread(target=login_at, args=(i, t0 + a.login_warmup + i * spacing),
                                  daemon=True, name=f"login-{i}")
            th.start()
            login_threads.append(th)

        # --- wait for the flood window to end (or the flood process to die)
        end = t0 + a.duration
        while time.monotonic() < end and flood.is_alive():
            stop.wait(min(0.2, max(0.0, end - time.monotonic())))
        t1 = time.monotonic()
        cpu1 = {"server": proc_cpu_s(server_pid), "self": sum(os.times()[:2]),
                "machine": machine_cpu()}
        flood_stop.set()
        for th in login_threads:
            th.join(timeout=a.timeout * 2 + 2)
        stop.set()
        probe.join(timeout=a.timeout + 2)
        try:
            fr = results.get(timeout=a.timeout + 10)
        except queue.Empty:
            fr = None
        flood.join(timeout=5)
        if flood.is_alive():
            flood.terminate()
            flood.join(timeout=5)

        # --- figures
        window = t1 - t0
        base = token_stats(probe.samples, t_base, t0)
        tok = token_stats(probe.samples, t0, t1)
        done = [r for r in logins if r is not None]
        in_time = sum(1 for r in done if r["ok"] and r["total_s"] <= LOGIN_DEADLINE)
        need = math.ceil(LOGIN_SUCCESS_FRACTION * a.logins)
        peak_rss = proc_status(server_pid, "VmHWM")
        server_cpu = (None if cpu0["server"] is None or cpu1["server"] is None
                      else (cpu1["server"] - cpu0["server"]) / window * 100)
        busy = (cpu1["machine"][0] - cpu0["machine"][0]) / max(1, cpu1["machine"][1]
                                                               - cpu0["machine"][1])
        ncpu = os.cpu_count() or 1
        flood_cpu = None if not fr else fr["cpu_s"] / max(fr["elapsed_s"], 1e-9) * 100
        self_cpu = (cpu1["self"] - cpu0["self"]) / window * 100
        log = server.log_summary() if server else None
        other_cpu = (None if server_cpu is None or flood_cpu is None
                     else max(0.0, busy * ncpu * 100 - server_cpu - flood_cpu - self_cpu))

        login_ok = in_time >= need
        token_ok = tok["requests"] > 0 and tok["p99_ms"] is not None \
            and tok["p99_ms"] < TOKEN_P99_TARGET_MS
        flood_ok = fr is not None
        passed = login_ok and token_ok and flood_ok

        # --- report
        print()
        print(f"== login flood: {binary_desc}, {window:.1f} s window ==")
        if fr:
            posts = sum(fr["post"].values())
            print(f"flood ({a.flood_connections} conns, {a.flood_source}): {fr['sent']} requests "
                  f"({fr['sent'] / fr['elapsed_s']:.0f}/s), {posts} POST /login "
                  f"({posts / fr['elapsed_s']:.0f}/s), {fr['connects']} connects")
            order = ["200", "429", "503"]
            codes = order + sorted(k for k in fr["post"] if k not in order)
            print("  POST /login by status: " + ", ".join(
                f"{c}: {fr['post'].get(c, 0)}" for c in codes)
                + f"   (200 = wrong password, 429 = throttled, 503 = hash queue full)")
            print(f"  GET /login by status: " + ", ".join(f"{k}: {v}" for k, v in
                                                          sorted(fr["get"].items())))
            if fr["errors"]:
                print(f"  client-side errors: {fr['errors']}")
            odd = {k: fr[k] for k in ("no_retry_after", "unexpected_200", "no_csrf") if fr[k]}
            if odd:
                print(f"  oddities: {odd}")
            pl = fr["post_latency_ms"]
            if pl["p50"] is not None:
                print(f"  POST /login latency: p50 {pl['p50']:.1f} ms, p99 {pl['p99']:.1f} ms, "
                      f"max {pl['max']:.1f} ms")
            if fr["threads_stuck"]:
                print(f"  {fr['threads_stuck']} flood threads still blocked at the end")
        else:
            print("flood: NO RESULT from the flood process")
        who = users[0] if len(users) == 1 else f"{len(users)} users"
        print(f"logins ({a.login_source}, {who}): {in_time}/{a.logins} succeeded "
              f"within {LOGIN_DEADLINE:g} s (need {need})  {'OK' if login_ok else 'MISSED'}")
        print("   #   at s   GET ms   POST ms  total s  result")
        for i, r in enumerate(logins):
            if r is None:
                print(f"  {i + 1:2d}      -        -         -        -  not run")
                continue
            res = "303 + session" if r["ok"] else (r["detail"] or str(r["status"]))
            late = "" if not r["ok"] or r["total_s"] <= LOGIN_DEADLINE else "  (too slow)"
            fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
            print(f"  {i + 1:2d}  {r['at_s']:5.1f}  {fmt(r['get_ms']):>7}  {fmt(r['post_ms']):>8}"
                  f"  {r['total_s']:7.3f}  {res}{late}")

        def tline(name, s):
            f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
            return (f"{name}: {s['requests']} requests, non-200: {s['non_200']}"
                    + (f" {s['non_200_by_status']}" if s["non_200"] else "")
                    + f"; p50 {f(s['p50_ms'])} ms, p95 {f(s['p95_ms'])} ms, "
                    f"p99 {f(s['p99_ms'])}{' (a failure)' if s['p99_is_failure'] else ''} ms, "
                    f"max {f(s['max_ms'])} ms")
        print(tline(f"/token during flood ({a.token_source}, {a.token_rate:g}/s)", tok)
              + f"  {'OK' if token_ok else 'MISSED'} (target p99 < {TOKEN_P99_TARGET_MS:g} ms)")
        print(tline(f"/token baseline, no flood ({a.baseline:g} s)", base))
        sched = int(window * a.token_rate)
        print(f"  /token probe (one connection, open-loop schedule): sent {tok['requests']} of "
              f"{sched} scheduled in the window; p99 counted from the scheduled send time "
              f"(coordinated omission corrected): "
              + ("-" if tok["p99_co_ms"] is None else f"{tok['p99_co_ms']:.1f} ms"))
        print("cpu during the window (% of one core): server "
              + ("-" if server_cpu is None else f"{server_cpu:.0f}")
              + f", flood process {'-' if flood_cpu is None else f'{flood_cpu:.0f}'}"
              + f", this process {self_cpu:.0f}"
              + f", machine {busy * ncpu * 100:.0f} of {ncpu * 100}"
              + ("" if other_cpu is None else f" (other processes {other_cpu:.0f})")
              + (f"; server peak RSS {peak_rss}" if peak_rss else ""))
        if log is not None:
            print(f"server log: {log['lines']} lines, {log['errors']} ERROR")
            for s in log["samples"]:
                print(f"  {s}")
        if other_cpu is not None and other_cpu > 25:
            print(f"WARNING: other processes used {other_cpu:.0f} % of a core during the "
                  "window; the figures are disturbed (run on a quiet machine)")
        print(f"RESULT: {'PASS' if passed else 'FAIL'}"
              + ("" if login_ok else f" - only {in_time}/{a.logins} logins within 2 s")
              + ("" if token_ok else f" - /token p99 {tok['p99_ms']} ms")
              + ("" if flood_ok else " - flood process gave no result"))
        summary = {
            "bench": "login_flood", "pass": passed, "binary": binary_desc,
            "window_s": round(window, 2), "flood_connections": a.flood_connections,
            "flood": fr,
            "logins": {"total": a.logins, "ok_within_2s": in_time, "need": need,
                       "users": len(users), "runs": logins},
            "token": tok, "token_baseline": base,
            "cpu_pct": {"server": server_cpu and round(server_cpu),
                        "flood": flood_cpu and round(flood_cpu), "self": round(self_cpu),
                        "machine": round(busy * ncpu * 100), "cores": ncpu,
                        "other": other_cpu and round(other_cpu)},
            "server_peak_rss": peak_rss, "server_log": log,
        }
        print(json.dumps(summary, separators=(",", ":")), flush=True)
        return 0 if passed else 1
    except SetupError as e:
        print(f"login_flood: {e}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Stop):
        print("\nlogin_flood: interrupted; stopping", file=sys.stderr)
        return 130
    finally:
        stop.set()
        if flood_stop is not None:
            flood_stop.set()
        for th in login_threads:
            th.join(timeout=1)
        if probe is not None:
            probe.join(timeout=a.timeout + 1)
        if flood is not None and flood.pid is not None:
            if flood.is_alive() and results is not None:
                # The child exits only once its result is taken off the queue.
                try:
                    results.get(timeout=a.timeout + 5)
                except (queue.Empty, OSError, ValueError, EOFError):
                    pass
            flood.join(timeout=3)
            if flood.is_alive():
                flood.terminate()
                flood.join(timeout=5)
                if flood.is_alive():
                    flood.kill()
        if server is not None:
            rc = server.stop()
            if rc not in (None, 0, -signal.SIGTERM):
                print(f"server exited with {rc}; log tail:\n{server.log_tail()}", file=sys.stderr)
            server.cleanup()


if __name__ == "__main__":
    sys.exit(main())
