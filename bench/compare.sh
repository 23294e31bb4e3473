#!/usr/bin/env bash
# passkeyd side by side with two peers, one core each, in one run:
#
#   passkeyd            the release binary, SQLite on disk (WAL, synchronous=FULL: durable)
#   simplewebauthn      bench/peers/simplewebauthn: @simplewebauthn/server on node:http, in memory
#   pywebauthn          bench/peers/pywebauthn: py_webauthn on Starlette + uvicorn, in memory
#
# Each server in turn is pinned to one core (taskset -c $SERVER_CPU) and driven by
# passkeyd-loadgen pinned to another ($LOADGEN_CPU): the same users, concurrency, warm-up and
# duration; the load generator registers the users through the server's own registration routes,
# then runs full authentication ceremonies (request, sign, response). The server's CPU time over
# the measured run comes from /proc/<pid>/stat. Around the servers, `passkeyd-loadgen
# --raw-verify` times bare aws-lc-rs P-256 verification on the server's core, the unit the
# efficiency goal is set in.
#
# Usage: bench/compare.sh            (defaults below; every one can be set in the environment)
#   USERS=200 CONCURRENCY=16 DURATION=20s WARMUP=3s TARGETS="passkeyd simplewebauthn pywebauthn"
#   SERVER_CPU=0 LOADGEN_CPU=1 OUT=bench/results/<time> SKIP_BUILD=1 SKIP_INSTALL=1
#   PASSKEYD_BIN=path/to/passkeyd (another build of the server; default: the one built here)
#   PASSKEYD_RUST_LOG=debug (passkeyd's RUST_LOG; default: its own, info: refused requests only)
#   DISCOVERABLE=1 (sign in without user names)  ALGORITHM=ES256
#   CEREMONY=registration (measure registrations instead; or mixed, with REGISTRATION_SHARE)
#
# Needs: cargo, node >= 20 and npm, python3 >= 3.9 with venv, taskset (util-linux), curl.
# Writes $OUT/{raw-verify-*.json,<target>.json,<target>.log,summary.json} and prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

USERS=${USERS:-200}
CONCURRENCY=${CONCURRENCY:-16}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
TARGETS=${TARGETS:-passkeyd simplewebauthn pywebauthn}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
ALGORITHM=${ALGORITHM:-ES256}
CEREMONY=${CEREMONY:-authentication}
RAW_VERIFY_DURATION=${RAW_VERIFY_DURATION:-5s}
OUT=${OUT:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release
PASSKEYD_BIN=${PASSKEYD_BIN:-$BIN/passkeyd}
VENV=$ROOT/bench/.venv
PORT_BASE=${PORT_BASE:-18480}
CLK_TCK=$(getconf CLK_TCK)

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
step() { printf '\n=== %s\n' "$*" >&2; }

if [ -z "${SKIP_BUILD:-}" ]; then
  step "building passkeyd and passkeyd-loadgen (release)"
  cargo build --release --locked -p passkeyd -p passkeyd-loadgen
fi

if [ -z "${SKIP_INSTALL:-}" ]; then
  case " $TARGETS " in *" simplewebauthn "*)
    step "installing the simplewebauthn peer (npm ci)"
    (cd bench/peers/simplewebauthn && npm ci --no-audit --no-fund --loglevel=error) ;;
  esac
  case " $TARGETS " in *" pywebauthn "*)
    step "installing the py_webauthn peer (pip, $VENV)"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
      -r bench/peers/pywebauthn/requirements.txt ;;
  esac
fi

SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
DATA_DIRS=()
cleanup() {
  stop_server
  for dir in "${DATA_DIRS[@]}"; do rm -rf "$dir"; done
}
trap cleanup EXIT

wait_healthy() { # url
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$1/healthz" 2>/dev/null; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then echo "the server exited" >&2; return 1; fi
    sleep 0.1
  done
  echo "the server did not answer $1/healthz" >&2
  return 1
}

raw_verify() { # name
  step "raw aws-lc-rs P-256 verify on cpu $SERVER_CPU ($1)"
  taskset -c "$SERVER_CPU" "$BIN/passkeyd-loadgen" --raw-verify --duration "$RAW_VERIFY_DURATION" \
    --json > "$OUT/raw-verify-$1.json"
  taskset -c "$SERVER_CPU" "$BIN/passkeyd-loadgen" --raw-verify --duration 1s | sed 's/^/  /' >&2
}

