#!/usr/bin/env bash
# End-to-end CT benchmark: DICOM in -> label mask (NIfTI), SEG, SR, result.json and overlay out,
# through a 3D U-Net at 1.5 mm (128^3 patches, overlap 0.5, no mirroring), one study per run.
#   scripts/bench_ct.sh BUILD [DEVICE [RUNS [FEATURES [SIZE]]]]
# Defaults: cuda, 5 timed runs after one warm-up per input, nnU-Net's features (32..320, 31 M
# parameters), 512x512x300. Inputs: the synthetic CT of SIZE (0.7 x 0.7 x 1.0 mm) uncompressed, as
# JPEG-LS and as JPEG 2000, and TotalSegmentator's real JPEG 2000 CT from ../shared/data.
# Prints one JSON line per run (per-stage ms, TFLOP/s, device share) and a summary line per input
# (median and p95 of every stage). PYTHON picks the interpreter with torch (/usr/bin/python3 here).
# SYNTHETIC_ONLY=1 leaves out the real CT. BASELINE=FILE flags every stage whose median is over 15 % slower than FILE's; RECORD=FILE writes
# this run's medians as a new baseline.
set -euo pipefail
build=$(realpath "$1"); device=${2:-cuda}; runs=${3:-5}; features=${4:-32,64,128,256,320,320}; size=${5:-512x512x300}
python=${PYTHON:-python3}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
medpipe=$build/pipeline/medpipe
"$python" scripts/lib/unet3d.py --out "$work/model" --patch 128 --spacing 1.5 --features "$features" >&2
"$medpipe" model seal "$work/model" >&2
declare -A inputs
for encoding in explicit jpeg-ls jpeg2000; do
  "$medpipe" synth "$work/in/$encoding" --ct "$size" --spacing 0.7,0.7,1.0 --encoding "$encoding" --seed 7 >&2
  inputs[synthetic-$size-$encoding]=$work/in/$encoding
done
[ "${SYNTHETIC_ONLY:-}" = 1 ] || inputs[totalseg-example-ct-jpeg2000]=../shared/data/dicom/totalseg/tests/reference_files/example_ct_dicom
for name in $(printf '%s\n' "${!inputs[@]}" | sort); do
  for run in $(seq 0 "$runs"); do
    rm -rf "$work/out"
    started=$(date +%s.%N)
    "$medpipe" run "${inputs[$name]}" "$work/out" --model "$work/model" --device "$device" > /dev/null 2> "$work/log" ||
      { cat "$work/log" >&2; exit 1; }
    wall=$(echo "$(date +%s.%N) - $started" | bc)
    "$python" scripts/bench/stage_timings.py line "$work/out" --input "$name" --run "$run" \
      --architecture "$work/model/architecture.json" --wall-s "$wall"
  done
done | tee "$work/lines.jsonl"
machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), device $device"
"$python" scripts/bench/stage_timings.py summary "$work/lines.jsonl" ${BASELINE:+--baseline "$BASELINE"} \
  ${RECORD:+--record "$RECORD" --machine "$machine"}
