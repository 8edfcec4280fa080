#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer: builds medpipe with
# -DMEDPIPE_SANITIZE=ON (gcc) in build-asan/ and runs CTest there, so the medpipe processes the tests
# start are instrumented too. Any report fails the test that caused it. Not part of .ci/run (it
# takes about an hour on 2 cores); docs/reliability.md records the last result.
# Usage: scripts/sanitize.sh [CTEST_ARGS...]   e.g. -R Batch
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-asan
bash "$root/scripts/setup.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEDPIPE_SANITIZE=ON > /dev/null
cmake --build "$build" -j2
# Leaks are checked only in medpipe's own code: the suppressions name what LibTorch, ITK and
# DCMTK keep for the life of the process, and the one undefined behaviour of ITK's own headers.
# halt_on_error makes every other report a failure, not a warning.
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1
export LSAN_OPTIONS=suppressions=$root/scripts/sanitize-suppressions.txt:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$root/scripts/ubsan-suppressions.txt
cd "$build" && ctest --output-on-failure -j2 --timeout 1800 "$@"