# A secret key in passkeyd's format: sk_ + 12 base64url characters + _ + 43 (32 random bytes).
new_key() {
  python3 -c 'import base64, secrets
b = lambda n: base64.urlsafe_b64encode(secrets.token_bytes(n)).rstrip(b"=").decode()
print("sk_" + b(9) + "_" + b(32))'
}

run_target() { # name index
  local name=$1 port=$((PORT_BASE + $2)) key="" url
  url=http://127.0.0.1:$port
  step "$name on cpu $SERVER_CPU, loadgen on cpu $LOADGEN_CPU: $USERS users, concurrency $CONCURRENCY, $DURATION"
  case $name in
    passkeyd)
      local data
      data=$(mktemp -d "${BENCH_DATA_DIR:-$ROOT/bench/.data}/passkeyd.XXXXXX" 2>/dev/null ||
        { mkdir -p "${BENCH_DATA_DIR:-$ROOT/bench/.data}" &&
          mktemp -d "${BENCH_DATA_DIR:-$ROOT/bench/.data}/passkeyd.XXXXXX"; })
      DATA_DIRS+=("$data")
      key=$(new_key)
      env ${PASSKEYD_RUST_LOG:+RUST_LOG=$PASSKEYD_RUST_LOG} \
        PASSKEYD_BOOTSTRAP_API_KEY=$key PASSKEYD_DATA_DIR=$data PASSKEYD_LISTEN=127.0.0.1:$port \
        taskset -c "$SERVER_CPU" "$PASSKEYD_BIN" serve > "$OUT/$name.log" 2>&1 &
      SERVER_PID=$! ;;
    simplewebauthn)
      PORT=$port taskset -c "$SERVER_CPU" node bench/peers/simplewebauthn/server.js \
        > "$OUT/$name.log" 2>&1 &
      SERVER_PID=$! ;;
    pywebauthn)
      PORT=$port taskset -c "$SERVER_CPU" "$VENV/bin/python" bench/peers/pywebauthn/server.py \
        > "$OUT/$name.log" 2>&1 &
      SERVER_PID=$! ;;
    *) echo "unknown target $name (passkeyd, simplewebauthn, pywebauthn)" >&2; return 1 ;;
  esac
  wait_healthy "$url"
  local extra=()
  [ -n "${DISCOVERABLE:-}" ] && extra+=(--discoverable)
  [ -n "${REGISTRATION_SHARE:-}" ] && extra+=(--registration-share "$REGISTRATION_SHARE")
  PASSKEYD_API_KEY=$key taskset -c "$LOADGEN_CPU" "$BIN/passkeyd-loadgen" \
    --url "$url" --label "$name" --users "$USERS" --concurrency "$CONCURRENCY" \
    --duration "$DURATION" --warmup "$WARMUP" --algorithm "$ALGORITHM" --ceremony "$CEREMONY" \
    --server-pid "$SERVER_PID" --clk-tck "$CLK_TCK" --json-out "$OUT/$name.json" \
    --allow-errors "${extra[@]}" | sed 's/^/  /' >&2
  stop_server
}

raw_verify before
index=0
for target in $TARGETS; do
  run_target "$target" "$index"
  index=$((index + 1))
done
raw_verify after

step "summary"
CEREMONY=$CEREMONY python3 - "$OUT" $TARGETS <<'EOF'
import json, os, platform, subprocess, sys

out, targets = sys.argv[1], sys.argv[2:]
raw = [json.load(open(os.path.join(out, f"raw-verify-{w}.json"))) for w in ("before", "after")]
raw_us = sum(r["median_ns"] for r in raw) / len(raw) / 1e3
runs = {t: json.load(open(os.path.join(out, f"{t}.json"))) for t in targets}

def auth(run):
    # The measured ceremony's latencies (the registration ones with CEREMONY=registration).
    return run.get(os.environ.get("CEREMONY", "authentication")) or run.get("authentication") or {}

