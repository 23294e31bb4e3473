#!/usr/bin/env bash
# How passkeyd behaves as its database grows, and what it costs in memory.
#
# For each size N in $SIZES, on a fresh database: start passkeyd (one core), fill the default
# tenant with N made-up users and credentials (`passkeyd seed`), then run full authentication
# ceremonies with passkeyd-loadgen (another core) and record throughput and latency. The server's
# resident memory (VmRSS) is read idle (after start-up, before any request) and after
# $SESSIONS begun-but-unfinished registrations, for the memory a pending ceremony costs.
#
# Usage: bench/scale.sh                      (defaults below; each can be set in the environment)
#   SIZES="10000 100000 1000000" BACKEND=sqlite|postgres USERS=200 CONCURRENCY=16 DURATION=15s
#   SESSIONS=1000 SERVER_CPU=0 LOADGEN_CPU=1 OUT=bench/results/scale-<time> SKIP_BUILD=1
#   PG_URL=postgres://postgres@127.0.0.1:5432 (BACKEND=postgres: a database per size is created
#   there and dropped afterwards)
#
# Needs: cargo, python3, taskset, curl; psql for BACKEND=postgres.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SIZES=${SIZES:-10000 100000 1000000}
BACKEND=${BACKEND:-sqlite}
USERS=${USERS:-200}
CONCURRENCY=${CONCURRENCY:-16}
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-2s}
SESSIONS=${SESSIONS:-1000}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18580}
OUT=${OUT:-bench/results/scale-$(date -u +%Y%m%dT%H%M%SZ)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release
URL=http://127.0.0.1:$PORT

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
step() { printf '\n=== %s\n' "$*" >&2; }

if [ -z "${SKIP_BUILD:-}" ]; then
  step "building passkeyd and passkeyd-loadgen (release)"
  cargo build --release --locked -p passkeyd -p passkeyd-loadgen
fi

SERVER_PID=
DATA=
DB=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  [ -n "$DATA" ] && rm -rf "$DATA"
  [ -n "$DB" ] && psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  SERVER_PID= DATA= DB=
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

new_key() {
  python3 -c 'import base64, secrets
b = lambda n: base64.urlsafe_b64encode(secrets.token_bytes(n)).rstrip(b"=").decode()
print("sk_" + b(9) + "_" + b(32))'
}

for size in $SIZES; do
  step "$BACKEND with $size stored credentials"
  DATA=$(mktemp -d "${TMPDIR:-/tmp}/passkeyd-scale.XXXXXX")
  key=$(new_key)
  env_db=()
  if [ "$BACKEND" = postgres ]; then
    DB=passkeyd_scale_$$_$size
    psql "$PG_URL/postgres" -qc "CREATE DATABASE $DB" >/dev/null
    # A PostgreSQL node needs the master key given (it makes no key file of its own).
    master_key=$(python3 -c 'import base64, secrets
print(base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode())')
    env_db=(PASSKEYD_DATABASE_URL="$PG_URL/$DB" PASSKEYD_MASTER_KEY="$master_key")
  fi
  env "${env_db[@]}" RUST_LOG=warn PASSKEYD_BOOTSTRAP_API_KEY="$key" PASSKEYD_DATA_DIR="$DATA" \
    PASSKEYD_LISTEN=127.0.0.1:$PORT taskset -c "$SERVER_CPU" "$BIN/passkeyd" serve \
    > "$OUT/server-$size.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$URL/readyz" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  idle=$(rss_kib "$SERVER_PID")

  env "${env_db[@]}" PASSKEYD_DATA_DIR="$DATA" "$BIN/passkeyd" seed --credentials "$size" \
    > "$OUT/seed-$size.json"
  sed 's/^/  seeded: /' "$OUT/seed-$size.json" >&2

  PASSKEYD_API_KEY=$key taskset -c "$LOADGEN_CPU" "$BIN/passkeyd-loadgen" --url "$URL" \
    --label "$BACKEND-$size" --users "$USERS" --concurrency "$CONCURRENCY" \
    --duration "$DURATION" --warmup "$WARMUP" --json-out "$OUT/load-$size.json" \
    | sed 's/^/  /' >&2

  # Pending ceremonies: registrations begun and never finished.
  before=$(rss_kib "$SERVER_PID")
  python3 - "$URL" "$key" "$SESSIONS" <<'EOF'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
url, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def begin(i):
    body = json.dumps({"userName": f"pending-{i}"}).encode()
    req = urllib.request.Request(url + "/webauthn/registration/request", body,
                                 {"content-type": "application/json", "x-api-key": key})
    with urllib.request.urlopen(req) as r:
        assert r.status == 200
with ThreadPoolExecutor(16) as pool:
    list(pool.map(begin, range(n)))
EOF
  after=$(rss_kib "$SERVER_PID")
  python3 - "$OUT" "$size" "$idle" "$before" "$after" "$SESSIONS" <<'EOF'
import json, os, sys
out, size, idle, before, after, sessions = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:])
load = json.load(open(os.path.join(out, f"load-{size}.json")))
seed = json.load(open(os.path.join(out, f"seed-{size}.json")))
a = load["authentication"]
row = {"credentials": size, "seed_per_second": seed["per_second"],
       "ceremonies_per_second": a["per_second"], "errors": load["total"]["errors"],
       **{f"{k}_ms": v for k, v in a["latency_ms"].items()},
       "idle_rss_kib": idle, "rss_after_load_kib": before,
       "rss_per_1k_pending_kib": (after - before) * 1000 / sessions}
json.dump(row, open(os.path.join(out, f"row-{size}.json"), "w"))
EOF
  cleanup
done

step "summary ($BACKEND)"
python3 - "$OUT" $SIZES <<'EOF'
import json, os, sys
out, sizes = sys.argv[1], sys.argv[2:]
rows = [json.load(open(os.path.join(out, f"row-{s}.json"))) for s in sizes]
print(f"{'credentials':>11} {'seed/s':>8} {'cer/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
      f"{'idle RSS MiB':>12} {'RSS MiB':>8} {'KiB/1k pending':>14}")
for r in rows:
    print(f"{r['credentials']:>11} {r['seed_per_second']:>8.0f} {r['ceremonies_per_second']:>8.1f} "
          f"{r['p50_ms']:>7.2f} {r['p95_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['idle_rss_kib']/1024:>12.1f} "
          f"{r['rss_after_load_kib']/1024:>8.1f} {r['rss_per_1k_pending_kib']:>14.0f}")
json.dump(rows, open(os.path.join(out, "summary.json"), "w"), indent=1)
EOF
