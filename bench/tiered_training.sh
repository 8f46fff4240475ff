#!/usr/bin/env bash
# Tiered training benchmark: one 3D U-Net configuration trained (a) all in
# DRAM, (b) under a DRAM budget of 1/2, 1/4, 1/8 of its footprint with the
# runtime's schedule-aware tiering onto an emulated PMem file (page cache) and
# again with Optane-like throttled migrations (TENSORTIER_OPTANE=on: one DIMM;
# and dimms=6: one socket's six, interleaved), and (c)
# inside a cgroup v1 memory limit (tools/cgroup_run.sh): the naive baseline
# (`--placement naive-file`: every tensor in the PMem file mapping, left to
# the kernel's page cache) against tensortier's tiering with --dram-limit a
# bit under the cgroup limit, its PMem tier either a disk file whose page
# cache the cgroup charges, or a tmpfs file this script fills outside the
# cgroup (emulated PMem that the DRAM limit does not count, as it would not
# count real DAX PMem). (d) repeats all-DRAM and the throttled runs with one
# compute thread fewer, leaving a core to the allocator's mover thread (as a
# many-core PMem server would): with THREADS=2 on a 2-CPU machine, the
# mover's copies otherwise take CPU time from the compute. All in one run, so
# that every ratio compares runs that saw the same machine. See
# docs/tiered_training_benchmarks.md.
#
#   bench/tiered_training.sh [BUILD_DIR]        # BUILD_DIR defaults to build
#
# Environment (defaults in brackets):
#   RESULTS       where the raw JSON, logs and table.md go [/tmp/tt-tiered-bench-<date>]
#   PMEM_DIR      disk directory for the PMem files, not tmpfs [/var/tmp]
#   TIER_PMEM_DIR directory of the PMem file for the (b) runs, which have no
#                 memory limit: tmpfs (/dev/shm) is page-cache PMem without
#                 disk writeback or filesystem write faults [PMEM_DIR]
#   SIZE BATCH LEVELS BASE_FILTERS   the network [64 4 4 16]
#   STEPS         training steps per run, the first is left out of medians [7]
#   ROUNDS        times (a), (b) and (d) run, interleaved; the report pools
#                 each setting's steps over the rounds [2]
#   THREADS       compute threads [2]
#   FRACTIONS     DRAM budgets as 1/N of the footprint [2 4 8]
#   CGROUP_FRACTION  the cgroup comparison's DRAM budget, 1/N of the footprint [4]
#   CGROUP_ROUNDS naive / tensortier rounds in the cgroup, alternating, pooled [2]
#   CGROUP_PMEM_DIR  tmpfs directory of the PMem file made outside the cgroup
#                 for the "PMem outside" runs; "" skips them [/dev/shm]
#   HEADROOM_MIB  first guess of the room left between --dram-limit and the
#                 cgroup limit beyond the measured non-tensor memory [64]
#   RUN_TIMEOUT   seconds after which one run is stopped [900]
#   ONLY          a subset of "dram tiered optane optane6 sparecore cgroup" [all]
#   LRU=1         also run the allocator's generic spilling (--tiering lru)
#   TT_BENCH_REPORT_ONLY=1  run nothing, print the table from RESULTS
#
# Exit status: 0; 1 when a run failed or when any run's losses differ from
# the all-DRAM run's bit for bit (MISMATCH in the table); 2 for a bad setup
# (missing binary or flag, PMem directory on tmpfs, not enough disk).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${1:-${BUILD_DIR:-$ROOT/build}}"
TT="$BUILD_DIR/tools/tensortier"
RESULTS="${RESULTS:-/tmp/tt-tiered-bench-$(date +%Y%m%d-%H%M%S)}"
PMEM_DIR="${PMEM_DIR:-/var/tmp}"
SIZE="${SIZE:-64}"
BATCH="${BATCH:-4}"
LEVELS="${LEVELS:-4}"
BASE_FILTERS="${BASE_FILTERS:-16}"
STEPS="${STEPS:-7}"
ROUNDS="${ROUNDS:-2}"
THREADS="${THREADS:-2}"
FRACTIONS="${FRACTIONS:-2 4 8}"
CGROUP_FRACTION="${CGROUP_FRACTION:-4}"
HEADROOM_MIB="${HEADROOM_MIB:-64}"
CGROUP_ROUNDS="${CGROUP_ROUNDS:-2}"
CGROUP_PMEM_DIR="${CGROUP_PMEM_DIR-/dev/shm}"
RUN_TIMEOUT="${RUN_TIMEOUT:-900}"
ONLY="${ONLY:-dram tiered optane optane6 sparecore cgroup}"
LRU="${LRU:-0}"
PY=/usr/bin/python3
CGROUP_RUN="$ROOT/tools/cgroup_run.sh"
REPORT="$ROOT/bench/tiered_training_report.py"
MiB=$((1 << 20))