base = runs.get("passkeyd")
rows = []
print(f"{'server':<16} {'ceremonies/s':>12} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
      f"{'max ms':>8} {'errors':>7} {'CPU µs/cer':>11} {'x raw':>6} {'server CPU':>10} "
      f"{'loadgen CPU':>11} {'passkeyd x':>10}")
for t, run in runs.items():
    a, cpu = auth(run), run.get("server_cpu") or {}
    lat = a.get("latency_ms", {})
    us = cpu.get("us_per_ceremony")
    ratio = (base["total"]["per_second"] / run["total"]["per_second"]
             if base and run["total"]["per_second"] else None)
    row = {
        "server": t,
        "ceremonies_per_second": run["total"]["per_second"],
        "p50_ms": lat.get("p50"), "p95_ms": lat.get("p95"), "p99_ms": lat.get("p99"),
        "max_ms": lat.get("max"),
        "errors": run["total"]["errors"],
        "server_cpu_us_per_ceremony": us,
        "server_cpu_us_per_ceremony_over_raw_verify": us / raw_us if us else None,
        "server_cpu_utilization": cpu.get("utilization"),
        "loadgen_cpu_utilization": (run.get("loadgen_cpu") or {}).get("utilization"),
        "passkeyd_throughput_ratio": ratio,
    }
    rows.append(row)
    fmt = lambda v, f: format(v, f) if v is not None else "-"
    print(f"{t:<16} {row['ceremonies_per_second']:>12.1f} {fmt(row['p50_ms'], '8.2f')} "
          f"{fmt(row['p95_ms'], '8.2f')} {fmt(row['p99_ms'], '8.2f')} {fmt(row['max_ms'], '8.2f')} "
          f"{row['errors']:>7} {fmt(us, '11.1f')} {fmt(row['server_cpu_us_per_ceremony_over_raw_verify'], '6.2f')} "
          f"{fmt(row['server_cpu_utilization'], '10.2f')} {fmt(row['loadgen_cpu_utilization'], '11.2f')} "
          f"{fmt(ratio, '10.2f')}")
print(f"\nraw aws-lc-rs P-256 verify on the server's core: {raw_us:.2f} µs median "
      f"(before {raw[0]['median_ns']/1e3:.2f}, after {raw[1]['median_ns']/1e3:.2f}; "
      f"{1e3/raw_us:.0f}k/s)")

goals = {}
if base:
    peers = [r for r in rows if r["server"] != "passkeyd"]
    p = rows[[r["server"] for r in rows].index("passkeyd")]
    if peers:
        fastest = max(peers, key=lambda r: r["ceremonies_per_second"])
        x = p["ceremonies_per_second"] / fastest["ceremonies_per_second"]
        p99_ok = (p["p99_ms"] or 0) <= (fastest["p99_ms"] or float("inf"))
        goals["throughput_3x_fastest_peer"] = {
            "fastest_peer": fastest["server"], "ratio": x, "p99_not_higher": p99_ok,
            "met": x >= 3 and p99_ok}
        print(f"GOAL passkeyd >= 3x the faster peer ({fastest['server']}) at equal or lower p99: "
              f"{x:.2f}x, p99 {p['p99_ms']:.2f} vs {fastest['p99_ms']:.2f} ms: "
              f"{'met' if goals['throughput_3x_fastest_peer']['met'] else 'NOT met'}")
    if p["server_cpu_us_per_ceremony_over_raw_verify"] is not None:
        r = p["server_cpu_us_per_ceremony_over_raw_verify"]
        goals["cpu_per_ceremony_4x_raw_verify"] = {"ratio": r, "met": r <= 4}
        print(f"GOAL passkeyd CPU per ceremony <= 4x raw verify: {p['server_cpu_us_per_ceremony']:.1f} µs"
              f" = {r:.2f}x: {'met' if r <= 4 else 'NOT met'}")

def cmd(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return None

summary = {
    "machine": {
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), None),
        "cores": os.cpu_count(), "kernel": platform.release(),
        "loadavg_at_end": open("/proc/loadavg").read().split()[:3],
    },
    "versions": {"node": cmd("node", "--version"), "python": platform.python_version()},
    "raw_verify_us": raw_us, "raw_verify": raw, "runs": rows, "goals": goals,
}
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
print(f"\n(wrote {out}/summary.json)")
EOF
