#!/usr/bin/env bash
# fuzz/run.sh [SECONDS]: run the mote-http `parse_request` fuzz target for
# SECONDS (default 60), print how many inputs were executed, and exit non-zero
# if the target crashed (the crashing input is saved under fuzz/artifacts/).
#
# Needs cargo-fuzz (`cargo install --locked cargo-fuzz`). cargo-fuzz builds with
# sanitizer flags that need a nightly compiler: the nightly toolchain is used
# when rustup has one, otherwise the stable compiler with RUSTC_BOOTSTRAP=1.
# Set MOTE_FUZZ_STABLE=1 to force the stable path. Build and run share one
# CARGO_TARGET_DIR (default: target/fuzz).
set -euo pipefail
secs=${1:-60}
case $secs in '' | *[!0-9]*) echo "usage: fuzz/run.sh [SECONDS]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."

cargo fuzz --version >/dev/null 2>&1 || {
  echo "fuzz/run.sh: cargo-fuzz is not installed; run: cargo install --locked cargo-fuzz" >&2
  exit 1
}
if [ -z "${MOTE_FUZZ_STABLE:-}" ] && cargo +nightly --version >/dev/null 2>&1; then
  toolchain=(+nightly)
  how="nightly ($(cargo +nightly --version))"
else
  toolchain=()
  export RUSTC_BOOTSTRAP=1
  how="RUSTC_BOOTSTRAP=1 with $(rustc --version)"
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target/fuzz}

corpus=fuzz/corpus/parse_request   # grows as libFuzzer finds new coverage (git-ignored)
mkdir -p "$corpus" fuzz/artifacts/parse_request
log=$CARGO_TARGET_DIR/fuzz-parse_request.log
mkdir -p "$CARGO_TARGET_DIR"
echo "fuzz: parse_request for ${secs}s using $how"
# --debug-assertions turns integer overflow into a crash instead of a silent wrap.
set +e
cargo "${toolchain[@]}" fuzz run --debug-assertions parse_request "$corpus" fuzz/seeds/parse_request -- \
  -max_total_time="$secs" -dict=fuzz/http.dict -print_final_stats=1 >"$log" 2>&1
rc=$?
set -e
runs=$(sed -n 's/^Done \([0-9]*\) runs in .*/\1/p' "$log" | tail -n1)
if [ "$rc" -ne 0 ] || [ -z "$runs" ]; then
  tail -n 40 "$log" >&2
  echo "fuzz: FAILED (exit $rc); full log: $log" >&2
  exit 1
fi
echo "fuzz: $runs executions in ${secs}s, no crash (corpus: $(ls "$corpus" | wc -l) inputs)"
