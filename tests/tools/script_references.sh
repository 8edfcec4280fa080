#!/usr/bin/env bash
# Every script under scripts/ (.sh, .py, .sbatch) that a tracked file of SOURCE_DIR names exists.
#   tests/tools/script_references.sh SOURCE_DIR
set -euo pipefail
cd "$1"
git rev-parse --git-dir > /dev/null 2>&1 || { echo "not a git checkout: nothing to check"; exit 77; }
missing=0
for path in $(git grep -hoE 'scripts/[A-Za-z0-9_./-]+\.(sh|py|sbatch)' | sort -u); do
  if [ ! -e "$path" ]; then
    echo "$path does not exist; named by:"
    git grep -nF "$path"
    missing=1
  fi
done
exit "$missing"
