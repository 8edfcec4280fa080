#!/usr/bin/env bash
# Ingest throughput: header scan (files/s) and decode (MB/s of decoded voxels) for medpipe, next to
# dcm2niix converting the same folders, in one run. medpipe's decode figure times `medpipe run`
# (scan, decode, assemble volumes; nothing written but result.json); dcm2niix's includes writing
# uncompressed NIfTI, its cheapest output. Usage: scripts/bench_ingest.sh [build/pipeline/medpipe]
set -euo pipefail
cd "$(dirname "$0")/.."
medpipe=${1:-build/pipeline/medpipe}
data=../shared/data
folders=(dicom/dcm_qa_ts/In dicom/dcm_qa_ct/In dicom/dicom2nifti/tests/data dicom/totalseg/tests/reference_files/example_ct_dicom hippocampus/data/TestVolumes/Study1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
now() { date +%s.%N; }
printf '%-55s %8s %12s %18s %14s\n' folder files scan_files/s medpipe_decode_MB/s dcm2niix_MB/s
for folder in "${folders[@]}"; do
  path=$data/$folder
  files=$(find "$path" -type f | wc -l)
  t0=$(now); "$medpipe" scan "$path" --out "$tmp/index.json"; t1=$(now)
  rm -rf "$tmp/m" "$tmp/d"; mkdir -p "$tmp/d"
  t2=$(now); "$medpipe" run "$path" "$tmp/m" > /dev/null 2>&1 || true; t3=$(now)
  dcm2niix -z n -b n -o "$tmp/d" "$path" > /dev/null 2>&1 || true; t4=$(now)
  # Decoded size: voxels written as uncompressed NIfTI by dcm2niix, the same data for both tools.
  mb=$(du -sm --apparent-size "$tmp/d" | cut -f1)
  awk -v f="$folder" -v n="$files" -v s=$(echo "$t1 - $t0" | bc) -v m=$(echo "$t3 - $t2" | bc) \
      -v d=$(echo "$t4 - $t3" | bc) -v mb="$mb" \
      'BEGIN { printf "%-55s %8d %12.0f %18.1f %14.1f\n", f, n, n / s, mb / m, mb / d }'
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
