#!/usr/bin/env bash
# Fresh machine to results: install packages, build, run the pipeline on sample_data/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
rm -rf out/demo
./build/pipeline/medpipe run sample_data out/demo --model models/hippocampus --model models/pneumonia
./build/pipeline/medpipe convert sample_data out/demo/nifti
echo "review: out/demo/report.html; results: out/demo/results.csv, out/demo/studies/*/result.json; NIfTI: out/demo/nifti/"
