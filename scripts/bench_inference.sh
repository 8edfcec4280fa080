#!/usr/bin/env bash
# Inference benchmark: medpipe's engine next to plain PyTorch, same model, same machine, same call.
#   scripts/bench_inference.sh BUILD_DIR [DEVICE [X Y Z [PATCH [BATCH [PRECISIONS]]]]]
# Defaults: cuda, a 512x512x300 CT-sized volume, 128^3 patches, batch 2, "fp32 bf16 fp16".
# Exports an nnU-Net-sized 3D U-Net (random weights, ~31 M parameters) as TorchScript, seals it as
# a medpipe package, checks each precision against fp32 on its golden input, then times sliding-window
# inference (overlap 0.5, no mirroring) from a CPU volume to CPU logits with both implementations.
# Prints one JSON line per implementation and precision: ms per volume, GPU memory peak, and the
# difference of reduced-precision probabilities from fp32. PYTHON picks the interpreter with torch
# (Debian's /usr/bin/python3 on a CPU machine). On the CPU, PyTorch runs twice: with torch's default
# intra-op threads (one in Debian's 1.13 on this VM) and with the usable cores (nproc), as medpipe does.
# ROUNDS (default 1) repeats the whole comparison, medpipe and PyTorch interleaved, and REPEATS (default
# 3) sets the timed runs per call; the last lines give the medians over every timed run and the
# ratios medpipe / PyTorch fp32 (under 0.5: twice PyTorch's speed).
set -euo pipefail
build=$(realpath "$1"); device=${2:-cuda}
x=${3:-512} y=${4:-512} z=${5:-300} patch=${6:-128} batch=${7:-2} precisions=${8:-fp32 bf16 fp16}
python=${PYTHON:-python3}
# A python3 first on PATH without torch (a virtual environment) would stop the run after the build.
if [ -z "${PYTHON:-}" ] && ! "$python" -c 'import torch' 2> /dev/null; then python=/usr/bin/python3; fi
cd "$(dirname "$0")/.."
model=$(mktemp -d)/bench-unet3d
trap 'rm -rf "$(dirname "$model")"' EXIT
"$python" scripts/lib/unet3d.py --out "$model" --patch "$patch"
"$build/pipeline/medpipe" model seal "$model"
for precision in $precisions; do
  "$build/pipeline/medpipe" model check "$model" --device "$device" --precision "$precision"
done
if [ "$device" != cpu ]; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; fi
rounds=${ROUNDS:-1} repeats=${REPEATS:-3}
lines="$(dirname "$model")/lines.jsonl"
torch_threads=0
if [ "$device" = cpu ]; then torch_threads="0 $(nproc)"; fi
uptime
for round in $(seq "$rounds"); do
  echo "round $round of $rounds"
  # shellcheck disable=SC2086  # PRECISIONS is a word list
  "$build/tests/inference_bench" --model "$model" --device "$device" --size "$x" "$y" "$z" --batch-size "$batch" \
    --repeats "$repeats" --precisions $precisions | tee -a "$lines"
  for threads in $torch_threads; do
    # shellcheck disable=SC2086
    "$python" scripts/bench/bench_torch.py --model "$model/model.pt" --device "$device" --size "$x" "$y" "$z" \
      --patch "$patch" "$patch" "$patch" --batch-size "$batch" --repeats "$repeats" --threads "$threads" \
      --dtypes $precisions | tee -a "$lines"
  done
done
uptime
"$python" scripts/bench/ratio_summary.py "$lines"
