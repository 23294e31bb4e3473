#!/usr/bin/env bash
# The browser end-to-end suite: Debian's Chromium (installed when missing), playwright-core from
# the lock file, and Node's test runner over tests/*.test.js against the passkeyd binary at
# $PASSKEYD_BIN (default: debug/passkeyd in $CARGO_TARGET_DIR, else ../target, relative to this
# directory).
set -euo pipefail
# A PASSKEYD_BIN given relative to where this script is run from still works after the cd.
if [ -n "${PASSKEYD_BIN:-}" ] && [ "${PASSKEYD_BIN#/}" = "$PASSKEYD_BIN" ]; then
  PASSKEYD_BIN="$PWD/$PASSKEYD_BIN"
fi
cd "$(dirname "$0")"

chromium="${PASSKEYD_E2E_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "e2e: installing chromium (Debian package)"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null
fi

bin="${PASSKEYD_BIN:-${CARGO_TARGET_DIR:-../target}/debug/passkeyd}"
if [ ! -x "$bin" ]; then
  echo "e2e: no passkeyd binary at $bin (build it with: cargo build -p passkeyd," \
    "or set PASSKEYD_BIN)" >&2
  exit 1
fi
export PASSKEYD_BIN="$bin"

# playwright-core downloads nothing by itself; this makes sure no browser download is tried.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --no-audit --no-fund --prefer-offline --loglevel=error

# Screenshots of an earlier run's failures would mislead.
rm -f ../target/e2e/failed-*.png

# One test file at a time (each starts its own Chromium and servers); a test that hangs fails
# after 60 s instead of holding CI.
exec node --test --test-concurrency="${PASSKEYD_E2E_CONCURRENCY:-1}" --test-timeout=60000 \
  tests/*.test.js
