#!/usr/bin/env bash
# Runs a command inside a fresh cgroup v1 memory cgroup with a hard memory
# limit, then reports what happened and removes the cgroup.
#
#   tools/cgroup_run.sh [--json FILE] [--quiet] LIMIT -- COMMAND [ARGS...]
#
#   LIMIT     bytes, with an optional K/M/G/T suffix (binary units), e.g. 1536M
#   --json    also write the report as a JSON object to FILE
#   --quiet   no report line on stderr (errors are still printed)
#
# The cgroup is <parent>/tensortier-<pid of this script>, where <parent> is
# the memory cgroup this script itself runs in (so the new limit nests inside
# whatever limit and accounting already apply to the caller); set
# TT_CGROUP_PARENT to another directory of the memory hierarchy, e.g.
# /sys/fs/cgroup/memory for the root. It gets memory.limit_in_bytes = LIMIT
# and memory.swappiness = 0 (when writable). The report (stderr, and FILE):
# exit status (128+N when killed by signal N), wall time,
# memory.max_usage_in_bytes, memory.failcnt (times the limit was hit) and the
# number of OOM kills inside the cgroup (memory.oom_control's oom_kill); the
# JSON also keeps memory.stat as it was at the end (pgmajfault, pgpgout, ...).
#
# Everything left in the cgroup when COMMAND ends (its background children)
# is killed, and so is everything on Ctrl-C / SIGTERM / SIGHUP: first
# SIGTERM, SIGKILL after TT_CGROUP_GRACE seconds (default 5). The cgroup
# directory is then removed; its charged page cache moves to the parent.
#
# Exit status: that of COMMAND; 2 for a usage error, when not root, or when
# no cgroup v1 memory controller is mounted; 130/143 when interrupted.
# Only cgroup v1 (memory.limit_in_bytes) is supported.
set -uo pipefail

prog="cgroup_run"
die() { echo "$prog: $*" >&2; exit 2; }
usage() {
  echo "usage: tools/cgroup_run.sh [--json FILE] [--quiet] LIMIT -- COMMAND [ARGS...]" >&2
  exit 2
}

json=""
quiet=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --json) [[ $# -ge 2 ]] || usage; json="$2"; shift 2 ;;
    --json=*) json="${1#--json=}"; shift ;;
    --quiet) quiet=1; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 0 ;;
    --) usage ;;
    -*) echo "$prog: unknown option '$1'" >&2; usage ;;
    *) break ;;
  esac
done
[[ $# -ge 3 && $2 == "--" ]] || usage
limit_text="$1"
shift 2

# LIMIT -> bytes (binary suffixes, as TENSORTIER_DRAM_LIMIT accepts them).
parse_size() {
  local t="${1^^}" num mult=1
  t="${t%IB}"; t="${t%B}"
  case "$t" in
    *K) mult=$((1 << 10)); num="${t%K}" ;;
    *M) mult=$((1 << 20)); num="${t%M}" ;;
    *G) mult=$((1 << 30)); num="${t%G}" ;;
    *T) mult=$((1 << 40)); num="${t%T}" ;;
    *) num="$t" ;;
  esac
  [[ $num =~ ^[0-9]+(\.[0-9]+)?$ ]] || return 1
  # Fractions (1.5G) through awk; integers exactly.
  if [[ $num == *.* ]]; then
    awk -v n="$num" -v m="$mult" 'BEGIN { printf "%.0f\n", n * m }'
  else
    echo $((num * mult))
  fi
}
limit_bytes="$(parse_size "$limit_text")" && [[ $limit_bytes -gt 0 ]] ||
  die "LIMIT '$limit_text': accepted: a positive number of bytes with an optional K, M, G or T suffix, e.g. 512M"

[[ $(id -u) -eq 0 ]] || die "must run as root to create a memory cgroup (try sudo)"

# The cgroup v1 memory hierarchy: a 'cgroup' (not cgroup2) mount with the
# memory option.
mnt="$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)"
[[ -n $mnt && -e $mnt/memory.limit_in_bytes ]] ||
  die "no cgroup v1 memory controller is mounted (cgroup2-only system?); this tool needs memory.limit_in_bytes"
