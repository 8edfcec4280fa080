#!/usr/bin/env bash
# A real single-node Slurm on this machine, for trying the job array and for its integration test.
#
#   scripts/slurm/local_cluster.sh start DIR   # munged, slurmctld, slurmd; returns when the node is idle
#   export SLURM_CONF=DIR/slurm.conf           # point sbatch, squeue, sinfo, scancel at it
#   scripts/slurm/local_cluster.sh stop DIR    # cancels its jobs, stops the daemons
#
# Everything lives in DIR: a freshly generated munge key and socket, slurm.conf (no cgroups, no
# accounting, proctrack/linuxproc, task/none, this machine's CPUs and memory from `slurmd -C`), state,
# spool, pid and log files; DIR and the folders above it must be enterable by all (munged checks the
# path to its socket; mktemp -d gives 0700). Runs as root without systemd (Debian: slurmctld slurmd
# slurm-client munge).
# SLURM_LOCAL_PORT (default 6817) sets slurmctld's port; slurmd takes the next one.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
conf=$dir/slurm.conf
export SLURM_CONF=$conf

# Sends TERM to the daemon whose pid file is given, then KILL if it is still there after 10 s.
stop_daemon() {
  local pid_file=$1 pid
  [ -f "$pid_file" ] || return 0
  pid=$(cat "$pid_file")
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
}

# Kills PID and its descendants (SIGKILL), children first found by parent id.
kill_tree() {
  local child
  for child in $(pgrep -P "$1"); do kill_tree "$child"; done
  kill -9 "$1" 2>/dev/null || true
}

stop_cluster() {
  if [ -f "$conf" ] && [ -f "$dir/run/slurmctld.pid" ]; then
    # Jobs first (SIGTERM, SIGKILL after KillWait), so that no job outlives the cluster.
    scancel --quiet --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 60); do
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  stop_daemon "$dir/run/slurmd.pid"
  stop_daemon "$dir/run/slurmctld.pid"
  stop_daemon "$dir/run/munged.pid"
  # A job step whose slurmd is gone lingers (slurmstepd ignores SIGTERM): this cluster's steps are the
  # processes whose working folder is in DIR (slurmd's log folder).
  local proc cwd
  for proc in /proc/[0-9]*; do
    cwd=$(readlink "$proc/cwd" 2>/dev/null) || continue
    [ "$cwd" = "$dir" ] || [ "${cwd#"$dir"/}" != "$cwd" ] || continue
    if [ "${proc#/proc/}" != $$ ]; then kill_tree "${proc#/proc/}"; fi
  done
}

# Prints the last lines of the daemon logs to stderr (when starting fails).
show_logs() {
  local log
  for log in "$dir"/log/*.log; do
    if [ -f "$log" ]; then echo "--- $log" >&2; tail -n 20 "$log" >&2; fi
  done
}

start_cluster() {
  local missing=() cmd
  for cmd in munged slurmctld slurmd sinfo; do command -v "$cmd" > /dev/null || missing+=("$cmd"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "missing ${missing[*]}: apt-get install slurmctld slurmd slurm-client munge (scripts/setup.sh)" >&2
    exit 3
  fi
  [ ! -f "$dir/run/slurmctld.pid" ] || { echo "$dir: a cluster is already running there; stop it first" >&2; exit 3; }
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log" "$dir/run"
  # munge: its own key and socket. munged refuses a key that others can read and a socket folder that
  # others cannot enter (execute for all) or can write.
  chmod 755 "$dir/munge"
  local socket=$dir/munge/munge.socket
  umask 077
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  umask 022
  munged --key-file="$dir/munge/munge.key" --socket="$socket" --pid-file="$dir/run/munged.pid" \
         --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"

  local host port user node
  host=$(hostname -s)
  port=${SLURM_LOCAL_PORT:-6817}
  user=$(id -un)
  # "NodeName=host CPUs=2 Boards=1 ... RealMemory=24105": what slurmd finds on this machine.
  node=$(slurmd -C | head -n 1 | sed "s/^NodeName=[^ ]*//")
  cat > "$conf" <<EOF
# Written by scripts/slurm/local_cluster.sh: one node, no cgroups, no accounting.
ClusterName=medpipe-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=600
KillWait=10
NodeName=$host NodeAddr=127.0.0.1 $node State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  slurmctld -f "$conf"
  slurmd -f "$conf" -N "$host"

  local state=""
  for _ in $(seq 120); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -n 1)
    [ "$state" = idle ] && break
    sleep 0.5
  done
  if [ "$state" != idle ]; then
    echo "local Slurm did not come up (node state '${state:-none}' after 60 s)" >&2
    show_logs
    stop_cluster
    exit 3
  fi
  echo "local Slurm up: export SLURM_CONF=$conf" >&2
}

case $action in
  start) start_cluster ;;
  stop) stop_cluster ;;
  *) usage ;;
esac
