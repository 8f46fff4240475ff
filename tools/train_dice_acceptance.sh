#!/usr/bin/env bash
# Acceptance run: trains the 3D U-Net at 64^3 on synthetic BraTS cases (a new
# case every step) and scores the arg-max Dice per class on held-out
# validation cases; passes when the mean Dice over the tumour classes
# (necrotic, edema, enhancing) reaches MIN_DICE (0.8).
#
#   tools/train_dice_acceptance.sh                    # BUILD_DIR=build STEPS=400 ...
#   STEPS=600 EVAL_CASES=16 tools/train_dice_acceptance.sh --threads 2
#
# Extra arguments go to `tensortier train`. The JSON report is kept in
# ${REPORT:-train_dice_acceptance.json}.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
TT="$BUILD_DIR/tools/tensortier"
STEPS="${STEPS:-400}"
EVAL_CASES="${EVAL_CASES:-16}"
EVAL_EVERY="${EVAL_EVERY:-100}"
MIN_DICE="${MIN_DICE:-0.8}"
REPORT="${REPORT:-train_dice_acceptance.json}"
[[ -x "$TT" ]] || { echo "no $TT: build first (tools/build.sh)" >&2; exit 1; }

set -x
"$TT" train --size 64 --batch 2 --levels 4 --base-filters 16 --classes 4 \
  --optimizer adam --lr 0.002 --lr-schedule poly --loss ce+dice \
  --steps "$STEPS" --eval-cases "$EVAL_CASES" --eval-every "$EVAL_EVERY" --seed 0 \
  --json "$REPORT" "$@"
set +x

python3 - "$REPORT" "$MIN_DICE" <<'PYEOF'
import json, sys
doc, need = json.load(open(sys.argv[1])), float(sys.argv[2])
e = doc["eval"]
s = doc["summary"]
print(f"acceptance: {s['steps']} steps in {s['total_seconds'] / 60:.1f} min "
      f"(median step {s['median_step_seconds']:.2f} s, {s['gflops']:.0f} GFLOP/s); "
      f"{e['cases']} held-out cases: " +
      ", ".join(f"{k} {v:.3f}" for k, v in e["dice"].items()) +
      f"; mean over tumour classes {e['mean_dice']:.3f} (need >= {need})")
sys.exit(0 if e["mean_dice"] >= need else 1)
PYEOF
