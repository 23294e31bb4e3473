#!/usr/bin/env bash
# Smoke-runs every fuzz target (or the ones named) for SECONDS each, on the stable toolchain.
#
#   fuzz/smoke.sh [SECONDS] [TARGET...]        SECONDS defaults to 30
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer, the SanitizerCoverage passes); the stable
# compiler accepts them with RUSTC_BOOTSTRAP=1, which is all this script changes. AddressSanitizer
# is used when it builds; FUZZ_SANITIZER=none (or a failed ASan build) falls back to plain
# coverage-guided fuzzing, which still catches panics, overflows (debug assertions are on) and
# hangs. Exits non-zero if any target crashes, hangs or fails to build; the input that did it is in
# fuzz/artifacts/<target>/ (reproduce with `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <file>`).
set -euo pipefail

seconds="${1:-30}"
shift || true
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "smoke.sh: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

export RUSTC_BOOTSTRAP=1
sanitizer="${FUZZ_SANITIZER:-address}"

./seed.sh

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "smoke.sh: building ${#targets[@]} targets (sanitizer: $sanitizer)"
if ! cargo fuzz build --sanitizer "$sanitizer"; then
    if [ "$sanitizer" = none ]; then
        echo "smoke.sh: the fuzz targets do not build" >&2
        exit 1
    fi
    echo "smoke.sh: the $sanitizer build failed; retrying without a sanitizer" >&2
    sanitizer=none
    cargo fuzz build --sanitizer none
fi

failed=()
for target in "${targets[@]}"; do
    echo "smoke.sh: running $target for ${seconds}s"
    start=$(date +%s)
    if cargo fuzz run --sanitizer "$sanitizer" "$target" -- \
        -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1; then
        echo "smoke.sh: $target: ok ($(( $(date +%s) - start ))s)"
    else
        echo "smoke.sh: $target: FAILED (see fuzz/artifacts/$target/)" >&2
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "smoke.sh: crashing targets: ${failed[*]}" >&2
    exit 1
fi
echo "smoke.sh: all ${#targets[@]} targets ran ${seconds}s without a crash"
