#!/usr/bin/env bash
# The release binary on PostgreSQL, whatever OSTIARY_DATABASE_URL says: the shared bench's
# Ostiary adapter runs it on SQLite, and takes another binary from OSTIARY_BIN. So
#
#   cargo build --release
#   OSTIARY_BIN=$PWD/bench/ostiary-on-postgres.sh ../shared/bench/compare.sh ostiary node-oidc
#
# puts Ostiary on PostgreSQL beside node-oidc-provider. `user add` (the adapter's first command
# on every start) recreates the database, so each start is fresh, as the adapter's SQLite file
# is. PG_ADMIN (default postgres://postgres@127.0.0.1:5432/test) names the cluster; PG_OPTIONS
# is appended to the database URL (e.g. '?host=/var/run/postgresql' for the Unix socket).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${OSTIARY_REAL_BIN:-$ROOT/target/release/ostiary}"
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
export OSTIARY_DATABASE_URL="${PG_ADMIN%/*}/ostiary_compare${PG_OPTIONS:-}"
if [ "${1:-}" = user ] && [ "${2:-}" = add ]; then
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS ostiary_compare WITH (FORCE)" \
    -c "CREATE DATABASE ostiary_compare" >/dev/null
fi
exec "$BIN" "$@"
