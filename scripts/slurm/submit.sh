#!/usr/bin/env bash
# Submits `medpipe run` over SHARDS Slurm array tasks and, once they have all ended (afterany: also
# when some failed), one job running `medpipe report OUT`, which merges the shards' results.
#
#   scripts/slurm/submit.sh ARCHIVE OUT SHARDS [medpipe run options]
#
# MEDPIPE (the binary; default build/pipeline/medpipe of this checkout) and SBATCH_OPTIONS (extra
# sbatch options for both jobs, e.g. "--partition=gpu --time=12:00:00") come from the environment.
# Slurm logs go to OUT/slurm/. Prints "array=JOBID report=JOBID" on stdout.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 ARCHIVE OUT SHARDS [medpipe run options]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
[ -e "$1" ] || { echo "no archive $1" >&2; exit 2; }
archive=$(realpath -s "$1")  # absolute, symlinks kept: study ids of UID-less folders come from paths
out=$(realpath -sm "$2")
shards=$3
shift 3
[[ $shards =~ ^[1-9][0-9]*$ ]] || { echo "SHARDS must be a positive number, not '$shards'" >&2; exit 2; }
export MEDPIPE=${MEDPIPE:-$(cd "$here/../.." && pwd)/build/pipeline/medpipe}
command -v "$MEDPIPE" > /dev/null || { echo "no medpipe binary at $MEDPIPE: build it or set MEDPIPE" >&2; exit 2; }
export MEDPIPE_SHARDS=$shards
mkdir -p "$out/slurm"
read -r -a extra <<< "${SBATCH_OPTIONS:-}"

array=$(sbatch --parsable "${extra[@]}" --array="0-$((shards - 1))" --output="$out/slurm/shard-%A_%a.out" \
        "$here/medpipe-array.sbatch" "$archive" "$out" "$@")
array=${array%%;*}  # "JOBID;CLUSTER" on federated set-ups
report=$(sbatch --parsable "${extra[@]}" --job-name=medpipe-report --dependency="afterany:$array" \
         --output="$out/slurm/report-%j.out" --wrap="$(printf '%q ' "$MEDPIPE" report "$out")")
report=${report%%;*}
echo "submitted array job $array ($shards shards) and report job $report; results in $out" >&2
echo "array=$array report=$report"
