#!/usr/bin/env bash
# CTest `cgroup_limit_is_real`: shows that a cgroup v1 memory limit set by
# tools/cgroup_run.sh is enforced here, and how it treats the two kinds of
# memory the tiered-training benchmark compares (docs/tiered_training_benchmarks.md):
#
#   1. anonymous memory touched above the limit -> the process is OOM-killed
#      inside the cgroup (exit 137, memory.oom_control oom_kill >= 1);
#   2. a file-backed MAP_SHARED mapping larger than the limit, on a disk
#      filesystem -> completes: the kernel writes dirty pages back and
#      reclaims them, so the cgroup's usage stays at the limit;
#   3. SIGTERM to cgroup_run.sh stops the command and removes the cgroup;
#      no cgroup and no process is left behind in any case.
#
#   tests/cgroup/cgroup_limit_test.sh [CGROUP_RUN [TOUCH_MEMORY_PY]]
#
# Exit 77 (CTest SKIP_RETURN_CODE) with the reason when not root, when no
# cgroup v1 memory controller is mounted, or when no disk-backed directory is
# found for the file mapping (TT_CGROUP_TEST_DIR chooses one; tmpfs pages are
# shmem and cannot be reclaimed without swap, so tmpfs does not qualify).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
run="${1:-$here/../../tools/cgroup_run.sh}"
touch_py="${2:-$here/touch_memory.py}"
limit=64M
over=256M

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; failed=1; }
failed=0

[[ $(id -u) -eq 0 ]] || skip "not root: creating a memory cgroup needs root"
mnt="$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)"
[[ -n $mnt && -e $mnt/memory.limit_in_bytes ]] || skip "no cgroup v1 memory controller mounted"
command -v python3 >/dev/null || skip "python3 is missing"

dir=""
for d in ${TT_CGROUP_TEST_DIR:-} /var/tmp "$PWD" "$here"; do
  [[ -d $d && -w $d ]] || continue
  case "$(stat -f -c %T "$d" 2>/dev/null)" in
    tmpfs|ramfs|"") continue ;;
  esac
  dir="$d"
  break
done
[[ -n $dir ]] || skip "no writable disk-backed directory (set TT_CGROUP_TEST_DIR)"
free_kb="$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')"
((free_kb > 512 * 1024)) || skip "less than 512 MiB free in $dir"

work="$(mktemp -d "$dir/tt-cgroup-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "cgroup v1 memory at $mnt; file mapping in $dir ($(stat -f -c %T "$dir")); limit $limit"

field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
cgroup_gone() {
  local cg
  cg="$(field "$1" cgroup)"
  [[ ! -e $cg ]] || fail "$cg was not removed"
}

# 0. Within the limit: runs normally.
"$run" --json "$work/small.json" "$limit" -- python3 "$touch_py" anon 16M
rc=$?
[[ $rc -eq 0 ]] || fail "16M of anonymous memory under a $limit limit: exit $rc, expected 0"
cgroup_gone "$work/small.json"

# 1. Anonymous memory above the limit: OOM-killed in the cgroup.
"$run" --json "$work/anon.json" "$limit" -- python3 "$touch_py" anon "$over" 2>"$work/anon.err"
rc=$?
cat "$work/anon.err"
[[ $rc -eq 137 ]] || fail "$over of anonymous memory under a $limit limit: exit $rc, expected 137 (SIGKILL)"
[[ $(field "$work/anon.json" oom_kill) -ge 1 ]] || fail "no OOM kill counted in the cgroup"
cgroup_gone "$work/anon.json"

# 2. A file-backed MAP_SHARED mapping above the limit on disk: completes.
"$run" --json "$work/file.json" "$limit" -- python3 "$touch_py" file "$over" "$work"
rc=$?
[[ $rc -eq 0 ]] || fail "$over MAP_SHARED file mapping in $dir under a $limit limit: exit $rc, expected 0"
[[ $(field "$work/file.json" oom_kill) -eq 0 ]] || fail "file mapping: an OOM kill was counted"
max="$(field "$work/file.json" max_usage_bytes)"
limit_b="$(field "$work/file.json" limit_bytes)"
((max <= limit_b)) || fail "file mapping: max usage $max above the limit $limit_b"
cgroup_gone "$work/file.json"

# 3. SIGTERM to cgroup_run.sh: the command is stopped, the cgroup removed.
"$run" --json "$work/term.json" "$limit" -- sleep 300 &
pid=$!
cgdir=""
for ((i = 0; i < 50; i++)); do
  cgdir="$(find "$mnt" -maxdepth 6 -type d -name "tensortier-$pid" 2>/dev/null | head -1)"
  [[ -n $cgdir && -n $(cat "$cgdir/cgroup.procs" 2>/dev/null) ]] && break
  sleep 0.1
done
sleeper="$(cat "$cgdir/cgroup.procs" 2>/dev/null | head -1)"
[[ -n $sleeper ]] || fail "the command did not show up in a tensortier-$pid cgroup"
kill -TERM "$pid"
wait "$pid"
rc=$?
[[ $rc -eq 143 ]] || fail "cgroup_run.sh after SIGTERM: exit $rc, expected 143"
[[ -n $cgdir && -e $cgdir ]] && fail "$cgdir was not removed after SIGTERM"
if [[ -n $sleeper ]] && kill -0 "$sleeper" 2>/dev/null; then
  fail "the command (pid $sleeper) survived SIGTERM to cgroup_run.sh"
fi

if [[ $failed -ne 0 ]]; then
  echo "cgroup_limit_is_real: FAILED"
  exit 1
fi
echo "cgroup_limit_is_real: anonymous memory over the limit was OOM-killed; a larger file-backed mapping on disk completed at max usage $((max >> 20)) MiB"
