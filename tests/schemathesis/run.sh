#!/usr/bin/env bash
# schemathesis (all checks, every phase including the stateful one) against the built binary on a
# fresh SQLite data directory, with the bootstrap secret key, a publishable key and the operator
# key. Exits non-zero on any failure. PASSKEYD_BIN picks the binary (default target/debug).
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=4.32.5
BIN=${PASSKEYD_BIN:-${CARGO_TARGET_DIR:-target}/debug/passkeyd}
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/passkeyd/schemathesis-$VERSION
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi
DATA=$(mktemp -d)
PORT=${PORT:-18089}
SK=sk_$(head -c 9 /dev/urandom | basenc --base64url)_$(head -c 32 /dev/urandom | basenc --base64url | tr -d =)
ADMIN=$(head -c 32 /dev/urandom | basenc --base64url | tr -d '=')
export PASSKEYD_DATA_DIR=$DATA PASSKEYD_LISTEN=127.0.0.1:$PORT PASSKEYD_BOOTSTRAP_API_KEY=$SK \
  PASSKEYD_ADMIN_KEY=$ADMIN PASSKEYD_ORIGINS=http://localhost:$PORT
"$BIN" migrate >/dev/null
"$BIN" serve >"$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
"$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/openapi.json" \
  --checks all --phases examples,coverage,fuzzing,stateful \
  -H "X-Api-Key: $SK" "$@"
