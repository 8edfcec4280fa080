#!/usr/bin/env bash
# CI smoke benchmark: the end-to-end CT benchmark on a small synthetic volume (128x128x64, three
# encodings) with a small U-Net on the CPU, five timed runs per input, about a minute. Prints the per-stage figures and a FLAG line for every stage
# whose median is over 15 % slower than the baseline stored in scripts/bench/smoke_baseline.json
# (recorded on the machine it names; figures from another machine compare only roughly). Exits 0
# either way: a flag asks a person to look, since shared CI machines vary by more than 15 %.
#   scripts/bench_smoke.sh [BUILD]       RECORD=1 scripts/bench_smoke.sh  rewrites the baseline
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
baseline=scripts/bench/smoke_baseline.json
if [ "${RECORD:-}" = 1 ]; then
  SYNTHETIC_ONLY=1 RECORD=$baseline PYTHON=/usr/bin/python3 bash scripts/bench_ct.sh "$build" cpu 5 4,8,16,32,40,40 128x128x64
else
  SYNTHETIC_ONLY=1 BASELINE=$baseline PYTHON=/usr/bin/python3 bash scripts/bench_ct.sh "$build" cpu 5 4,8,16,32,40,40 128x128x64
fi
