#!/usr/bin/env bash
# local-slurm.sh - a real one-node Slurm cluster on this machine (munged, slurmctld and slurmd
# from Debian 12's packages, on loopback, without systemd or cgroups), to try wf's
# `runs-on: slurm` and to run tests/cli/test_slurm.sh. Needs root; installs the packages
# (munge slurm-client slurmctld slurmd) with apt-get when they are missing.
#
#   scripts/local-slurm.sh start    start (idempotent); prints "local-slurm: ready ..." when the node is idle
#   scripts/local-slurm.sh stop     scancel leftover jobs, stop the daemons this script started
#   scripts/local-slurm.sh status   exit 0 if the cluster answers, 1 if not
#
# Environment:
#   LOCAL_SLURM_CPUS=N        advertise N CPUs (default: the real count), so N one-CPU stages run at once
#   LOCAL_SLURM_TIMEOUT=S     seconds to wait for the node to become idle (default 60)
#   LOCAL_SLURM_NO_INSTALL=1  never call apt-get
#   LOCAL_SLURM_RUN_DIR=D     pid files of the daemons (default /run/local-slurm)
#
# The cluster: node `localhost`, partition `debug` (the default), slurm.conf written to
# /etc/slurm/slurm.conf, logs in /var/log/slurm. No slurmdbd: finished jobs are in the job
# completion log, which `sacct -c` reads (and which wf uses). Daemons are stopped by pid only,
# and only if /proc/PID/exe is still the binary this script started.
set -euo pipefail

RUN_DIR=${LOCAL_SLURM_RUN_DIR:-/run/local-slurm}
TIMEOUT=${LOCAL_SLURM_TIMEOUT:-60}
NODE=localhost
PARTITION=debug
CONF=/etc/slurm/slurm.conf
LOG_DIR=/var/log/slurm
JOBCOMP=$LOG_DIR/jobcomp.log
MARKER="# Managed by wf scripts/local-slurm.sh - rewritten on each start"
PKGS=(munge slurm-client slurmctld slurmd)

