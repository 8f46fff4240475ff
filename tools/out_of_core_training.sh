#!/usr/bin/env bash
# Out-of-core training under a real, kernel-enforced memory limit: a 3D U-Net
# whose footprint is RATIO (default 8) times a cgroup v1 memory limit trains
# with tensortier's tier plan and its PMem file on disk, and is compared, in
# one run, with the same training all in DRAM (no limit) and with the naive
# way (every tensor in one file mapping, paged by the kernel) under the same
# limit. First, the all-DRAM training is started inside the limit too, to
# show the limit is real: anonymous memory over a v1 limit is OOM-killed
# (file-backed pages are reclaimed instead, which is what the other two use).
#
#   tools/out_of_core_training.sh [BUILD_DIR]      # as root, cgroup v1
#
# Environment (defaults in brackets):
#   SIZE BATCH LEVELS BASE_FILTERS   the network [128 1 5 16]
#   STEPS        steps per run; the first is left out of the medians [4]
#   RATIO        footprint / cgroup limit [8]
#   PMEM_DIR     disk directory for the PMem file, not tmpfs [/var/tmp]
#   RESULTS      raw JSON, logs, summary.md [/tmp/tt-out-of-core-<date>]
#   THREADS      compute threads [2]
#   NAIVE_TIMEOUT  seconds after which the naive run is stopped; its steps so
#                far are used [1800]
#   BUDGET_PERCENT tensortier's --dram-limit as a share of the limit left after
#                the process's non-tensor memory; the rest is for the PMem
#                file's page cache, which the kernel writes back [80]
#
# Exit status: 0; 1 when a run failed or the tiered losses differ from the
# all-DRAM ones; 2 for a bad setup (not root, no cgroup v1, tmpfs PMem_DIR).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${1:-${BUILD_DIR:-$ROOT/build}}"
TT="$BUILD_DIR/tools/tensortier"
SIZE="${SIZE:-128}"
BATCH="${BATCH:-1}"
LEVELS="${LEVELS:-5}"
BASE_FILTERS="${BASE_FILTERS:-16}"
STEPS="${STEPS:-4}"
RATIO="${RATIO:-8}"
THREADS="${THREADS:-2}"
PMEM_DIR="${PMEM_DIR:-/var/tmp}"
NAIVE_TIMEOUT="${NAIVE_TIMEOUT:-1800}"
BUDGET_PERCENT="${BUDGET_PERCENT:-80}"
RESULTS="${RESULTS:-/tmp/tt-out-of-core-$(date +%Y%m%d-%H%M%S)}"
CGROUP_RUN="$ROOT/tools/cgroup_run.sh"
PY=/usr/bin/python3

say() { echo "out_of_core: $*" >&2; }
[[ -x "$TT" ]] || { say "no $TT: build first (tools/build.sh)"; exit 2; }
[[ $(id -u) -eq 0 ]] || { say "needs root for a cgroup v1 memory limit"; exit 2; }
[[ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]] || { say "no cgroup v1 memory controller"; exit 2; }
fs=$(stat -f -c %T "$PMEM_DIR")
[[ $fs != tmpfs && $fs != ramfs ]] ||
  { say "PMEM_DIR=$PMEM_DIR is $fs: its pages cannot leave memory; use a disk directory"; exit 2; }
mkdir -p "$RESULTS"

model=(--size "$SIZE" --batch "$BATCH" --levels "$LEVELS" --base-filters "$BASE_FILTERS"
       --threads "$THREADS" --seed 0 --eval-cases 0)
net=("${model[@]}" --steps "$STEPS")
pmem_bytes=$(( $(df --output=avail -B1 "$PMEM_DIR" | tail -1) / 2 ))
export TENSORTIER_PMEM="file:$PMEM_DIR,size=$pmem_bytes"
unset TENSORTIER_DRAM_LIMIT TENSORTIER_OPTANE

json() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# 1. All-DRAM, no limit: the footprint and the reference step time.
say "all-DRAM run (no limit): ${net[*]}"
"$TT" train "${net[@]}" --json "$RESULTS/dram.json" 2>"$RESULTS/dram.log"
footprint=$(json "$RESULTS/dram.json" "d['memory']['peak_live_dram_bytes']")
rss=$(json "$RESULTS/dram.json" "d['memory']['peak_rss_bytes']")
held=$(json "$RESULTS/dram.json" "d['memory']['peak_dram_bytes']")  # live + the allocator's cache
limit=$(( footprint / RATIO ))
# What the process holds besides tensors (code, oneDNN, heap) stays anonymous
# and must fit; the PMem file's page cache shares the rest with DRAM tensors.
other=$(( rss > held ? rss - held : 0 ))
budget=$(( (limit - other) * BUDGET_PERCENT / 100 ))
say "footprint $footprint B; cgroup limit $limit B (1/$RATIO); non-tensor memory $other B; DRAM budget $budget B"
(( budget > 0 )) || { say "the limit leaves no DRAM budget: use a larger network or a smaller RATIO"; exit 2; }

