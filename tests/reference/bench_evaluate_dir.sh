#!/bin/sh
# `hrobot evaluate DIR` against the Python reference over the same folder of
# applications (issue 2, item 9: at least 10x faster than a straightforward
# Python implementation).
#
#   tests/reference/bench_evaluate_dir.sh --hrobot target-bench/release/hrobot \
#       [--ruleset rulesets/ekonomiskt-bistand] [--n 5000] [--seed 1] [--runs 5]
#
# Generates N valid applications with difftest.py (deterministic for the
# seed), checks once that both programs agree on every file, then times both
# with hyperfine (apt-get install hyperfine) or, without it, with a plain
# loop. Use a release build of hrobot: cargo build --release -p robot-runtime.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
hrobot=""
ruleset="$here/../../rulesets/ekonomiskt-bistand"
n=5000
seed=1
runs=5
while [ $# -gt 0 ]; do
    case "$1" in
        --hrobot) hrobot=$2; shift 2 ;;
        --ruleset) ruleset=$2; shift 2 ;;
        --n) n=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        *) echo "unknown argument: $1" >&2; exit 64 ;;
    esac
done
[ -n "$hrobot" ] || { echo "usage: $0 --hrobot PATH [--ruleset DIR] [--n N] [--seed S] [--runs R]" >&2; exit 64; }
[ -x "$hrobot" ] || { echo "$hrobot: not an executable" >&2; exit 66; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-evaluate-dir.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM
python3 "$here/difftest.py" --only-generate --invalid-share 0 --n "$n" --seed "$seed" --out "$dir/apps" \
    --ruleset "$ruleset" >/dev/null

# Same answers first: outcome, amount and codes of every file.
"$hrobot" evaluate --ruleset "$ruleset" "$dir/apps" >"$dir/hrobot.jsonl"
python3 "$here/bistand.py" --ruleset "$ruleset" "$dir/apps" >"$dir/python.jsonl"
python3 - "$dir/hrobot.jsonl" "$dir/python.jsonl" <<'EOF'
import json, sys
rs = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    d = o["draft"]
    rs[o["file"]] = (d["outcome"], d["amount_sek"], sorted(d["codes"]))
py = {}
for line in open(sys.argv[2]):
    o = json.loads(line)
    py[o["file"]] = (o["outcome"], o["amount_sek"], sorted(o["codes"]))
bad = [f for f in py if rs.get(f) != py[f]]
if bad or len(rs) != len(py):
    sys.exit(f"hrobot and the reference disagree on {len(bad)} files, e.g. {bad[:3]}")
print(f"{len(py)} applications; hrobot and the Python reference agree on all")
EOF

echo "machine: $(nproc) cores; $(uname -sr)"
echo "hrobot:  $("$hrobot" --version)"
echo "python:  $(python3 --version)"
hcmd="$hrobot evaluate --ruleset $ruleset $dir/apps"
pcmd="python3 $here/bistand.py --ruleset $ruleset $dir/apps"
if command -v hyperfine >/dev/null 2>&1; then
    hyperfine --warmup 1 --runs "$runs" --style basic --export-markdown "$dir/result.md" \
        -n "hrobot evaluate DIR ($n files)" "$hcmd >/dev/null" \
        -n "python3 bistand.py DIR ($n files)" "$pcmd >/dev/null"
    cat "$dir/result.md"
else
    for name in hrobot python; do
        if [ "$name" = hrobot ]; then cmd=$hcmd; else cmd=$pcmd; fi
        start=$(date +%s.%N)
        i=0
        while [ $i -lt "$runs" ]; do sh -c "$cmd" >/dev/null; i=$((i + 1)); done
        end=$(date +%s.%N)
        echo "$name: $(echo "($end - $start) / $runs" | bc -l | cut -c1-6) s per run (mean of $runs)"
    done
fi
