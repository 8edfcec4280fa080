#!/usr/bin/env bash
# Batch benchmark: the same archive run one study at a time and with the stages overlapped, in one run.
#   scripts/bench_batch.sh BUILD_DIR [DEVICE [STUDIES]]      (defaults: auto, 200)
# The archive is generated from real data (../shared/data): Decathlon hippocampus crops as MR studies
# and PneumoniaMNIST X-rays as DX studies, alternating; both shipped models run on every study that
# fits them. Prints one line per mode: studies/hour, processor busy fraction (CPU seconds over wall
# time times cores), and the busy fraction of each stage; "infer" is the device's share of the wall
# time (on a GPU host, nvidia-smi's mean utilisation too), and the worker's peak resident memory. Sequential is --max-inflight 1 with one
# thread per stage; concurrent uses the defaults.
set -euo pipefail
build=$(realpath "$1"); device=${2:-auto}; studies=${3:-200}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 scripts/bench/make_batch_archive.py "$work/archive" --studies "$studies"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
if command -v nvidia-smi > /dev/null; then nvidia-smi --query-gpu=name --format=csv,noheader; fi

run_mode() {  # NAME OPTIONS...
  local name=$1; shift
  local gpu_log="$work/gpu-$name.csv" sampler=""
  if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 200 > "$gpu_log" &
    sampler=$!
  fi
  "$build/pipeline/medpipe" run "$work/archive" "$work/out-$name" --model models/hippocampus --model models/pneumonia \
    --device "$device" "$@" 2> "$work/log-$name" || { tail -20 "$work/log-$name"; exit 1; }
  if [ -n "$sampler" ]; then kill "$sampler"; wait "$sampler" 2> /dev/null || true; fi
  /usr/bin/python3 - "$name" "$work/out-$name/status.json" "$gpu_log" "$*" <<'PY'
import json, os, sys
name, status_path, gpu_log, options = sys.argv[1:]
s = json.load(open(status_path))
busy = " ".join(f"{stage} {fraction:.2f}" for stage, fraction in sorted(s["stage_busy_fraction"].items()))
gpu = ""
if os.path.exists(gpu_log):
    samples = [float(line) for line in open(gpu_log) if line.strip()]
    gpu = f", nvidia-smi GPU utilisation {sum(samples) / max(len(samples), 1) / 100:.2f}"
print(f"{name:10s} {s['done']} studies ({s['failed']} failed) in {s['elapsed_s']:.1f} s: {s['studies_per_hour']:.0f} studies/hour, "
      f"CPU busy {s['cpu_busy_fraction']:.2f}, stage busy: {busy}{gpu}, worker peak RSS {s['worker_peak_rss_mib']:.0f} MiB  "
      f"[{options or 'defaults'}]")
PY
}

run_mode sequential --max-inflight 1 --load-threads 1 --export-threads 1
run_mode concurrent