t0=$(date +%s.%N)
log() { printf 'local-slurm: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

# pid_alive NAME BIN: RUN_DIR/NAME.pid is a live process running BIN
pid_alive() {
  local f="$RUN_DIR/$1.pid" pid
  [ -s "$f" ] || return 1
  pid=$(tr -dc '0-9' <"$f")
  [ -n "$pid" ] && [ -n "$2" ] && [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$2" ]
}
# stop_pid NAME BIN: TERM, then KILL after 15 s, the process of RUN_DIR/NAME.pid if it runs BIN
stop_pid() {
  local pid
  if pid_alive "$1" "$2"; then
    pid=$(tr -dc '0-9' <"$RUN_DIR/$1.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do pid_alive "$1" "$2" || break; sleep 0.1; done
    if pid_alive "$1" "$2"; then log "$1 (pid $pid) ignored TERM; killing it"; kill -KILL "$pid" 2>/dev/null || true; fi
    log "stopped $1 (pid $pid)"
  fi
  rm -f "$RUN_DIR/$1.pid"
}
# wait_for SECONDS CMD...: until CMD succeeds, polling every 0.1 s
wait_for() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
bin_of() { command -v "$1" >/dev/null 2>&1 && readlink -f "$(command -v "$1")"; }
ctld_up() { scontrol ping 2>/dev/null | grep -q "is UP"; }

install_packages() {
  local missing=() p policy=""
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "${LOCAL_SLURM_NO_INSTALL:-0}" = 1 ] && die "missing packages: ${missing[*]} (LOCAL_SLURM_NO_INSTALL=1)"
  log "installing ${missing[*]} ..."
  # The packages' init scripts must not start daemons (this script does); a policy-rc.d that
  # says "no" is added for the install only, and only if there is none.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"
  fi
  export DEBIAN_FRONTEND=noninteractive
  local ok=0
  ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -q >/tmp/local-slurm-apt.log 2>&1 || true
  for _ in 1 2; do   # a second try after refreshing stale package lists
    if apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold "${missing[@]}" \
         >>/tmp/local-slurm-apt.log 2>&1; then ok=1; break; fi
    apt-get update -q >>/tmp/local-slurm-apt.log 2>&1 || true
  done
  [ -n "$policy" ] && rm -f "$policy"
  [ $ok = 1 ] || { tail -20 /tmp/local-slurm-apt.log >&2; die "apt-get install failed (log: /tmp/local-slurm-apt.log)"; }
  log "installed in $(elapsed) s"
}

# start_daemon NAME BIN CMD ARGS...: run CMD (in its foreground mode) in the background in its
# own session, stdio on LOG_DIR/NAME.out (never on our caller's pipes), without the lock fd.
start_daemon() {
  local name=$1 bin=$2; shift 2
  setsid "$@" </dev/null >>"$LOG_DIR/$name.out" 2>&1 9>&- &
  echo $! >"$RUN_DIR/$name.pid"
  wait_for 5 pid_alive "$name" "$bin" || { tail -15 "$LOG_DIR/$name.out" >&2 || true; die "$name did not start (see $LOG_DIR/$name.out)"; }
}

slurm_conf() {
  local hw cpus mem node_hw overrides=""
  hw=$("$SLURMD_CMD" -C | head -1)   # "NodeName=vm CPUs=2 Boards=1 ... RealMemory=23989"
  cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$hw"); [ -n "$cpus" ] || cpus=$(nproc)
  mem=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
  [ -n "$mem" ] || mem=$(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo)
  mem=$(( mem * 95 / 100 ))   # a slightly lower reading must not drain the node
  if [ -n "${LOCAL_SLURM_CPUS:-}" ]; then
    cpus=$LOCAL_SLURM_CPUS
    overrides="SlurmdParameters=config_overrides"   # more CPUs than the hardware has
  fi
  node_hw="CPUs=$cpus RealMemory=$mem"
  cat <<EOF
$MARKER
ClusterName=local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# Start batch jobs on the scheduler's next 1 s tick, not 3 s later (the default).
SchedulerParameters=batch_sched_delay=0
# A no-op Epilog makes slurmd report each job's end at once, so freed CPUs are refilled at once.
Epilog=/bin/true
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# Every finished job is appended here; "sacct -c" reads it after squeue forgot the job.
JobCompType=jobcomp/filetxt
JobCompLoc=$JOBCOMP
MinJobAge=5
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.daemon.pid
SlurmdPidFile=$RUN_DIR/slurmd.daemon.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
$overrides
NodeName=$NODE NodeHostname=localhost NodeAddr=127.0.0.1 $node_hw State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  mkdir -p "$RUN_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd /etc/slurm
  # One start at a time; daemons are started with 9>&- so they do not hold the lock.
  exec 9>"$RUN_DIR/.start.lock"
  flock -w 300 9 || die "another start holds $RUN_DIR/.start.lock"
  install_packages
  # Debian's binaries are slurmctld-wlm/slurmd-wlm behind alternatives links; they must be run
  # by the names slurmctld/slurmd (Slurm tells which daemon it is from the program name).
  SLURMCTLD_CMD=$(command -v slurmctld); SLURMD_CMD=$(command -v slurmd)
  local ctld_bin slurmd_bin munged_bin
  ctld_bin=$(bin_of slurmctld); slurmd_bin=$(bin_of slurmd); munged_bin=$(bin_of munged)

  # munge: key, dirs, daemon (it forks and runs as user munge)
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /etc/munge
  install -d -o munge -g munge -m 0711 /var/lib/munge
  if [ ! -s /etc/munge/munge.key ]; then
    log "creating the munge key"
    mungekey --create --keyfile=/etc/munge/munge.key --force 2>/dev/null ||
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown munge:munge /etc/munge/munge.key; chmod 0600 /etc/munge/munge.key
  munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
  if ! pid_alive munged "$munged_bin" && ! munge_ok; then
    # munged forks and its parent returns once the socket is up; it runs as user munge
    runuser -u munge -- "$munged_bin" --pid-file=/run/munge/munged.pid </dev/null >>"$LOG_DIR/munged.out" 2>&1 9>&- ||
      die "munged did not start (see /var/log/munge/munged.log)"
    cp /run/munge/munged.pid "$RUN_DIR/munged.pid"
    wait_for 10 munge_ok || die "munged runs but 'munge -n | unmunge' fails"
  fi

  # slurm.conf: rewritten only when it changed (then the daemons are restarted)
  local conf changed=0
  conf=$(slurm_conf)
  if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$conf" ]; then
    if [ -f "$CONF" ] && ! head -1 "$CONF" | grep -q "Managed by.*local-slurm"; then
      cp -p "$CONF" "$CONF.bak.$(date +%s)"; log "kept the existing $CONF as $CONF.bak.*"
    fi
    printf '%s\n' "$conf" >"$CONF.tmp" && mv "$CONF.tmp" "$CONF"
    changed=1
  fi
  if [ $changed = 1 ] && { pid_alive slurmctld "$ctld_bin" || pid_alive slurmd "$slurmd_bin"; }; then
    log "slurm.conf changed; restarting slurmd and slurmctld"
    stop_pid slurmd "$slurmd_bin"; stop_pid slurmctld "$ctld_bin"
  fi

  if ! pid_alive slurmctld "$ctld_bin"; then
    # -c: a clean start (no jobs of an earlier run; job ids go on counting up)
    [ -s "$JOBCOMP" ] && mv -f "$JOBCOMP" "$JOBCOMP.1"
    start_daemon slurmctld "$ctld_bin" "$SLURMCTLD_CMD" -D -c
  fi
  wait_for 30 ctld_up || { tail -20 "$LOG_DIR/slurmctld.log" >&2; die "slurmctld does not answer 'scontrol ping'"; }
  pid_alive slurmd "$slurmd_bin" || start_daemon slurmd "$slurmd_bin" "$SLURMD_CMD" -D -N "$NODE"

  local deadline=$(( $(date +%s) + TIMEOUT )) st resumed=0
  while :; do
    st=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1)
    case "$st" in
      idle|mixed|allocated|completing) break ;;
      drain*|down*|fail*)
        [ $resumed = 1 ] || scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
        resumed=1 ;;
    esac
    pid_alive slurmd "$slurmd_bin" || { tail -15 "$LOG_DIR/slurmd.log" >&2; die "slurmd exited"; }
    [ "$(date +%s)" -lt "$deadline" ] || die "node $NODE not idle after ${TIMEOUT}s (state: ${st:-unknown})"
    sleep 0.1
  done
  echo "local-slurm: ready in $(elapsed) s: node $NODE $st, $(sinfo -h -n "$NODE" -o %c) CPUs, partition $PARTITION"
}

