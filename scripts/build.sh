#!/usr/bin/env bash
# Configures and builds medpipe into build/ (Release). Used by run_demo.sh and run_tests.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j2