status=0
# 2. The limit is real: all-DRAM training inside it is OOM-killed.
say "all-DRAM inside the limit (expect an OOM kill)"
set +e
"$CGROUP_RUN" --json "$RESULTS/dram_in_limit.cgroup.json" "$limit" -- \
  "$TT" train "${model[@]}" --steps 1 --json "$RESULTS/dram_in_limit.json" 2>"$RESULTS/dram_in_limit.log"
set -e
# 3. tensortier: tier plan, PMem file on disk, inside the limit.
say "tensortier inside the limit: --dram-limit $budget"
if ! "$CGROUP_RUN" --json "$RESULTS/tiered.cgroup.json" "$limit" -- \
  "$TT" train "${net[@]}" --dram-limit "$budget" --json "$RESULTS/tiered.json" 2>"$RESULTS/tiered.log"; then
  say "the tiered run failed: $RESULTS/tiered.log"; status=1
fi
# 4. Naive: every tensor in the file mapping, paged by the kernel, inside the limit.
say "naive file mapping inside the limit (stopped after ${NAIVE_TIMEOUT}s)"
set +e
timeout --signal=INT "$NAIVE_TIMEOUT" "$CGROUP_RUN" --json "$RESULTS/naive.cgroup.json" "$limit" -- \
  "$TT" train "${net[@]}" --placement naive-file --json "$RESULTS/naive.json" 2>"$RESULTS/naive.log"
set -e

"$PY" - "$RESULTS" "$footprint" "$limit" "$budget" <<'EOF' | tee "$RESULTS/summary.md"
import json, os, re, statistics, sys
res, footprint, limit, budget = sys.argv[1], *map(int, sys.argv[2:5])
def load(name):
    p = os.path.join(res, name)
    return json.load(open(p)) if os.path.exists(p) else None
def steps(name):
    d = load(name + ".json")
    if d: return d["step_seconds"]
    # stopped early: read the progress lines
    log = open(os.path.join(res, name + ".log")).read()
    return [float(m) for m in re.findall(r"step \d+/\d+ .*? ([0-9.]+) s/step", log)]
def med(s): return statistics.median(s[1:] if len(s) > 1 else s) if s else float("nan")
dram, tiered, naive = steps("dram"), steps("tiered"), steps("naive")
gib = lambda b: f"{b / 2**30:.2f} GiB"
print(f"footprint {gib(footprint)}, cgroup limit {gib(limit)} (footprint / limit = {footprint / limit:.1f}), "
      f"tensortier DRAM budget {gib(budget)}\n")
print("| run | where | median step s | x all-DRAM | steps | cgroup max usage | OOM kills | exit |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for name, where, s in (("dram", "no limit", dram), ("dram_in_limit", "in the limit", None),
                       ("tiered", "in the limit", tiered), ("naive", "in the limit", naive)):
    cg = load(name + ".cgroup.json") or {}
    m = med(s) if s else float("nan")
    ratio = m / med(dram) if s else float("nan")
    usage = gib(cg["max_usage_bytes"]) if "max_usage_bytes" in cg else "-"
    print(f"| {name} | {where} | {m:.2f} | {ratio:.2f} | {len(s) if s else 0} | {usage} | "
          f"{cg.get('oom_kill', '-')} | {cg.get('exit_status', 0 if s else '-')} |")
if tiered and naive:
    print(f"\nnaive / tensortier step time in the same limit: {med(naive) / med(tiered):.2f}x")
elif tiered:
    # the naive run did not finish a step: its wall time bounds the ratio
    wall = (load("naive.cgroup.json") or {}).get("wall_seconds", 0)
    print(f"\nnaive: no step finished in {wall:.0f} s; tensortier's first step took {tiered[0]:.1f} s "
          f"(naive / tensortier > {wall / tiered[0]:.0f}x on the first step)")
d, t = load("dram.json"), load("tiered.json")
if d and t:
    same = d["losses"] == t["losses"][:len(d["losses"])]
    print(f"losses tiered vs all-DRAM: {'identical' if same else 'MISMATCH'}")
    if not same: sys.exit(1)
EOF
exit $(( status | PIPESTATUS[0] ))
