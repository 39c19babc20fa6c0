#!/usr/bin/env python3
"""Sums a `perf record` profile's self time by area (crypto, kernel, allocation, logging, HTTP,
JSON, runtime, SQLite, metrics, Ostiary and oxide-auth), as a Markdown table: the summaries in
docs/performance.md. Usage: bench/perf_groups.py perf.data
"""
import re, subprocess, sys, collections
data = sys.argv[1]
out = subprocess.run(["perf","report","-i",data,"--no-children","--sort","dso,symbol","-g","none","--stdio"],capture_output=True,text=True).stdout
groups = collections.OrderedDict((k,0.0) for k in ["ES256/P-256 and other crypto","kernel: network, scheduling, syscalls","malloc/free/memcpy","logging and tracing","HTTP (actix)","JSON (serde_json)","async runtime (tokio)","SQLite","metrics (prometheus)","oxide-auth and Ostiary code","other"])
rules = [
 ("ES256/P-256 and other crypto", r"aws_lc|ecp_nistz|bignum|Lbignum|sha256|sha512|ecdsa|EVP_|ec_|bn_|aes_|CRYPTO_|beeu|p256"),
 ("kernel: network, scheduling, syscalls", r"\[k\]"),
 ("malloc/free/memcpy", r"malloc|free|realloc|memmove|memcpy|memset|memcmp|unlink_chunk|__rdl_|__rust_alloc|__rust_dealloc|consolidate"),
 ("logging and tracing", r"tracing|nu_ansi|sharded_slab|fmt::write|core::fmt|format_inner|Formatter|tracing_appender|crossbeam"),
 ("HTTP (actix)", r"actix|httparse|h1::|http::header|bytes::|HeaderMap"),
 ("JSON (serde_json)", r"serde_json|serde"),
 ("async runtime (tokio)", r"tokio|mio|parking_lot|futures|std::sync|pthread|__lll|syscall|epoll"),
 ("SQLite", r"sqlite|yy_|Vdbe|resolveExpr|tokenExpr|whereLoop|Btree|pager"),
 ("metrics (prometheus)", r"prometheus"),
 ("oxide-auth and Ostiary code", r"ostiary|oxide_auth|base64|url::|form_urlencoded|percent_encoding|idna|jsonwebtoken|diesel"),
]
total=0
for line in out.splitlines():
    m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+(\[.\])\s+(.*)", line)
    if not m: continue
    pct=float(m.group(1)); sym=m.group(3)+" "+m.group(4)+" "+m.group(2)
    total+=pct
    for name,rx in rules:
        if re.search(rx, sym):
            groups[name]+=pct; break
    else:
        groups["other"]+=pct
for k,v in sorted(groups.items(), key=lambda kv:-kv[1]):
    print(f"| {k} | {v:.1f} % |")
print(f"(total {total:.1f} %)")
