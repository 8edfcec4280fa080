#!/usr/bin/env bash
# Fresh machine to test report: install packages, build, run every test (CTest prints the summary).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build && ctest --output-on-failure -j2