stop() {
  if [ -s "$RUN_DIR/slurmctld.pid" ] && command -v squeue >/dev/null && ctld_up; then
    local ids
    ids=$(timeout 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ')
    if [ -n "${ids// /}" ]; then
      log "cancelling jobs: $ids"
      # shellcheck disable=SC2086
      timeout 10 scancel $ids 2>/dev/null || true
      for _ in $(seq 100); do [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.1; done
    fi
  fi
  stop_pid slurmd "$(bin_of slurmd || true)"
  stop_pid slurmctld "$(bin_of slurmctld || true)"
  stop_pid munged "$(bin_of munged || true)"
  rm -f "$RUN_DIR/slurmd.daemon.pid" "$RUN_DIR/slurmctld.daemon.pid"
}

status() {
  local up=0
  for d in munged slurmctld slurmd; do
    if pid_alive "$d" "$(bin_of "$d" || true)"; then echo "$d: running (pid $(cat "$RUN_DIR/$d.pid"))"
    else echo "$d: not started by this script"; fi
  done
  if command -v scontrol >/dev/null && ctld_up; then
    up=1
    sinfo -h -o "node %n: %T, %c CPUs, partition %P" 2>/dev/null || true
  fi
  [ $up = 1 ]
}

[ "$(id -u)" = 0 ] || die "must run as root"
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