say() { echo "tiered_training: $*" >&2; }
setup_error() { say "$*"; exit 2; }
has() { [[ " $ONLY " == *" $1 "* ]]; }

[[ -x $PY ]] || setup_error "$PY is missing"
if [[ ${TT_BENCH_REPORT_ONLY:-0} == 1 ]]; then
  exec "$PY" "$REPORT" "$RESULTS"
fi
[[ -x $TT ]] || setup_error "no $TT: build it first (cmake --build $BUILD_DIR --target tensortier_cli)"

# The flags this benchmark needs; an older binary is refused with the list.
help="$("$TT" train --help 2>&1)" || setup_error "'$TT train --help' failed"
missing=()
for flag in --dram-limit --tiering --placement --json --eval-cases --seed --threads; do
  grep -q -- "$flag" <<<"$help" || missing+=("$flag")
done
((${#missing[@]} == 0)) ||
  setup_error "$TT train lacks ${missing[*]} (needed for the tiered runs and the naive-file baseline): rebuild from a tree that has them"

# The PMem files must be on a disk: tmpfs pages are shmem (DRAM, no swap here).
[[ -d $PMEM_DIR && -w $PMEM_DIR ]] || setup_error "PMEM_DIR=$PMEM_DIR is not a writable directory"
fstype="$(stat -f -c %T "$PMEM_DIR")"
[[ $fstype != tmpfs && $fstype != ramfs ]] ||
  setup_error "PMEM_DIR=$PMEM_DIR is on $fstype (DRAM in disguise); choose a disk directory"
free_bytes=$(($(df -Pk "$PMEM_DIR" | awk 'NR == 2 { print $4 }') * 1024))
# The block device under PMEM_DIR: its sectors read/written around each run
# (the whole device, so other processes' I/O is included).
disk_stat="/sys/class/block/$(basename "$(df --output=source "$PMEM_DIR" | tail -1)")/stat"
[[ -r $disk_stat ]] || disk_stat=""
disk_bytes() {  # %.0f: mawk's %d stops at 2^31
  if [[ -n $disk_stat ]]; then awk '{ printf "%.0f %.0f\n", $3 * 512, $7 * 512 }' "$disk_stat"; else echo "0 0"; fi
}

mkdir -p "$RESULTS"
runs="$RESULTS/runs.tsv"
: >"$runs"
# network THREADS: sets net, what run() passes (the probe swaps in a tiny network).
network() {
  net=(--size "$SIZE" --batch "$BATCH" --levels "$LEVELS" --base-filters "$BASE_FILTERS"
       --steps "$STEPS" --threads "$1" --seed 0 --eval-cases 0)
}
network "$THREADS"
NET=("${net[@]}")
pmem_env() { echo "TENSORTIER_PMEM=file:$PMEM_DIR,size=$PMEM_SIZE"; }
TIER_PMEM_DIR="${TIER_PMEM_DIR:-$PMEM_DIR}"
tier_pmem_env() { echo "TENSORTIER_PMEM=file:$TIER_PMEM_DIR,size=$PMEM_SIZE"; }

# run NAME GROUP FRACTION DRAM_LIMIT CGROUP_LIMIT [ENV=VALUE...] -- [TRAIN ARGS...]
# Runs `tensortier train` (inside the cgroup when CGROUP_LIMIT is not '-'),
# keeping NAME.json (the report), NAME.log (stderr) and NAME.cgroup.json.
# Returns the exit status; a manifest line goes to runs.tsv either way.
run() {
  local name="$1" group="$2" frac="$3" dram="$4" cglimit="$5" envs=() rc=0 d0 d1
  shift 5
  while [[ $1 != "--" ]]; do envs+=("$1"); shift; done
  shift
  local cmd=(env "${envs[@]}" timeout --signal=TERM --kill-after=10 "$RUN_TIMEOUT"
             "$TT" train "${net[@]}" --json "$RESULTS/$name.json" "$@")
  [[ $dram != - ]] && cmd+=(--dram-limit "$dram")
  rm -f "$RESULTS/$name.json" "$RESULTS/$name.cgroup.json"
  say "$name: start $(date +%T), load $(cut -d' ' -f1-3 /proc/loadavg)"
  cut -d' ' -f1-3 /proc/loadavg >"$RESULTS/$name.load"
  echo "${envs[*]} ${cmd[*]:$((${#envs[@]} + 1))}" >"$RESULTS/$name.cmd"
  d0="$(disk_bytes)"
  if [[ $cglimit != - ]]; then
    "$CGROUP_RUN" --json "$RESULTS/$name.cgroup.json" "$cglimit" -- "${cmd[@]}" \
      >/dev/null 2>"$RESULTS/$name.log" || rc=$?
  else
    "${cmd[@]}" >/dev/null 2>"$RESULTS/$name.log" || rc=$?
  fi
  d1="$(disk_bytes)"
  # bytes read and written on PMEM_DIR's device during the run
  awk -v a="$d0" -v b="$d1" 'BEGIN { split(a, x, " "); split(b, y, " ");
    printf "{\"read_bytes\": %.0f, \"written_bytes\": %.0f}\n", y[1] - x[1], y[2] - x[2] }' \
    >"$RESULTS/$name.disk.json"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$group" "$frac" "$dram" "$cglimit" "$rc" \
    "${envs[*]}" >>"$runs"
  if [[ $rc -ne 0 ]]; then
    say "$name: exit $rc; last lines of $RESULTS/$name.log:"
    tail -3 "$RESULTS/$name.log" | sed 's/^/    /' >&2
  else
    say "$name: done $(date +%T): $(grep -o 'median step [0-9.]* s' "$RESULTS/$name.log" | tail -1)"
  fi
  return "$rc"
}

jget() { "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    d = d[k]
print(d)' "$@"; }

{
  echo "date: $(date '+%F %T %Z')"
  echo "host: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
  echo "binary: $TT (built $(date -r "$TT" '+%F %T'))"
  echo "source: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "+ $(git -C "$ROOT" status --porcelain -- src include tools 2>/dev/null | wc -l) changed paths"
  echo "network: ${NET[*]}"
  echo "PMem directory: $PMEM_DIR ($fstype, $((free_bytes >> 30)) GiB free)"
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RESULTS/meta.txt"

# (a) all-DRAM baseline: its DRAM peak is the footprint.
PMEM_SIZE=$((free_bytes / 2 < (16 << 30) ? free_bytes / 2 : (16 << 30)))
((PMEM_SIZE >= 1 << 30)) || setup_error "less than 2 GiB free in $PMEM_DIR"
run dram dram 1 - - "$(pmem_env)" -- || { say "the all-DRAM baseline failed"; exit 1; }
footprint="$(jget "$RESULTS/dram.json" memory.peak_dram_bytes)"
rss="$(jget "$RESULTS/dram.json" memory.peak_rss_bytes)"
((footprint > 0)) || { say "the baseline reports no DRAM peak"; exit 1; }
# The PMem files need at most the footprint each (one run at a time), twice for slack.
need=$((2 * footprint + (1 << 30)))
((free_bytes > need)) || setup_error "$PMEM_DIR has $((free_bytes >> 20)) MiB free, need $((need >> 20)) MiB"
PMEM_SIZE=$(((free_bytes / 2 > 4 * footprint) ? 4 * footprint : free_bytes / 2))
PMEM_SIZE=$(((PMEM_SIZE / MiB) * MiB))
echo "footprint (all-DRAM peak): $footprint bytes; peak RSS $rss; PMem file size $PMEM_SIZE" \
  >>"$RESULTS/meta.txt"
say "footprint $((footprint >> 20)) MiB (peak RSS $((rss >> 20)) MiB)"

# The smallest budget the tier plan accepts for this network (the largest
# op's working set plus the reserve for op internals): a 1 MiB budget is
# refused with "below the minimum feasible X MiB". 0 when not reported.
min_feasible=0
"$TT" train --size "$SIZE" --batch "$BATCH" --levels "$LEVELS" --base-filters "$BASE_FILTERS" \
  --steps 1 --threads "$THREADS" --eval-cases 0 --dram-limit 1M >/dev/null 2>"$RESULTS/min_feasible.log" &&
  say "a 1 MiB DRAM budget was accepted" || true
mf="$(grep -o 'minimum feasible [0-9.]* MiB' "$RESULTS/min_feasible.log" | grep -o '[0-9.]*' | head -1 || true)"
if [[ -n $mf ]]; then
  min_feasible="$(awk -v m="$mf" 'BEGIN { printf "%.0f\n", int(m + 1) * 1048576 }')"
  echo "minimum feasible DRAM budget of the tier plan: $mf MiB: $(sed 's/^.*minimum feasible [0-9.]* MiB: //' "$RESULTS/min_feasible.log" | head -1)" >>"$RESULTS/meta.txt"
  say "minimum feasible DRAM budget $mf MiB = 1/$(awk -v f="$footprint" -v m="$min_feasible" 'BEGIN { printf "%.2f", f / m }') of the footprint"
fi

failed=0
# A run refused because its budget is below the minimum feasible one does not
# count as a failure (the table says "infeasible").
infeasible() { grep -q "below the minimum feasible" "$RESULTS/$1.log" 2>/dev/null; }

# (b) schedule-aware tiering at 1/N of the footprint, page cache and throttled;
# when 1/N is infeasible, once more at the minimum feasible budget + 5%.
budgets=()
for n in $FRACTIONS; do budgets+=("$n:$(((footprint / n / MiB) * MiB))"); done
if ((min_feasible > 0)); then
  smallest=$(((footprint / ${FRACTIONS##* } / MiB) * MiB))
  if ((smallest < min_feasible)); then
    budgets+=("min:$(((min_feasible * 105 / 100 + MiB - 1) / MiB * MiB))")
  fi
fi
# The minimum a refused run reports (its log), in bytes + 5%, whole MiB.
reported_min() {
  local x
  x="$(grep -o 'minimum feasible [0-9.]* MiB' "$RESULTS/$1.log" | grep -o '[0-9.]*' | head -1 || true)"
  [[ -n $x ]] && awk -v m="$x" 'BEGIN { printf "%.0f\n", int(m * 1.05 + 1) * 1048576 }'
}
# Each round runs (a), (b) and (d) once, in that order (round 1's all-DRAM
# run is the one above); the report pools the rounds' steps per setting.
for ((round = 1; round <= ROUNDS; round++)); do
  sfx=""
  ((round > 1)) && sfx="_r$round"
  if ((round > 1)) && has dram; then
    run "dram$sfx" dram 1 - - "$(pmem_env)" -- || failed=1
  fi
  for i in "${!budgets[@]}"; do
    b="${budgets[$i]}"
    n="${b%%:*}" limit="${b#*:}"
    if has tiered; then
      # At the minimum, the reserve for op internals is re-measured during the
      # first step and may raise it: retry at what the refusal reports (and
      # keep it for the later rounds).
      for try in 1 2 3; do
        if run "tiered_1_$n$sfx" tiered "$n" "$limit" - "$(tier_pmem_env)" TENSORTIER_OPTANE=off -- \
          --tiering plan; then
          [[ $n == min ]] && min_feasible="$limit" && budgets[$i]="min:$limit"
          break
        fi
        infeasible "tiered_1_$n$sfx" || { failed=1; break; }
        [[ $n == min ]] || break
        next="$(reported_min "tiered_1_$n$sfx")"
        [[ -n $next && $next -gt $limit ]] || { failed=1; break; }
        say "tiered_1_min$sfx: retry at $((next >> 20)) MiB"
        limit="$next"
        [[ $try -eq 3 ]] && failed=1
      done
    fi
    if has optane; then
      run "optane_1_$n$sfx" optane "$n" "$limit" - "$(tier_pmem_env)" TENSORTIER_OPTANE=on -- \
        --tiering plan || infeasible "optane_1_$n$sfx" || failed=1
    fi
    if has optane6; then
      run "optane6_1_$n$sfx" optane6 "$n" "$limit" - "$(tier_pmem_env)" TENSORTIER_OPTANE=dimms=6 -- \
        --tiering plan || infeasible "optane6_1_$n$sfx" || failed=1
    fi
    if [[ $LRU == 1 ]]; then
      run "lru_1_$n$sfx" lru "$n" "$limit" - "$(tier_pmem_env)" TENSORTIER_OPTANE=off -- \
        --tiering lru || failed=1
    fi
  done

  # (d) one core left to the mover: all-DRAM and the throttled plan at each
  # budget with THREADS - 1 compute threads (their losses are compared with
  # this all-DRAM run's: another thread count sums in another order).
  if has sparecore && ((THREADS > 1)); then
    network $((THREADS - 1))
    run "dram_spare$sfx" sparedram 1 - - "$(pmem_env)" -- || failed=1
    for b in "${budgets[@]}"; do
      n="${b%%:*}" limit="${b#*:}"
      [[ $n == min ]] && continue
      run "optane_spare_1_$n$sfx" spareoptane "$n" "$limit" - "$(tier_pmem_env)" \
        TENSORTIER_OPTANE=on -- --tiering plan || infeasible "optane_spare_1_$n$sfx" || failed=1
    done
    net=("${NET[@]}")
  fi
done

# (c) the cgroup comparison.
if has cgroup; then
  if ! "$CGROUP_RUN" --quiet 1G -- true 2>"$RESULTS/cgroup_probe.err"; then
    say "cgroup comparison skipped: $(cat "$RESULTS/cgroup_probe.err")"
    echo "cgroup comparison skipped: $(cat "$RESULTS/cgroup_probe.err")" >>"$RESULTS/meta.txt"
  else
    # What the process needs besides its tensors, charged to the cgroup:
    # a tiny run's max usage (binary, oneDNN, threads, allocator) and, from
    # the baseline, peak RSS minus the tensors' DRAM peak (scratchpads and
    # other memory outside the allocator at this size). The larger of the two.
    net=(--size 24 --batch 1 --levels 2 --base-filters 4 --steps 2 --threads "$THREADS"
         --seed 0 --eval-cases 0)
    run baseline_rss probe 0 - $((8 << 30)) "$(pmem_env)" -- || true
    net=("${NET[@]}")
    tiny=0
    [[ -s $RESULTS/baseline_rss.cgroup.json ]] && tiny="$(jget "$RESULTS/baseline_rss.cgroup.json" max_usage_bytes)"
    extra=$((rss > footprint ? rss - footprint : 0))
    base=$((tiny > extra ? tiny : extra))
    base=$(((base + MiB - 1) / MiB * MiB))
    headroom=$((HEADROOM_MIB * MiB))
    # The DRAM budget: 1/CGROUP_FRACTION of the footprint, but no less than
    # the tier plan's minimum + headroom (tensortier refuses less).
    budget=$(((footprint / CGROUP_FRACTION / MiB) * MiB))
    floor=$((min_feasible + headroom))
    ((budget >= floor)) || budget=$(((floor + MiB - 1) / MiB * MiB))
    cglimit=$((budget + base))
    echo "cgroup: baseline usage $tiny (tiny run), non-tensor RSS $extra (all-DRAM run): base $base;" \
      "DRAM budget max(1/$CGROUP_FRACTION footprint, min feasible + headroom) = $budget;" \
      "cgroup limit = budget + base = $cglimit" >>"$RESULTS/meta.txt"
    say "cgroup limit $((cglimit >> 20)) MiB = DRAM budget $((budget >> 20)) MiB + base $((base >> 20)) MiB"
    # The naive baseline without a cgroup first: what the file mapping costs
    # when the page cache may hold all of it.
    run naive_nolimit naivefree 1 - - "$(pmem_env)" -- --placement naive-file || failed=1
    # The PMem tier outside the cgroup: a tmpfs file allocated here, so its
    # pages stay charged to this script's cgroup (file:/path uses an existing
    # file in place and never punches it). Twice the footprint: the tier
    # holds at most all of it, plus the offset allocator's fragmentation.
    outside=""
    if [[ -n $CGROUP_PMEM_DIR ]]; then
      osize=$((2 * footprint / MiB * MiB))
      ofree=$(($(df -Pk "$CGROUP_PMEM_DIR" | awk 'NR == 2 { print $4 }') * 1024))
      if [[ $(stat -f -c %T "$CGROUP_PMEM_DIR") != tmpfs ]]; then
        say "CGROUP_PMEM_DIR=$CGROUP_PMEM_DIR is not tmpfs: no PMem-outside runs"
      elif ((ofree < osize + (1 << 30))); then
        say "CGROUP_PMEM_DIR=$CGROUP_PMEM_DIR has $((ofree >> 20)) MiB free, needs $((osize >> 20)) + 1024: no PMem-outside runs"
      else
        outside="$(mktemp "$CGROUP_PMEM_DIR/tt-bench-pmem-XXXXXX")"
        trap 'rm -f "$outside"' EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM HUP
        if ! fallocate -l "$osize" "$outside"; then
          say "fallocate -l $osize $outside failed: no PMem-outside runs"
          rm -f "$outside"
          outside=""
        fi
      fi
      if [[ -n $outside ]]; then
        echo "cgroup: PMem outside the cgroup: $outside, $osize bytes of tmpfs allocated by the script" >>"$RESULTS/meta.txt"
      fi
    fi
    # Then naive and tensortier alternately, CGROUP_ROUNDS times, so all
    # see the same machine load. tensortier: --dram-limit = cgroup limit -
    # base - headroom; on an OOM kill, retry with twice the headroom while
    # that stays feasible (later rounds keep the setting that worked).
    dl=""
    for ((r = 1; r <= CGROUP_ROUNDS; r++)); do
      run "naive_cgroup_r$r" naive "$CGROUP_FRACTION" - "$cglimit" "$(pmem_env)" -- \
        --placement naive-file || failed=1
      if [[ -n $dl ]]; then
        run "tiered_cgroup_r$r" cgtiered "$CGROUP_FRACTION" "$dl" "$cglimit" "$(pmem_env)" \
          TENSORTIER_OPTANE=off -- --tiering plan || failed=1
      else
        for try in 1 2 3; do
          dl=$(((cglimit - base - headroom) / MiB * MiB))
          if ((dl < min_feasible || dl < MiB)); then
            say "no feasible --dram-limit left under the cgroup limit with $((headroom >> 20)) MiB headroom"
            failed=1
            break 2
          fi
          if run "tiered_cgroup_r$r" cgtiered "$CGROUP_FRACTION" "$dl" "$cglimit" "$(pmem_env)" \
            TENSORTIER_OPTANE=off -- --tiering plan; then
            break
          fi
          oom="$(jget "$RESULTS/tiered_cgroup_r$r.cgroup.json" oom_kill 2>/dev/null || echo 0)"
          [[ $oom -ge 1 ]] || { failed=1; break 2; }
          say "tiered_cgroup_r$r was OOM-killed at --dram-limit $((dl >> 20)) MiB; more headroom"
          echo "cgroup: OOM kill at --dram-limit $dl (headroom $headroom)" >>"$RESULTS/meta.txt"
          headroom=$((headroom * 2))
          dl=""
          [[ $try -eq 3 ]] && { failed=1; break 2; }
        done
      fi
      if [[ -n $outside ]]; then
        run "outside_cgroup_r$r" cgoutside "$CGROUP_FRACTION" "$dl" "$cglimit" \
          "TENSORTIER_PMEM=file:$outside" TENSORTIER_OPTANE=off -- --tiering plan || failed=1
      fi
    done
    echo "cgroup: tensortier --dram-limit $dl (cgroup limit - base - $headroom headroom)" >>"$RESULTS/meta.txt"
  fi
fi
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg), $(date '+%F %T')" >>"$RESULTS/meta.txt"

rc=0
"$PY" "$REPORT" "$RESULTS" || rc=$?
((failed == 0)) || { say "some runs failed (see the table and the logs in $RESULTS)"; rc=1; }
say "raw JSON, logs and table.md in $RESULTS"
exit "$rc"
