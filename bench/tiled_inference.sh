#!/usr/bin/env bash
# Tiled inference acceptance (docs/tiled_inference.md): a synthetic volume
# whose whole-volume inference would need >= 1 TB (naive footprint of the
# reuse plan) segmented in windows under a 2 GiB DRAM budget, with the input
# and accumulators in an emulated PMem file on disk; and the per-voxel
# throughput of untiled inference of a small volume in the same session.
#
#   bench/tiled_inference.sh [BUILD_DIR] [OUT_DIR]
#
# Environment (defaults in brackets): VOLUME [1024], TILE [128], OVERLAP [0],
# LEVELS [4], BASE [12], ACTIVATION [leaky_relu], NORM [batch], BASELINE_SIZE [128],
# DRAM_LIMIT [2G],
# PMEM [file:/var/tmp/ttpmem,size=40G], THREADS [2], NICE [10], PAIRS [6]: back-to-back
# pairs of untiled BASELINE_SIZE^3 and tiled (2*BASELINE_SIZE)^3 in BASELINE_SIZE^3 windows,
# whose medians give the per-voxel ratio under the same load.
set -euo pipefail

build=${1:-build}
out=${2:-bench/out/tiled_inference}
cli="$build/tools/tensortier"
volume=${VOLUME:-1024} tile=${TILE:-128} overlap=${OVERLAP:-0}
levels=${LEVELS:-4} base=${BASE:-12} baseline=${BASELINE_SIZE:-128}
activation=${ACTIVATION:-leaky_relu} norm=${NORM:-batch}
dram=${DRAM_LIMIT:-2G} pmem=${PMEM:-file:/var/tmp/ttpmem,size=40G}
threads=${THREADS:-2} nice_level=${NICE:-10} pairs=${PAIRS:-6}
model=(--levels "$levels" --base-filters "$base" --activation "$activation" --norm "$norm"
       --threads "$threads")

[[ -x "$cli" ]] || { echo "tiled_inference.sh: $cli not found; build tensortier_cli first" >&2; exit 2; }
mkdir -p "$out"
pmem_dir=${pmem#file:}; pmem_dir=${pmem_dir%%,*}
[[ "$pmem" != file:* ]] || mkdir -p "$pmem_dir"

echo "== whole-volume inference footprint of ${volume}^3 (from shapes, nothing allocated)"
"$cli" plan --mode inference --size "$volume" --levels "$levels" --base-filters "$base" \
  --activation "$activation" --norm "$norm" \
  --json "$out/plan_whole_volume.json"

echo "== untiled inference of ${baseline}^3 (the per-voxel baseline; DRAM only)"
TENSORTIER_PMEM=none nice -n "$nice_level" "$cli" infer --size "$baseline" "${model[@]}" \
  --json "$out/untiled_${baseline}.json"

echo "== tiled ${volume}^3 in ${tile}^3 windows, overlap $overlap, DRAM limit $dram, PMem $pmem"
/usr/bin/time -v env TENSORTIER_DRAM_LIMIT="$dram" TENSORTIER_PMEM="$pmem" \
  nice -n "$nice_level" "$cli" infer --volume-size "$volume" --tile "$tile" --overlap "$overlap" \
  "${model[@]}" --json "$out/tiled_${volume}.json" 2> >(tee "$out/tiled_${volume}.log" >&2)

echo "== untiled inference of ${baseline}^3 again (the load of the machine may have changed)"
TENSORTIER_PMEM=none nice -n "$nice_level" "$cli" infer --size "$baseline" "${model[@]}" \
  --json "$out/untiled_${baseline}_after.json"

echo "== $pairs back-to-back pairs: untiled ${baseline}^3, tiled $((2 * baseline))^3 in ${baseline}^3 windows"
for i in $(seq 1 "$pairs"); do
  TENSORTIER_PMEM=none nice -n "$nice_level" "$cli" infer --size "$baseline" "${model[@]}" \
    --json "$out/pair_untiled_$i.json" 2>/dev/null
  TENSORTIER_DRAM_LIMIT="$dram" TENSORTIER_PMEM="$pmem" nice -n "$nice_level" "$cli" infer \
    --volume-size $((2 * baseline)) --tile "$baseline" --overlap 0 "${model[@]}" \
    --json "$out/pair_tiled_$i.json" 2>/dev/null
done
python3 - "$out" "$pairs" <<'PY'
import json, statistics, sys
out, n = sys.argv[1], int(sys.argv[2])
u = [json.load(open(f"{out}/pair_untiled_{i}.json"))["voxels_per_second"] for i in range(1, n + 1)]
t = [json.load(open(f"{out}/pair_tiled_{i}.json")) for i in range(1, n + 1)]
a = [x["window_voxels_per_second"] for x in t]
s = [x["steady_window_voxels_per_second"] for x in t]
mu, ma, ms = statistics.median(u), statistics.median(a), statistics.median(s)
print(f"pairs: untiled {mu / 1e6:.3f} Mvoxel/s, tiled {ma / 1e6:.3f} (steady {ms / 1e6:.3f}); "
      f"tiled/untiled per voxel {ma / mu:.3f} (steady {ms / mu:.3f}), medians of {n}")
PY

python3 - "$out/untiled_${baseline}.json" "$out/tiled_${volume}.json" \
  "$out/untiled_${baseline}_after.json" <<'PY'
import json, sys
u = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2])); m = t["memory"]
u2 = json.load(open(sys.argv[3]))
print(f"whole-volume naive footprint {m['whole_volume_naive_bytes'] / 1e12:.3f} TB "
      f"(arena {m['whole_volume_planned_arena_bytes'] / 1e9:.1f} GB); window arena "
      f"{m['window_arena_bytes'] / 2**20:.0f} MiB")
print(f"generation {t['generate_seconds']:.0f} s; time inside Executor::infer "
      f"{t['infer_seconds'] / t['seconds']:.3f} of the tiled run")
print(f"tiled: {t['windows']} windows, {t['seconds']:.0f} s, {t['voxels_per_second'] / 1e6:.3f} "
      f"Mvoxel/s of volume, {t['window_voxels_per_second'] / 1e6:.3f} Mvoxel/s of windows "
      f"(steady {t['steady_window_voxels_per_second'] / 1e6:.3f})")
print(f"peak DRAM {m['peak_dram_bytes'] / 2**30:.2f} GiB (limit {m['dram_limit_bytes'] / 2**30:.2f}), "
      f"peak PMem {m['peak_pmem_bytes'] / 2**30:.2f} GiB; input {m['input_tier']}, "
      f"accumulators {m['accumulator_tier']}")
for name, b in (("before", u), ("after", u2)):
    print(f"untiled {b['config']['size']} ({name}): {b['voxels_per_second'] / 1e6:.3f} Mvoxel/s; "
          f"tiled/untiled per voxel {t['window_voxels_per_second'] / b['voxels_per_second']:.3f} "
          f"(steady {t['steady_window_voxels_per_second'] / b['voxels_per_second']:.3f})")
PY
