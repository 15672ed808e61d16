#!/usr/bin/env bash
# A real one-node SLURM on this machine, for the tests of scripts/slurm_pretrain.sbatch
# (tests/slurm/). Test set-up only: it installs Debian packages and starts daemons as root, on
# localhost; nothing here is part of a user's install.
#
#   bash tests/slurm/local_slurm.sh install      # Debian's slurm-wlm and munge, if absent (root)
#   bash tests/slurm/local_slurm.sh start DIR    # munged + slurmctld + slurmd, state under DIR
#   bash tests/slurm/local_slurm.sh stop DIR     # stop the daemons started with DIR
#
# `start` is idempotent: a controller already answering with this DIR's config is reused.
# It prints the path of the slurm.conf to export as SLURM_CONF. Everything is on loopback: the
# controller at 127.0.0.1, the one node named `localhost` (so a job's first host name, which
# the sbatch script makes MASTER_ADDR, is localhost).
set -euo pipefail

die() { echo "local_slurm: $*" >&2; exit 1; }

install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
     && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    echo "local_slurm: slurm-wlm and munge are installed"; return 0
  fi
  [ "$(id -u)" = 0 ] || die "not root: cannot install slurm-wlm and munge"
  command -v apt-get >/dev/null || die "no apt-get: install slurm-wlm and munge by hand"
  echo "local_slurm: installing slurm-wlm and munge (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
}

munge_up() {
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1
}

start_munge() {
  munge_up && return 0
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown munge:munge /etc/munge /etc/munge/munge.key
  chmod 700 /etc/munge; chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge
  su -s /bin/sh munge -c munged || runuser -u munge -- munged
  for _ in $(seq 50); do munge_up && return 0; sleep 0.1; done
  die "munged did not answer"
}

write_conf() {
  local dir=$1 host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  cat > "$dir/slurm.conf" <<EOF
ClusterName=decontest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
KillWait=10
MinJobAge=600
SchedulerParameters=sched_interval=2
NodeName=localhost NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  local dir=${1:?usage: local_slurm.sh start DIR}
  dir=$(mkdir -p "$dir" && cd "$dir" && pwd)
  export SLURM_CONF=$dir/slurm.conf
  start_munge
  if [ -f "$SLURM_CONF" ] && scontrol ping 2>/dev/null | grep -q UP \
     && sinfo -h -o %T 2>/dev/null | grep -q idle; then
    echo "$SLURM_CONF"; return 0
  fi
  write_conf "$dir"
  slurmctld -c -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF" -N localhost
  for _ in $(seq 150); do
    if sinfo -h -o %T 2>/dev/null | grep -q idle; then echo "$SLURM_CONF"; return 0; fi
    sleep 0.2
  done
  tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
  die "the node did not become idle within 30 s (logs above)"
}

stop() {
  local dir=${1:?usage: local_slurm.sh stop DIR} f
  for f in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
}

case "${1:-}" in
  install) install ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  *) die "usage: local_slurm.sh install | start DIR | stop DIR" ;;
esac
