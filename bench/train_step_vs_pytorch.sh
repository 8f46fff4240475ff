#!/usr/bin/env bash
# One full training step of the same 3D U-Net in PyTorch 1.13 (CPU, Debian
# python3-torch) and in `tensortier train`, side by side: 2 levels, base 16,
# 96^3, 4 input channels, 3 classes, batch norm, ReLU, CE + soft Dice, SGD
# momentum 0.9, 2 threads. Reports the median step time (warm-up step left
# out on both sides), peak RSS (/usr/bin/time -v) and GFLOP/s, in ROUNDS
# alternating rounds so that both see the same machine load.
#
#   bench/train_step_vs_pytorch.sh              # BUILD_DIR=build ROUNDS=2 STEPS=5 SIZE=96
#
# Labels: the generator has 4 classes (background, necrotic, edema,
# enhancing); the 3-class network predicts background, tumour core
# (necrotic + enhancing) and edema (`tensortier train --classes 3`, see
# docs/training.md). PyTorch gets random data of the same shapes: the step
# time does not depend on the values.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
TT="$BUILD_DIR/tools/tensortier"
ROUNDS="${ROUNDS:-2}"
STEPS="${STEPS:-5}"
SIZE="${SIZE:-96}"
THREADS="${THREADS:-2}"
PY=/usr/bin/python3   # Debian's torch imports only here
[[ -x "$TT" ]] || { echo "no $TT: build first (tools/build.sh)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time is missing: apt-get install time" >&2; exit 1; }
"$PY" -c "import torch" 2>/dev/null || { echo "PyTorch is missing: apt-get install python3-torch" >&2; exit 1; }

OUT="$(mktemp -d "${TMPDIR:-/tmp}/tt-vs-torch.XXXXXX")"
trap 'rm -rf "$OUT"' EXIT
NET=(--levels 2 --base-filters 16 --classes 3)
for ((r = 1; r <= ROUNDS; r++)); do
  echo "round $r/$ROUNDS: load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  echo "  pytorch: $STEPS steps + 1 warm-up" >&2
  /usr/bin/time -v "$PY" "$ROOT/bench/train_step_vs_pytorch.py" --size "$SIZE" "${NET[@]}" \
    --steps "$STEPS" --threads "$THREADS" > "$OUT/torch$r.json" 2> "$OUT/torch$r.time"
  echo "  tensortier: $STEPS steps + 1 warm-up" >&2
  /usr/bin/time -v "$TT" train --size "$SIZE" "${NET[@]}" --steps $((STEPS + 1)) \
    --eval-cases 0 --threads "$THREADS" --json "$OUT/tt$r.json" 2> "$OUT/tt$r.time" >/dev/null
done
# The machine's FP32 FMA peak on the same threads (bench_unet_conv's FMA loop).
PEAK=0
if [[ -x "$BUILD_DIR/bench/bench_unet_conv" ]]; then
  OMP_NUM_THREADS="$THREADS" "$BUILD_DIR/bench/bench_unet_conv" --benchmark_filter=peak \
    --benchmark_repetitions=3 --benchmark_out="$OUT/peak.json" --benchmark_out_format=json >/dev/null 2>&1
  PEAK="$("$PY" -c 'import json,sys; print(max(b["GFLOP/s"] for b in json.load(open(sys.argv[1]))["benchmarks"] if "GFLOP/s" in b))' "$OUT/peak.json")"
fi

"$PY" - "$OUT" "$ROUNDS" "$PEAK" <<'PYEOF'
import json, re, statistics, sys
out, rounds, machine_peak = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def rss(path):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(path).read())
    return int(m.group(1)) * 1024
torch_steps, tt_steps, torch_rss, tt_rss = [], [], [], []
torch_cpu, tt_cpu = [], []
flops = None
for r in range(1, rounds + 1):
    t = json.load(open(f"{out}/torch{r}.json"))
    torch_steps += t["step_seconds"]
    torch_cpu += t["step_cpu_seconds"]
    torch_rss.append(rss(f"{out}/torch{r}.time"))
    d = json.load(open(f"{out}/tt{r}.json"))
    tt_steps += d["step_seconds"][1:]
    tt_cpu += d["step_cpu_seconds"][1:]
    tt_rss.append(rss(f"{out}/tt{r}.time"))
    flops = d["flops_per_step"]
mt, mp = statistics.median(tt_steps), statistics.median(torch_steps)
gib = 1 << 30
print(f"network: 2 levels, base 16, {d['config']['size'][0]}^3, 4 -> 3 classes, BN, SGD momentum; "
      f"{flops / 1e9:.1f} GFLOP/step (convolutions); {d['config']['threads']} threads; {rounds} rounds")
print(f"{'':12} {'median step':>12} {'min':>8} {'max':>8} {'GFLOP/s':>8} {'CPU s/step':>10} {'peak RSS':>10}")
for name, steps, cpu, peak in (("pytorch", torch_steps, torch_cpu, max(torch_rss)),
                               ("tensortier", tt_steps, tt_cpu, max(tt_rss))):
    m = statistics.median(steps)
    print(f"{name:12} {m:11.3f}s {min(steps):7.3f}s {max(steps):7.3f}s {flops / m / 1e9:8.1f} "
          f"{statistics.median(cpu):10.3f} {peak / gib:8.2f} GiB")
print(f"speed-up (pytorch / tensortier median step): {mp / mt:.2f}x wall, "
      f"{statistics.median(torch_cpu) / statistics.median(tt_cpu):.2f}x CPU time; "
      f"peak RSS ratio (tensortier / pytorch): {max(tt_rss) / max(torch_rss):.2f}")
if machine_peak > 0:
    print(f"machine FP32 FMA peak on {d['config']['threads']} threads: {machine_peak:.1f} GFLOP/s; "
          f"tensortier step at {flops / mt / 1e9 / machine_peak:.0%} of it, pytorch at {flops / mp / 1e9 / machine_peak:.0%}")
print(json.dumps({"machine_peak_gflops": machine_peak, "pytorch_step_seconds": torch_steps, "tensortier_step_seconds": tt_steps,
                  "pytorch_median": mp, "tensortier_median": mt, "speedup": mp / mt,
                  "pytorch_cpu_seconds": torch_cpu, "tensortier_cpu_seconds": tt_cpu,
                  "pytorch_peak_rss": max(torch_rss), "tensortier_peak_rss": max(tt_rss),
                  "flops_per_step": flops}))
PYEOF