if [[ -n ${TT_CGROUP_PARENT:-} ]]; then
  parent="${TT_CGROUP_PARENT%/}"
  [[ $parent == "$mnt" || $parent == "$mnt"/* ]] ||
    die "TT_CGROUP_PARENT='$parent' is not inside the memory hierarchy mounted at $mnt"
else
  rel="$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3; exit }' /proc/self/cgroup)"
  parent="$mnt${rel%/}"
fi
[[ -d $parent && -w $parent ]] || die "cannot create a cgroup under $parent (not a writable directory)"

cg="$parent/tensortier-$$"
mkdir "$cg" 2>/dev/null || die "cannot create $cg"

child=""
status=""
interrupted=""

# The processes in the cgroup that have not exited yet (a zombie stays listed
# in cgroup.procs until its parent reaps it: our own child is reaped by the
# wait loop below, orphans by init).
live_procs() {
  local pid state
  for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do
    state="$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null)"
    [[ $state == Z || -z $state ]] || echo "$pid"
  done
}

# Every process still in the cgroup: TERM, then KILL after the grace period.
kill_cgroup() {
  local grace="${TT_CGROUP_GRACE:-5}" pids i
  [[ -d $cg ]] || return 0
  pids="$(live_procs)"
  [[ -n $pids ]] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null
  for ((i = 0; i < grace * 10; i++)); do
    [[ -z $(live_procs) ]] && return 0
    sleep 0.1
  done
  while pids="$(live_procs)" && [[ -n $pids ]]; do
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    sleep 0.1
  done
}

remove_cgroup() {
  [[ -d $cg ]] || return 0
  kill_cgroup
  # Reap our direct child if it is still there (no zombie left behind).
  [[ -n $child ]] && wait "$child" 2>/dev/null
  local i
  for ((i = 0; i < 50; i++)); do
    rmdir "$cg" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$prog: could not remove $cg" >&2
}

on_signal() {
  interrupted="$1"
  echo "$prog: $1: stopping the command" >&2
  kill_cgroup
}
trap 'on_signal SIGINT' INT
trap 'on_signal SIGTERM' TERM
trap 'on_signal SIGHUP' HUP
trap 'remove_cgroup' EXIT

echo "$limit_bytes" >"$cg/memory.limit_in_bytes" 2>/dev/null ||
  die "cannot set $cg/memory.limit_in_bytes to $limit_bytes"
swappiness="unchanged"
if echo 0 >"$cg/memory.swappiness" 2>/dev/null; then swappiness=0; fi

start="$EPOCHREALTIME"
# The subshell moves itself into the cgroup before exec'ing COMMAND, so
# COMMAND and everything it starts is charged there from its first page.
(
  trap - INT TERM HUP EXIT
  echo "$BASHPID" >"$cg/cgroup.procs" || { echo "$prog: cannot join $cg" >&2; exit 2; }
  exec "$@"
) &
child=$!
# wait returns early (status > 128) when a trapped signal arrives: keep
# waiting until the child is really gone.
while :; do
  wait "$child" 2>/dev/null   # no "Killed" job message: the report says it
  status=$?
  kill -0 "$child" 2>/dev/null || break
done
end="$EPOCHREALTIME"
kill_cgroup   # background processes COMMAND left behind

read_val() { cat "$cg/$1" 2>/dev/null || echo null; }
# memory.stat at the end (page faults, pages in/out, dirty, writeback, ...);
# one "key value" per line, kept for the JSON report.
mem_stat="$(cat "$cg/memory.stat" 2>/dev/null | tr '\n' ';')"
max_usage="$(read_val memory.max_usage_in_bytes)"
failcnt="$(read_val memory.failcnt)"
oom_kill="$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.oom_control" 2>/dev/null)"
oom_kill="${oom_kill:-null}"
wall="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }')"
signal="null"
((status > 128 && status < 160)) && signal=$((status - 128))

if [[ $quiet != 1 ]]; then
  human() { awk -v b="$1" 'BEGIN { if (b == "null") print "?"; else printf "%.1f MiB\n", b / 1048576 }'; }
  msg="$prog: exit $status"
  [[ $signal != null ]] && msg+=" (signal $signal)"
  msg+=", wall ${wall} s, max usage $(human "$max_usage") of limit $(human "$limit_bytes")"
  msg+=", failcnt $failcnt, oom kills $oom_kill"
  [[ -n $interrupted ]] && msg+=", interrupted by $interrupted"
  echo "$msg" >&2
fi

if [[ -n $json ]]; then
  /usr/bin/env python3 - "$json" "$cg" "$limit_bytes" "$status" "$signal" "$wall" "$max_usage" \
    "$failcnt" "$oom_kill" "$swappiness" "${interrupted:-}" "$mem_stat" "$@" <<'PY' ||
import json, sys
(path, cg, limit, status, signal, wall, max_usage, failcnt, oom_kill, swappiness,
 interrupted, mem_stat), command = sys.argv[1:13], sys.argv[13:]
stat = {}
for item in mem_stat.split(";"):
    k, _, v = item.partition(" ")
    if v.strip().isdigit():
        stat[k] = int(v)
num = lambda s: None if s == "null" else int(s)
doc = {"cgroup": cg, "limit_bytes": int(limit), "command": command,
       "exit_status": int(status), "signal": num(signal), "wall_seconds": float(wall),
       "max_usage_bytes": num(max_usage), "failcnt": num(failcnt), "oom_kill": num(oom_kill),
       "oom_killed": bool(num(oom_kill)), "swappiness": swappiness,
       "interrupted": interrupted or None, "memory_stat": stat}
with open(path, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
PY
    echo "$prog: cannot write $json" >&2
fi

if [[ -n $interrupted ]]; then
  [[ $interrupted == SIGINT ]] && exit 130
  [[ $interrupted == SIGHUP ]] && exit 129
  exit 143
fi
exit "$status"
