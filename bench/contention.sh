#!/usr/bin/env bash
# Runs a command while stress-ng loads the machine the way other jobs would, on a schedule that
# a seed makes reproducible. The load always stops when the command exits, on Ctrl-C, or on
# any error.
#
#   bench/contention.sh SCHEDULE [--seed N] [--period S] [--loads L,L] [--log FILE] -- COMMAND [ARGS...]
#
# SCHEDULE:
#   quiet        no load (the baseline)
#   cpu1:PCT     one CPU spinner at PCT% (1..100)
#   cpu2:PCT     two CPU spinners at PCT%
#   stream       a memory-bandwidth hog (STREAM copy/scale/add/triad)
#   switch       quiet and loaded in turn, each phase --period seconds long (default 3) times a
#                factor in [0.5, 1.5), the load of each loaded phase drawn from --loads
#                (default cpu1:100,cpu2:50,cpu2:100,stream); lengths and loads follow from --seed
# --log FILE gets one line per phase: its start (seconds since the epoch), then the load.
set -euo pipefail

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
schedule=$1
shift
seed=1 period=3 log=/dev/null loads_list=cpu1:100,cpu2:50,cpu2:100,stream
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case $1 in
    --seed) seed=$2; shift 2 ;;
    --period) period=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --loads) loads_list=$2; shift 2 ;;
    *) echo "contention.sh: unknown option '$1'" >&2; usage ;;
  esac
done
[ $# -ge 2 ] && [ "$1" = "--" ] || { echo "contention.sh: give the command after --" >&2; usage; }
shift
command -v stress-ng >/dev/null || { echo "contention.sh: stress-ng is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
[[ $seed =~ ^[0-9]+$ ]] || { echo "contention.sh: --seed '$seed' is not a whole number" >&2; exit 2; }
[[ $period =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "contention.sh: --period '$period' is not a number of seconds" >&2; exit 2; }

check_load() {
  case $1 in
    quiet | stream) ;;
    cpu1:* | cpu2:*)
      local pct=${1#cpu?:}
      [[ $pct =~ ^[0-9]+$ ]] && [ "$pct" -ge 1 ] && [ "$pct" -le 100 ] ||
        { echo "contention.sh: load '$1': the percentage must be 1..100" >&2; exit 2; } ;;
    *) echo "contention.sh: unknown schedule '$1'" >&2; usage ;;
  esac
}
[ "$schedule" = switch ] || check_load "$schedule"
IFS=, read -r -a loads <<<"$loads_list"
[ ${#loads[@]} -gt 0 ] || { echo "contention.sh: --loads is empty" >&2; exit 2; }
for l in "${loads[@]}"; do
  [ "$l" != quiet ] || { echo "contention.sh: --loads: quiet is not a load" >&2; exit 2; }
  check_load "$l"
done

load_pid=""
start_load() {  # one load kind, in the background
  case $1 in
    quiet) return ;;
    cpu1:*) stress-ng --cpu 1 --cpu-load "${1#cpu1:}" --quiet & ;;
    cpu2:*) stress-ng --cpu 2 --cpu-load "${1#cpu2:}" --quiet & ;;
    stream) stress-ng --stream 1 --quiet & ;;
  esac
  load_pid=$!
}
stop_load() {  # stress-ng stops its workers on TERM
  if [ -n "$load_pid" ]; then
    kill -TERM "$load_pid" 2>/dev/null || true
    wait "$load_pid" 2>/dev/null || true
    load_pid=""
  fi
}

note() { printf '%s %s\n' "$(date +%s.%N)" "$1" >>"$log"; }

# The schedule runs in a subshell of its own; TERM stops its current load and ends it.
drive() {
  trap 'stop_load; exit 0' TERM
  if [ "$schedule" != switch ]; then
    note "$schedule"
    start_load "$schedule"
    while true; do sleep 3600 & wait $! || true; done
  fi
  local loaded=0 kind len
  RANDOM=$seed
  while true; do
    kind=quiet
    [ $loaded -eq 1 ] && kind=${loads[$((RANDOM % ${#loads[@]}))]}
    len=$(echo "$period * (0.5 + $RANDOM / 32768)" | bc -l)
    note "$kind"
    start_load "$kind"
    sleep "$len" & wait $! || true
    stop_load
    loaded=$((1 - loaded))
  done
}

: >"$log"
drive &
driver=$!
cleanup() { kill -TERM "$driver" 2>/dev/null || true; wait "$driver" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
"$@"
