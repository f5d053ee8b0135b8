#!/usr/bin/env bash
# Issue 12's speed benchmark: magpie's system-matrix solvers (the kernel_bench example of magpie-reconstruct)
# and the numpy/scipy yardstick perf_baseline.py, interleaved in one run, then a Markdown table with frames/s,
# % of the streaming and complex-GEMM bounds measured in the same run, ratio to numpy and peak memory.
#
# Usage: scripts/bench_reco.sh [--baseline PATH] [--rounds N] [--threads N] [--repeats N] [--full] [--out DIR]
#   --baseline  perf_baseline.py, relative to the repository root (default ../shared/bench/perf_baseline.py)
#   --full      the baseline's full suite instead of --quick (adds numpy's CGNR; several minutes per round)
# Environment: MAGPIE_BENCH_VENV (default target/bench-venv), CARGO_TARGET_DIR as usual.
# Measure on a quiet machine: the baseline reports the CPU share other processes used meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."

baseline=../shared/bench/perf_baseline.py
pass=()
while [ $# -gt 0 ]; do
    case "$1" in
        --baseline) baseline="$2"; shift 2 ;;
        --rounds|--threads|--repeats|--out) pass+=("$1" "$2"); shift 2 ;;
        --full) pass+=("$1"); shift ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -f "$baseline" ] || { echo "baseline $baseline not found (use --baseline PATH)" >&2; exit 2; }

venv=${MAGPIE_BENCH_VENV:-target/bench-venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -c "import numpy, scipy, threadpoolctl" 2>/dev/null ||
    "$venv/bin/pip" install --quiet numpy scipy threadpoolctl

cargo build --release -p magpie-reconstruct --example kernel_bench >&2
target=${CARGO_TARGET_DIR:-target}
exec "$venv/bin/python" scripts/bench_reco.py --python "$venv/bin/python" --baseline "$baseline" \
    --magpie "$target/release/examples/kernel_bench" "${pass[@]}"
