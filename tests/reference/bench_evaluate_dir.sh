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
#
# Like for like: the reference runs with --drafts, so it writes a whole
# draft per file too (calculation rows and labels, reasons with texts,
# warnings, a trace of the rules' inputs), and the check below requires the
# two to agree on outcome, amount, codes, the calculation, the reasons and
# the warnings of every file, word for word.
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
python3 "$here/bistand.py" --drafts --ruleset "$ruleset" "$dir/apps" >"$dir/python.jsonl"
python3 - "$dir/hrobot.jsonl" "$dir/python.jsonl" <<'EOF'
import json, sys
KEYS = ("outcome", "amount_sek", "codes", "calculation", "reasons", "warnings", "assessments", "kommunicering")
def load(path):
    out = {}
    for line in open(path, encoding="utf-8"):
        o = json.loads(line)
        out[o["file"]] = tuple(json.dumps(o["draft"][k], sort_keys=True) for k in KEYS)
    return out
rs, py = load(sys.argv[1]), load(sys.argv[2])
bad = [f for f in py if rs.get(f) != py[f]]
if bad or len(rs) != len(py):
    sys.exit(f"hrobot and the reference disagree on {len(bad)} files, e.g. {bad[:3]}")
sizes = [len(open(p, "rb").read()) for p in sys.argv[1:3]]
print(f"{len(py)} applications; hrobot and the Python reference agree on outcome, amount, codes, "
      f"calculation, reasons and warnings of all; output {sizes[0] / 1e6:.1f} MB vs {sizes[1] / 1e6:.1f} MB")
EOF

echo "machine: $(nproc) cores; $(uname -sr)"
echo "hrobot:  $("$hrobot" --version)"
echo "python:  $(python3 --version)"
hcmd="$hrobot evaluate --ruleset $ruleset $dir/apps"
pcmd="python3 $here/bistand.py --drafts --ruleset $ruleset $dir/apps"
if command -v hyperfine >/dev/null 2>&1; then
    hyperfine --warmup 1 --runs "$runs" --style basic --export-markdown "$dir/result.md" \
        -n "hrobot evaluate DIR ($n files)" "$hcmd >/dev/null" \
        -n "python3 bistand.py --drafts DIR ($n files)" "$pcmd >/dev/null"
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
