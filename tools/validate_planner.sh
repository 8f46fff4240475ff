#!/usr/bin/env bash
# Validates `tensortier plan`'s predicted runtime peak (footprint.runtime_peak_bytes)
# against the allocator's measured peak of live DRAM bytes, on configurations
# this machine can run: `train` (2 steps, memory.peak_live_dram_bytes of its
# report) and `infer` (one pass, peak_live_bytes of the DRAM tiers in the
# TENSORTIER_STATS dump). Prints a markdown table and the max and mean error;
# exits 1 if any error exceeds MAX_ERROR_PCT (default 3).
#
#   tools/validate_planner.sh [BUILD_DIR]        (default: build)
#   CONFIGS="train 32 1 3 8 sgd relu" tools/validate_planner.sh build   # one config
set -euo pipefail

BUILD_DIR=${1:-build}
CLI="$BUILD_DIR/tools/tensortier"
[[ -x "$CLI" ]] || { echo "validate_planner: $CLI not found (build tensortier_cli)" >&2; exit 2; }
MAX_ERROR_PCT=${MAX_ERROR_PCT:-3}
THREADS=${THREADS:-2}
WORK=$(mktemp -d /tmp/tt-validate-planner-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export TENSORTIER_PMEM=none OMP_NUM_THREADS=$THREADS
unset TENSORTIER_DRAM_LIMIT TENSORTIER_STATS TENSORTIER_POLICY TENSORTIER_MIN_SIZE

# mode size batch levels base optimizer activation
DEFAULT_CONFIGS="
train 32 1 3 8 sgd relu
train 32 2 3 16 adam relu
train 64 2 4 8 sgd relu
train 64 1 4 16 adam relu
train 64 1 5 16 sgd leaky_relu
train 64 4 3 8 adam relu
train 32 4 4 32 sgd relu
train 96 1 4 16 sgd relu
train 128 1 4 8 adam leaky_relu
infer 64 1 4 16 - relu
infer 96 2 5 16 - relu
infer 64 4 3 8 - leaky_relu
infer 128 1 5 32 - relu
infer 128 2 4 16 - relu
"
CONFIGS=${CONFIGS:-$DEFAULT_CONFIGS}

json_get() {  # FILE PYTHON-EXPRESSION-ON-d
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

echo "| mode | size | batch | levels | base | optimizer | activation | predicted MiB | measured MiB | error % |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
errors=()
fail=0
start=$(date +%s)
while read -r mode size batch levels base opt act; do
  [[ -z "${mode:-}" ]] && continue
  model=(--size "$size" --batch "$batch" --levels "$levels" --base-filters "$base"
         --activation "$act")
  if [[ $mode == train ]]; then
    "$CLI" plan "${model[@]}" --mode training --optimizer "$opt" --json "$WORK/plan.json" >/dev/null
    "$CLI" train "${model[@]}" --optimizer "$opt" --steps 2 --eval-cases 0 --threads "$THREADS" \
      --json "$WORK/run.json" 2>/dev/null
    measured=$(json_get "$WORK/run.json" 'd["memory"]["peak_live_dram_bytes"]')
  else
    "$CLI" plan "${model[@]}" --mode inference --json "$WORK/plan.json" >/dev/null
    TENSORTIER_STATS="$WORK/stats.json" "$CLI" infer "${model[@]}" --threads "$THREADS" \
      --json "$WORK/run.json" 2>/dev/null
    measured=$(json_get "$WORK/stats.json" \
      'sum(t["peak_live_bytes"] for t in d["tiers"] if not t["kind"].startswith("pmem"))')
  fi
  predicted=$(json_get "$WORK/plan.json" 'd["footprint"]["runtime_peak_bytes"]')
  read -r row err bad < <(python3 -c '
import sys
p, m, lim = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
e = (p - m) / m * 100
print("%.1f | %.1f | %+.2f" % (p / 2**20, m / 2**20, e), abs(e), int(abs(e) > lim))
' "$predicted" "$measured" "$MAX_ERROR_PCT" | sed 's/ | /|/g')
  echo "| $mode | $size | $batch | $levels | $base | $opt | $act | ${row//|/ | } |"
  errors+=("$err")
  (( bad )) && fail=1
done <<< "$CONFIGS"
python3 -c '
import sys
e = [float(x) for x in sys.argv[1:]]
print("\n%d configurations: max error %.2f%%, mean error %.2f%%" % (len(e), max(e), sum(e) / len(e)))
' "${errors[@]}"
echo "took $(( $(date +%s) - start )) s"
if (( fail )); then
  echo "validate_planner: some configuration is off by more than ${MAX_ERROR_PCT}%" >&2
  exit 1
fi
