#!/usr/bin/env bash
# S3 (token, client_credentials), S4 (introspection) and S5 (full code flows) against Ostiary on
# SQLite (one process), PostgreSQL with one replica, and PostgreSQL with two replicas (the load
# split evenly between them, as a load balancer would), with the shared bench's wrk script and
# S5 driver. Everything on loopback; every run bounded by DURATION / S5_COUNT.
#
#   bench/replicas.sh            # all three set-ups, a Markdown table at the end
#   DURATION=10s CONC=32 S5_COUNT=100 S5_CONC=8 bench/replicas.sh
#
# PostgreSQL: PG_ADMIN (default postgres://postgres@127.0.0.1:5432/test) creates and drops the
# database ostiary_bench.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH="${BENCH:-../shared/bench}"
DURATION="${DURATION:-10s}"
CONC="${CONC:-32}"
S5_COUNT="${S5_COUNT:-100}"
S5_CONC="${S5_CONC:-8}"
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
PG_URL="${PG_ADMIN%/*}/ostiary_bench"
WORK="$(mktemp -d)"
trap 'stop_all; rm -rf "$WORK"' EXIT
BIN=target/release/ostiary
PIDS=()

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
S5BIN="$BENCH/s5-driver/target/release/s5-driver"
[ -x "$S5BIN" ] || (cd "$BENCH/s5-driver" && cargo build --release --quiet)

export OSTIARY_KEY_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)"
export OSTIARY_KEYS_DIR="$WORK/keys"
export OSTIARY_LOG=warn
USER_PW='correct horse battery staple'

stop_all() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  PIDS=()
}

prepare() { # $1 = database URL
  export OSTIARY_DATABASE_URL="$1"
  printf '%s\n' "$USER_PW" | "$BIN" user add alice --email alice@example.test --password-stdin >/dev/null
  "$BIN" client add --name bench --redirect-uri http://127.0.0.1:9/cb --grant-type client_credentials \
    --grant-type authorization_code --grant-type refresh_token --json >"$WORK/client.json"
  CID=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["client_id"])' "$WORK/client.json")
  CSECRET=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["client_secret"])' "$WORK/client.json")
}

start() { # $1 = port, $2 = issuer
  OSTIARY_BIND="127.0.0.1:$1" OSTIARY_ISSUER="$2" OSTIARY_DB_POOL_SIZE="${POOL:-16}" \
    "$BIN" serve >"$WORK/server-$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "server on $1 did not start" >&2; cat "$WORK/server-$1.log" >&2; exit 1
}

wrk_rate() { # $1 = url, $2 = connections; prints requests/s
  wrk -t1 -c"$2" -d"$DURATION" --timeout 30s -s "$BENCH/scripts/wrk.lua" "$1" |
    sed -n 's/^WRKJSON //p' | python3 -c 'import json,sys;d=json.loads(sys.stdin.read());print(d["requests"]/(d["duration_us"]/1e6), d["p99_us"]/1000, d["err_status"]+d["err_connect"]+d["err_timeout"])'
}

scenario() { # $1 = name, then the ports; prints "rate p99 errors" summed over the ports
  local name=$1; shift
  local n=$#; local per=$((CONC / n)); local outs=()
  for port in "$@"; do
    ( wrk_rate "http://127.0.0.1:$port$WRK_PATH" "$per" >"$WORK/$name-$port" ) & outs+=($!)
  done
  wait "${outs[@]}"
  cat "$WORK/$name"-* | python3 -c '
import sys
rows=[list(map(float,l.split())) for l in sys.stdin if l.strip()]
print("%.0f %.1f %d" % (sum(r[0] for r in rows), max(r[1] for r in rows), sum(r[2] for r in rows)))'
  rm -f "$WORK/$name"-*
}

s5() { # the ports; flows/s summed
  local n=$#; local per=$(( S5_CONC / n > 0 ? S5_CONC / n : 1 )); local outs=()
  for port in "$@"; do
    ( ISSUER="http://127.0.0.1:$port" CLIENT_ID="$CID" CLIENT_SECRET="$CSECRET" USERNAME=alice \
      PASSWORD="$USER_PW" REDIRECT_URI=http://127.0.0.1:9/cb AUTH_SCOPE="openid" \
      DISCOVERY_URL="http://127.0.0.1:$port/.well-known/openid-configuration" \
      S5_COUNT=$((S5_COUNT / n)) S5_CONC=$per S5_WARMUP=4 S5_TIMEOUT=120 "$S5BIN" 2>/dev/null |
      sed -n 's/^S5JSON //p' >"$WORK/s5-$port" ) & outs+=($!)
  done
  wait "${outs[@]}"
  cat "$WORK"/s5-* | python3 -c '
import json,sys
rows=[json.loads(l) for l in sys.stdin if l.strip()]
# Flows that ran side by side: completed flows over the longest wall time.
wall=max(r["duration_us"] for r in rows)/1e6
print("%.1f" % (sum(r["requests"] for r in rows)/wall))'
  rm -f "$WORK"/s5-*
}

answered() { # $1 = memory|database, then the ports: cached-path requests so answered, summed
  local kind=$1; shift
  for port in "$@"; do curl -fsS "http://127.0.0.1:$port/metrics"; done |
    awk -v k="answered=\"$kind\"" '/^ostiary_cached_requests_total\{/ && index($0, k) {s += $NF} END {printf "%d", s}'
}

run_setup() { # $1 = label, then ports
  local label=$1; shift
  local mem0 db0; mem0=$(answered memory "$@"); db0=$(answered database "$@")
  local auth; auth="Basic $(printf '%s:%s' "$CID" "$CSECRET" | base64 -w0)"
  export WRK_METHOD=POST WRK_AUTH="$auth" WRK_BODY="grant_type=client_credentials"
  WRK_PATH=/token; local s3; s3=$(scenario s3 "$@")
  local tok; tok=$(curl -fsS -u "$CID:$CSECRET" -d grant_type=client_credentials "http://127.0.0.1:$1/token" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
  export WRK_BODY="token=$tok"
  WRK_PATH=/introspect; local s4; s4=$(scenario s4 "$@")
  local mem db; mem=$(( $(answered memory "$@") - mem0 )); db=$(( $(answered database "$@") - db0 ))
  local s5r; s5r=$(s5 "$@")
  echo "| $label | $(echo "$s3" | awk '{print $1" /s (p99 "$2" ms, "$3" errors)"}') | $(echo "$s4" | awk '{print $1" /s (p99 "$2" ms, "$3" errors)"}') | $mem / $db | $s5r flows/s |" >>"$WORK/table"
}

echo "| set-up | S3 token | S4 introspection | S3+S4 answered from memory / database | S5 full flows |" >"$WORK/table"
echo "|---|---:|---:|---:|---:|" >>"$WORK/table"

# SQLite, one process.
prepare "sqlite://$WORK/bench.db"
start 9201 http://127.0.0.1:9201
run_setup "SQLite, 1 process" 9201
stop_all

# PostgreSQL, one replica, then two.
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS ostiary_bench" -c "CREATE DATABASE ostiary_bench" >/dev/null
prepare "$PG_URL"
start 9201 http://127.0.0.1:9201
run_setup "PostgreSQL, 1 replica" 9201
POOL=8 start 9202 http://127.0.0.1:9201
run_setup "PostgreSQL, 2 replicas" 9201 9202
stop_all
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS ostiary_bench" >/dev/null

cat "$WORK/table"
