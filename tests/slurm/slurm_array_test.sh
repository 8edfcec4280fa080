#!/usr/bin/env bash
# Integration test of scripts/slurm/: starts a real single-node Slurm (scripts/slurm/local_cluster.sh),
# submits `medpipe run --model models/hippocampus` as a 3-task job array plus the dependent
# `medpipe report` job (scripts/slurm/submit.sh), runs the same archive in one process, and checks
# that the merged results equal the single run and that every study was run by exactly one shard.
# The archive is a temporary folder of links to the DICOM in ../shared/data: hostile/ (malformed
# files, which end in problems.json), dcm_qa_ct, dcm_qa_ts, totalseg's CT, dicom2nifti's series (the
# failing ones included) and the hippocampus test study, whose cropped series the model segments:
# 25 studies, 4 of them failing. The reference NIfTI files next to that DICOM are left out: the model
# would segment each one whole (NIfTI has no series description for its selector), minutes on CPU.
#
#   tests/slurm/slurm_array_test.sh MEDPIPE_BINARY SOURCE_DIR SHARED_DATA_DIR
#
# Exit 77 (skipped) without slurmctld/slurmd/munged or without the shared data.
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 MEDPIPE_BINARY SOURCE_DIR SHARED_DATA_DIR" >&2
  exit 2
fi
medpipe=$(realpath "$1")
source_dir=$(realpath "$2")
data=$3
shards=3

for cmd in munged slurmctld slurmd sbatch squeue scontrol; do
  if ! command -v "$cmd" > /dev/null; then
    echo "SKIPPED: $cmd not installed (apt-get install slurmctld slurmd slurm-client munge; scripts/setup.sh)"
    exit 77
  fi
done
if [ ! -d "$data/dicom/dicom2nifti" ] || [ ! -d "$data/hippocampus/data/TestVolumes" ]; then
  echo "SKIPPED: shared data $data/dicom or $data/hippocampus/data/TestVolumes is absent (see ../shared/data/README.md)"
  exit 77
fi
data=$(realpath "$data")
model=$source_dir/models/hippocampus

