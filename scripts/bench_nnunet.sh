#!/bin/bash
# medpipe against nnU-Net's own predictor on the nnU-Net reference models (../shared/data/nnunet, fold 0):
# imports each model once (kept in $NNUNET_BENCH_CACHE), runs `medpipe run` over all of a dataset's inputs in one
# batch (the model loaded once), and prints per case medpipe's seconds (study total and its infer step) beside
# nnU-Net's predict_from_files wall seconds from reference/fold_0/timings.json (one predictor call per case),
# then the batch's wall seconds beside the sum of nnU-Net's. Run it on a quiet machine:
#   flock /tmp/medpipe-build.lock bash scripts/bench_nnunet.sh build
set -euo pipefail
BUILD=${1:?usage: scripts/bench_nnunet.sh BUILD_DIR [DATASET ...]}
shift
DATA=${MEDPIPE_SHARED_DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}/nnunet
MEDPIPE=$(cd "$BUILD" && pwd)/pipeline/medpipe
CACHE=${NNUNET_BENCH_CACHE:-/tmp/medpipe_nnunet_bench}
DATASETS=("$@")
[ ${#DATASETS[@]} -gt 0 ] || DATASETS=(Dataset501_Hippocampus Dataset502_CTOrgans)
[ -d "$DATA" ] || { echo "$DATA is absent (see ../shared/data/README.md)"; exit 77; }
mkdir -p "$CACHE"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for dataset in "${DATASETS[@]}"; do
  package=$CACHE/${dataset}_fold_0
  if [ ! -f "$package/manifest.json" ]; then
    rm -rf "$package"
    start=$(date +%s.%N)
    "$MEDPIPE" model import nnunet "$DATA/$dataset/model/$dataset" --out "$package" --folds 0 >/dev/null
    echo "$dataset: import $(echo "$(date +%s.%N) - $start" | bc) s"
  fi
  inputs=$CACHE/in_$dataset out=$CACHE/out_$dataset
  rm -rf "$inputs" "$out"
  mkdir -p "$inputs"
  ln -s "$DATA/$dataset"/inputs/*_0000.nii.gz "$inputs/"
  start=$(date +%s.%N)
  "$MEDPIPE" run "$inputs" "$out" --model "$package" --device cpu --batch-size 1 --output-types nifti 2>/dev/null
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  /usr/bin/python3 - "$out" "$DATA/$dataset/reference/fold_0/timings.json" "$wall" "$dataset" <<'PY'
import glob, json, os, sys
out, timings_file, wall, dataset = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
nnunet = json.load(open(timings_file))["cases"]
rows = []
for f in glob.glob(os.path.join(out, "studies", "*", "result.json")):
    r = json.load(open(f))
    case = os.path.basename(r["source"]["path"])[:-len("_0000.nii.gz")]
    analysis = r["series"][0]["analyses"][0]
    rows.append((case, r["timings_ms"], analysis.get("timings_ms", {}), analysis.get("patches")))
print(f"{dataset} (fold 0)\n  case | tiles | medpipe study s | medpipe infer s | nnU-Net predict_from_files s | nnU-Net sliding window s | ratio")
for case, study, steps, tiles in sorted(rows):
    total = study.get("total", float("nan")) / 1000
    theirs = nnunet.get(case, {})
    ref = theirs.get("wall_s_predict_from_files", float("nan"))
    print(f"  {case} | {tiles} | {total:.2f} | {steps.get('infer', 0) / 1000:.2f} | {ref:.2f} | "
          f"{theirs.get('wall_s_sliding_window_all_folds', float('nan')):.2f} | {ref / total:.2f}x")
their_sum = sum(c["wall_s_predict_from_files"] for c in nnunet.values())
print(f"  batch of {len(rows)}: medpipe run {wall:.1f} s wall (start-up included), {wall / len(rows):.2f} s per case; "
      f"nnU-Net {their_sum:.1f} s ({their_sum / len(nnunet):.2f} s per case); {their_sum / wall:.2f}x")
PY
done
