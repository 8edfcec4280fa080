#!/usr/bin/env bash
# Fresh machine to test report: install packages, build, run every test (CTest prints the summary),
# then the smoke benchmark, which prints per-stage figures and flags slowdowns over 15 %.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure -j2)
bash scripts/bench_smoke.sh build
