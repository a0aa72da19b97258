#!/usr/bin/env bash
# The legacy web UI benchmark, in one command: applications per minute
# through the Rust WebDriver connector (fantoccini) and through the same
# steps scripted in Robot Framework + SeleniumLibrary, each against a fresh
# simulated case system, with the same Debian Chromium and chromedriver.
#
#   tests/bench/legacy/run.sh [APPLICATIONS_DIR]
#
# Installs robotframework and robotframework-seleniumlibrary from PyPI into
# a venv under the cargo target folder when they are missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
HERE="$ROOT/tests/bench/legacy"
APPS=${1:-$ROOT/rulesets/ekonomiskt-bistand/tests}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=${LEGACY_BENCH_VENV:-$TARGET/legacy-bench-venv}
WORK=$(mktemp -d)
SIM_PID=

cleanup() {
    if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

for bin in /usr/bin/chromium /usr/bin/chromedriver; do
    if [ ! -x "$bin" ]; then
        echo "missing $bin: apt-get install chromium chromium-driver (or: cargo xtask setup)" >&2
        exit 1
    fi
done

if ! "$VENV/bin/python" -c 'import robot, SeleniumLibrary' 2>/dev/null; then
    echo "installing robotframework and robotframework-seleniumlibrary into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check robotframework robotframework-seleniumlibrary
fi

echo "building (release)..." >&2
(cd "$ROOT" && cargo build -q --release -p tests --bin simulator --example legacy_bench)

start_sim() {
    : > "$WORK/sim.out"
    "$TARGET/release/simulator" --applications "$APPS" > "$WORK/sim.out" 2>/dev/null &
    SIM_PID=$!
    for _ in $(seq 100); do [ -s "$WORK/sim.out" ] && break; sleep 0.1; done
    BASE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["legacy"])' "$WORK/sim.out")
    CASES=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["applications"])' "$WORK/sim.out")
}

stop_sim() {
    DECISIONS=$(python3 -c 'import json,sys,urllib.request; print(len(json.load(urllib.request.urlopen(sys.argv[1] + "/_sim/decisions"))))' "$BASE")
    kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true; SIM_PID=
}

now() { python3 -c 'import time; print(time.monotonic())'; }

# Rust: fantoccini through the connector.
start_sim
t0=$(now)
"$TARGET/release/examples/legacy_bench" "$BASE" > "$WORK/rust.json"
t1=$(now)
stop_sim
RUST_DECISIONS=$DECISIONS
RUST_CASES=$CASES

# Robot Framework + SeleniumLibrary, same steps, same browser flags.
start_sim
t2=$(now)
"$VENV/bin/robot" --output NONE --log NONE --report NONE --console quiet \
    --pythonpath "$HERE" --variable "BASE:$BASE" "$HERE/legacy.robot" > "$WORK/rf.txt"
t3=$(now)
stop_sim
RF_DECISIONS=$DECISIONS

python3 - "$RUST_CASES" "$t0" "$t1" "$RUST_DECISIONS" "$t2" "$t3" "$RF_DECISIONS" "$WORK/rust.json" <<'PY'
import json, sys
cases = int(sys.argv[1])
rust_s = float(sys.argv[3]) - float(sys.argv[2])
rf_s = float(sys.argv[6]) - float(sys.argv[5])
rust = json.load(open(sys.argv[8]))
print(f"legacy web UI, {cases} applications, read (4 screens) + write-back (decision form, 'Spara?' dialog, verify), one browser, wall time incl. browser start and login")
print(f"  rust fantoccini connector : {rust_s:7.1f} s  {cases * 60 / rust_s:6.1f} applications/min  {rust_s / cases * 1000:6.0f} ms/application  decisions written: {sys.argv[4]}")
print(f"  robot framework selenium  : {rf_s:7.1f} s  {cases * 60 / rf_s:6.1f} applications/min  {rf_s / cases * 1000:6.0f} ms/application  decisions written: {sys.argv[7]}")
print(f"  rust is {rf_s / rust_s:.2f}x faster per application")
PY
