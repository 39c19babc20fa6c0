#!/usr/bin/env bash
# The token endpoint while logins keep the password-hashing pool saturated (issue 14): S3
# (client_credentials, wrk, CONC connections, DURATION) alone, then again while the shared
# bench's S5 driver runs full login flows (argon2id) FLOW_CONC at a time. Release build, fresh
# SQLite, loopback only, every run bounded by DURATION or FLOWS.
#
#   bench/token_under_logins.sh
#   DURATION=10s CONC=32 FLOW_CONC=16 FLOWS=1500 bench/token_under_logins.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH="${BENCH:-../shared/bench}"
DURATION="${DURATION:-10s}"
CONC="${CONC:-32}"
FLOW_CONC="${FLOW_CONC:-16}"
FLOWS="${FLOWS:-1500}"
WORK="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
BIN=target/release/ostiary
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
S5BIN="$BENCH/s5-driver/target/release/s5-driver"
[ -x "$S5BIN" ] || (cd "$BENCH/s5-driver" && cargo build --release --quiet)

PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
export OSTIARY_DATABASE_URL="sqlite://$WORK/bench.db" OSTIARY_KEYS_DIR="$WORK/keys"
export OSTIARY_BIND="127.0.0.1:$PORT" OSTIARY_ISSUER="http://127.0.0.1:$PORT"
# One account signing in from one address as fast as it can: the admission buckets would refuse
# most of it before any hashing; here the point is a hashing pool that never rests.
export OSTIARY_PASSWORD_CHECKS_PER_ADDRESS=0 OSTIARY_PASSWORD_CHECKS_PER_ACCOUNT=0 OSTIARY_LOG=warn
PW='correct horse battery staple'
printf '%s\n' "$PW" | "$BIN" user add alice --email alice@example.test --password-stdin >/dev/null
"$BIN" client add --name bench --redirect-uri http://127.0.0.1:9/cb --grant-type client_credentials \
  --grant-type authorization_code --grant-type refresh_token --json >"$WORK/client.json"
CID=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["client_id"])' "$WORK/client.json")
CSECRET=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["client_secret"])' "$WORK/client.json")
"$BIN" serve >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -fsS "$OSTIARY_ISSUER/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

export WRK_METHOD=POST WRK_BODY=grant_type=client_credentials
WRK_AUTH="Basic $(printf '%s:%s' "$CID" "$CSECRET" | base64 -w0)"
export WRK_AUTH
s3() { # prints "rate p50 p99 errors"
  wrk -t1 -c"$CONC" -d"$DURATION" --timeout 30s -s "$BENCH/scripts/wrk.lua" "$OSTIARY_ISSUER/token" |
    sed -n 's/^WRKJSON //p' | python3 -c 'import json,sys
d=json.loads(sys.stdin.read())
print("%.0f %.1f %.1f %d" % (d["requests"]/(d["duration_us"]/1e6), d["p50_us"]/1000, d["p99_us"]/1000,
      d["err_status"]+d["err_connect"]+d["err_timeout"]))'
}
hashing() { curl -fsS "$OSTIARY_ISSUER/metrics" | awk '/^ostiary_password_hash_in_flight /{print $2}'; }

wrk -t1 -c"$CONC" -d2s -s "$BENCH/scripts/wrk.lua" "$OSTIARY_ISSUER/token" >/dev/null
alone=$(s3)
( ISSUER="$OSTIARY_ISSUER" CLIENT_ID="$CID" CLIENT_SECRET="$CSECRET" USERNAME=alice PASSWORD="$PW" \
  REDIRECT_URI=http://127.0.0.1:9/cb AUTH_SCOPE=openid \
  DISCOVERY_URL="$OSTIARY_ISSUER/.well-known/openid-configuration" \
  S5_COUNT="$FLOWS" S5_CONC="$FLOW_CONC" S5_WARMUP=0 S5_TIMEOUT=120 "$S5BIN" 2>/dev/null |
  sed -n 's/^S5JSON //p' >"$WORK/flows" ) &
FLOWS_PID=$!
sleep 2
busy=$(hashing)
during=$(s3)
busy_after=$(hashing)
wait "$FLOWS_PID"
flows=$(python3 -c 'import json,sys;d=json.loads(open(sys.argv[1]).read());print("%.1f" % (d["requests"]/(d["duration_us"]/1e6)))' "$WORK/flows")
echo "| S3 token | rate | p50 ms | p99 ms | errors |"
echo "|---|---:|---:|---:|---:|"
echo "| alone | $(echo "$alone" | awk '{print $1" /s | "$2" | "$3" | "$4}') |"
echo "| during $FLOW_CONC concurrent login flows | $(echo "$during" | awk '{print $1" /s | "$2" | "$3" | "$4}') |"
echo
echo "login flows: $flows flows/s over the run; password hashes in flight at the start and end of the window: $busy / $busy_after"