work=$(mktemp -d /tmp/medpipe-slurm-test.XXXXXX)
chmod 755 "$work"  # munged wants every folder above its socket enterable by all
archive=$work/archive
mkdir "$archive"
ln -s "$data/dicom/hostile" "$archive/hostile"
ln -s "$data/dicom/dcm_qa_ct/In" "$archive/dcm_qa_ct"
ln -s "$data/dicom/dcm_qa_ts/In" "$archive/dcm_qa_ts"
ln -s "$data/dicom/totalseg/tests/reference_files/example_ct_dicom" "$archive/totalseg"
ln -s "$data/hippocampus/data/TestVolumes" "$archive/hippocampus"
for series in "$data"/dicom/dicom2nifti/tests/data/*/*/*/; do  # failing/notavolume/001/ ...
  name=${series#"$data"/dicom/dicom2nifti/tests/data/}
  name=${name%/}
  ln -s "$series" "$archive/dicom2nifti_${name//\//_}"
done
cluster=$work/cluster
sharded=$work/sharded
single=$work/single
cleanup() {
  bash "$source_dir/scripts/slurm/local_cluster.sh" stop "$cluster" || true
  [ -z "${single_pid:-}" ] || { kill "$single_pid" 2>/dev/null || true; wait "$single_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT  # run cleanup on a signal too
# On failure, what Slurm and the jobs said.
show_logs() {
  local log
  for log in "$cluster"/log/slurm*.log "$sharded"/slurm/*.out; do
    if [ -f "$log" ]; then echo "--- $log"; tail -n 30 "$log"; fi
  done
}
fail() { echo "FAIL: $*"; show_logs; exit 1; }

start=$SECONDS
# Two free ports next to each other (slurmctld, slurmd), so that another Slurm here does not clash.
SLURM_LOCAL_PORT=$(/usr/bin/python3 -c '
import random, socket
for _ in range(100):
    port = random.randrange(20000, 40000)
    try:
        for p in (port, port + 1):
            with socket.socket() as s:
                s.bind(("", p))
        print(port)
        break
    except OSError:
        pass')
export SLURM_LOCAL_PORT
bash "$source_dir/scripts/slurm/local_cluster.sh" start "$cluster"
export SLURM_CONF=$cluster/slurm.conf

ids=$(MEDPIPE=$medpipe bash "$source_dir/scripts/slurm/submit.sh" "$archive" "$sharded" "$shards" --model "$model")
[[ $ids =~ ^array=([0-9]+)\ report=([0-9]+)$ ]] || fail "submit.sh printed '$ids'"
array=${BASH_REMATCH[1]}
report=${BASH_REMATCH[2]}
echo "array job $array, report job $report"

# The single-process reference run uses the CPU the array leaves idle (2 tasks run at once on 2 cores).
single_status=0
"$medpipe" run "$archive" "$single" --model "$model" > "$work/single.log" 2>&1 &
single_pid=$!

# Wait for both jobs to leave the queue (array tasks and report), at most 4 minutes.
for _ in $(seq 480); do
  [ -z "$(squeue -h -j "$array,$report" -o %i 2>/dev/null)" ] && break
  sleep 0.5
done
[ -z "$(squeue -h -j "$array,$report" -o %i)" ] || fail "jobs still queued after 4 minutes: $(squeue)"
wait "$single_pid" || single_status=$?
single_pid=
echo "single-process run: exit $single_status; Slurm array and report: $((SECONDS - start)) s since the cluster start"

# Each task's state and exit code, "TASK STATE CODE", from the controller (no accounting here).
scontrol -o show job "$array" | sed -nE 's/.*ArrayTaskId=([0-9]+) .*JobState=([A-Z_]+) .* ExitCode=([0-9]+):.*/\1 \2 \3/p' \
  | sort -n > "$work/tasks.txt"
scontrol -o show job "$report" | sed -nE 's/.*JobState=([A-Z_]+) .* ExitCode=([0-9]+):.*/\1 \2/p' > "$work/report.txt"
echo "array tasks (shard, state, exit code):"; cat "$work/tasks.txt"
echo "report job: $(cat "$work/report.txt")"
[ "$(cat "$work/report.txt")" = "COMPLETED 0" ] || fail "report job did not complete"
[ "$single_status" -le 1 ] || { cat "$work/single.log"; fail "single-process run exited $single_status"; }

/usr/bin/python3 - "$sharded" "$single" "$shards" "$work/tasks.txt" "$single_status" <<'EOF' || fail "results differ"
import csv, json, os, sys

sharded, single, shards, tasks_file, single_status = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
errors = []

def check(condition, message):
    if not condition:
        errors.append(message)
    return condition

def load(path):
    with open(path) as f:
        return json.load(f)

def study_ids(out):
    names = os.listdir(os.path.join(out, "studies"))
    check(not [n for n in names if n.startswith(".")], f"{out}: staging folders left: {names}")
    return sorted(n for n in names if not n.startswith("."))

# What differs between any two runs is wall-clock timings (timings_ms at study, series and analysis
# level). result.json holds no absolute paths here (output names are relative to the study folder;
# only NIfTI input would add source.path, the same archive path in both runs) and no generated UIDs,
# so everything else must be equal.
def comparable(value):
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if k != "timings_ms"}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value

ids = study_ids(sharded)
check(ids == study_ids(single), f"study ids differ: sharded {len(ids)}, single {len(study_ids(single))}")
check(len(ids) >= shards * 3, f"only {len(ids)} studies")
for study in ids:
    a = load(os.path.join(sharded, "studies", study, "result.json"))
    b_path = os.path.join(single, "studies", study, "result.json")
    if check(os.path.exists(b_path), f"{study}: no result in the single run"):
        check(comparable(a) == comparable(load(b_path)), f"{study}: result.json differs beyond timings")
    files = lambda out: sorted(os.listdir(os.path.join(out, "studies", study)))
    check(files(sharded) == files(single), f"{study}: files differ: {files(sharded)} vs {files(single)}")
    # Masks and pictures are byte for byte the same; DICOM SEG and SR carry new UIDs and dates each run.
    for name in files(sharded):
        if name.endswith((".nii.gz", ".png")) and name in files(single):
            same = open(os.path.join(sharded, "studies", study, name), "rb").read() == \
                   open(os.path.join(single, "studies", study, name), "rb").read()
            check(same, f"{study}/{name} differs")

# results.csv: one row per study, series and result; timing columns differ from run to run.
csv.field_size_limit(sys.maxsize)  # a hostile file's reason can be long
def rows(out):
    with open(os.path.join(out, "results.csv"), newline="") as f:
        table = list(csv.reader(f))
    keep = [i for i, name in enumerate(table[0]) if not name.endswith("_ms")]
    return [[row[i] for i in keep] for row in table]
a, b = rows(sharded), rows(single)
check(len(a) > len(ids), f"results.csv has {len(a)} lines for {len(ids)} studies")
check(a == b, "results.csv differs beyond timing columns")
check(load(os.path.join(sharded, "problems.json")) == load(os.path.join(single, "problems.json")), "problems.json differs")
check(os.path.getsize(os.path.join(sharded, "report.html")) > 0, "no report.html")

# Shards: each finished, each ran its own studies (progress events), together every study once.
tasks = {int(t): (state, int(code)) for t, state, code in (line.split() for line in open(tasks_file))}
check(sorted(tasks) == list(range(shards)), f"array tasks {sorted(tasks)}")
seen = {}
failed_studies = 0
for shard in range(shards):
    status = load(os.path.join(sharded, f"status-{shard}-of-{shards}.json"))
    check(status["state"] == "finished", f"shard {shard}: state {status['state']}")
    check(status["skipped"] == 0 and status["pending"] == 0, f"shard {shard}: {status}")
    with open(os.path.join(sharded, f"progress-{shard}-of-{shards}.jsonl")) as f:
        events = [json.loads(line) for line in f]
    studies = [e["study_id"] for e in events if e["event"] == "study"]
    check(len(studies) == status["total"] == status["done"] + status["failed"], f"shard {shard}: {len(studies)} events, {status}")
    check(len(studies) > 0, f"shard {shard} got no study")
    for study in studies:
        check(study not in seen, f"study {study} ran in shards {seen.get(study)} and {shard}")
        seen[study] = shard
    failed_studies += status["failed"]
    # medpipe's exit code reaches Slurm: 1 when some of the shard's studies failed.
    expected = ("FAILED", 1) if status["failed"] else ("COMPLETED", 0)
    check(tasks.get(shard) == expected, f"shard {shard}: task {tasks.get(shard)}, expected {expected}")
check(sorted(seen) == ids, f"shards ran {len(seen)} studies, results hold {len(ids)}")
single_failed = load(os.path.join(single, "status.json"))["failed"]
check(failed_studies == single_failed, f"failed studies: {failed_studies} in shards, {single_failed} in one process")
check(single_status == (1 if single_failed else 0), f"single run exit {single_status} with {single_failed} failed")

per_shard = {s: sum(1 for v in seen.values() if v == s) for s in range(shards)}
print(f"{len(ids)} studies ({failed_studies} failed) in {shards} shards {per_shard}; "
      f"{len(a) - 1} results.csv rows; {'DIFFERENT from' if errors else 'equal to'} the single-process run")
for e in errors:
    print("  " + e)
sys.exit(1 if errors else 0)
EOF
echo "PASS in $((SECONDS - start)) s"
