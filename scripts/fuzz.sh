#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan + UBSan) in build-fuzz/ and runs each in turn.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   default 60 seconds each for fuzz_header fuzz_index fuzz_decode. The working corpus, crash
#   artifacts and a history of runs stay in build-fuzz/fuzz/, so later runs go on where this one
#   stopped. A target stops at its first crash: triage it (docs/reliability.md) and run again.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz
work=$build/fuzz
data=${MEDPIPE_SHARED_DATA:-$root/../shared/data}/dicom
seconds=${1:-60}
shift $(($# > 0 ? 1 : 0))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_header fuzz_index fuzz_decode)
max_len=$((1 << 20))
separator=$'\n--medpipe-fuzz-next-file--\n'  # kFileSeparator in tests/fuzz/fuzz_paths.h

# The fuzz build has its own compiler and flags, so it never shares a folder with the normal build.
if [ ! -f "$build/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DMEDPIPE_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF
fi
# One job: the machine is shared, and fuzzing time is what matters.
nice -n 10 ninja -C "$build" -j1 "${targets[@]}"

is_dicom() { head -c 132 "$1" | tail -c 4 | grep -qx DICM; }

# Seed files up to MAX_LEN: every DICOM file of the shared data, and the whole hostile corpus,
# whose files are broken on purpose and often do not even look like DICOM.
single_seeds() {
  find "$data" -type f -size -"$max_len"c | sort | while read -r file; do
    if [[ $file == */hostile/fuzz_corpus_v2/* ]] || is_dicom "$file"; then echo "$file"; fi
  done
}

# fuzz_index seeds are small archives: up to four files of one folder, joined by the separator.
write_archive_seeds() {
  local out=$1 folder file
  single_seeds | awk '{ folder = $0; sub("/[^/]*$", "", folder); if (n[folder]++ < 4) print folder "\t" $0 }' |
    while IFS=$'\t' read -r folder file; do
      local seed=$out/$(printf '%s' "$folder" | md5sum | cut -c1-16)
      [ ! -s "$seed" ] || printf '%s' "$separator" >>"$seed"
      cat "$file" >>"$seed"
    done
  find "$out" -type f -size +"$max_len"c -delete
}

# Seeds are built once; delete build-fuzz/fuzz/seeds to rebuild them from changed data.
seeds_for() {
  local kind=single
  [ "$1" != fuzz_index ] || kind=archive
  local dir=$work/seeds/$kind
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir.tmp"
    if [ $kind = single ]; then
      single_seeds | while read -r file; do cp "$file" "$dir.tmp/$(md5sum <"$file" | cut -c1-16)"; done
    else
      write_archive_seeds "$dir.tmp"
    fi
    mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}

# The targets write each input to a file (the code under test reads paths): in tmpfs for speed, in
# a folder of this run's own, since a crashed process cannot remove its files.
scratch=$(mktemp -d /dev/shm/medpipe-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

failed=0
for target in "${targets[@]}"; do
  corpus=$work/corpus/$target
  crashes=$work/crashes/$target
  log=$work/logs/$target-$(date +%Y%m%d-%H%M%S).log
  mkdir -p "$corpus" "$crashes" "$work/logs"
  seeds=$(seeds_for "$target")
  before=$(ls "$crashes" | wc -l)
  # CPU time, not wall time: the machine is shared, so wall time says little about the work done.
  status=0
  TMPDIR=$scratch /usr/bin/time -f '%U %S' -o "$work/cpu.txt" nice -n 10 "$build/tests/fuzz/$target" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "$seeds" >"$log" 2>&1 || status=$?
  cpu=$(tail -1 "$work/cpu.txt" | awk '{printf "%.0f", $1 + $2}')
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  found=$(($(ls "$crashes" | wc -l) - before))
  [ "$status" -eq 0 ] && [ "$found" -eq 0 ] || failed=1
  printf '%s\tcpu_s=%s\texecs=%s\tcorpus=%s\tcrashes=%s\texit=%s\tlog=%s\n' "$target" "$cpu" "${execs:-?}" \
    "$(ls "$corpus" | wc -l)" "$found" "$status" "$log" | tee -a "$work/history.tsv"
done
exit $failed
