#!/usr/bin/env bash
# Runs the three allocator benchmarks (5 repetitions, aggregates only, JSON
# kept) and prints the medians and the ratios the acceptance criteria need:
#   alloc      tensortier/jemalloc and tensortier/glibc per size
#              (targets at 1-64 MiB: >= 1x jemalloc, >= 5x glibc)
#   migration  demote/memcpy and promote/memcpy per size (target >= 0.9x)
#   trace      time vs all-DRAM per DRAM fraction, bytes migrated per iteration
#
# usage: bench/run_allocator_benchmarks.sh [BUILD_DIR [OUT_DIR]] [-- extra benchmark flags]
#   BUILD_DIR defaults to build-bench next to this repository's CMakeLists.txt;
#   OUT_DIR (JSON, console logs, table.txt) defaults to BUILD_DIR/bench-results.
#   TT_BENCH_ONLY="alloc migration" runs a subset; TT_BENCH_REPS overrides 5;
#   TT_BENCH_REPORT_ONLY=1 runs nothing and prints the table from OUT_DIR's JSON.
#   The PMem tier is an emulated file in $TMPDIR (or /tmp).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$(cd "$here/.." && pwd)/build-bench"
out=""
if [[ $# -gt 0 && $1 != "--" ]]; then build="$1"; shift; fi
if [[ $# -gt 0 && $1 != "--" ]]; then out="$1"; shift; fi
if [[ $# -gt 0 && $1 == "--" ]]; then shift; fi
out="${out:-$build/bench-results}"
reps="${TT_BENCH_REPS:-5}"
only="${TT_BENCH_ONLY:-alloc migration training_trace}"

mkdir -p "$out"
report_only="${TT_BENCH_REPORT_ONLY:-0}"
if [[ $report_only != 1 ]]; then
  for name in $only; do
    if [[ ! -x $build/bench/bench_$name ]]; then
      echo "missing $build/bench/bench_$name: build it with make -C $build bench_$name" >&2
      exit 1
    fi
  done
  repo="$(cd "$here/.." && pwd)"
  {
    echo "source tree now: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
      "+ $(git -C "$repo" status --porcelain -- src include 2>/dev/null | wc -l) changed paths" \
      "in src/ include/; binaries built $(date -r "$build/bench/bench_alloc" '+%F %T')"
    echo "kernel $(uname -r), $(nproc) CPUs, THP $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
    echo "PMem file directory: ${TMPDIR:-/tmp}"
  } >"$out/meta.txt"
  for name in $only; do
    echo "bench_$name: start $(date +%T), load average $(cut -d' ' -f1-3 /proc/loadavg)" |
      tee -a "$out/meta.txt"
    "$build/bench/bench_$name" --benchmark_repetitions="$reps" \
      --benchmark_report_aggregates_only=true \
      --benchmark_out="$out/$name.json" --benchmark_out_format=json "$@" >"$out/$name.log" 2>&1 || {
      echo "bench_$name failed; see $out/$name.log" >&2
      tail -20 "$out/$name.log" >&2
      exit 1
    }
  done
  echo "done $(date +%T), load average $(cut -d' ' -f1-3 /proc/loadavg); JSON in $out" |
    tee -a "$out/meta.txt"
fi
echo
cat "$out/meta.txt"
echo

/usr/bin/python3 - "$out" $only <<'PY' | tee "$out/table.txt"
import json, os, sys

out, names = sys.argv[1], sys.argv[2:]
MiB = 1 << 20


def load(name):
    """run_name -> {aggregate_name -> entry} from one benchmark JSON."""
    path = os.path.join(out, name + ".json")
    with open(path) as f:
        doc = json.load(f)
    runs = {}
    for b in doc["benchmarks"]:
        if b.get("run_type") != "aggregate":
            continue
        runs.setdefault(b["run_name"], {})[b["aggregate_name"]] = b
    return doc.get("context", {}), runs


def size_text(n):
    return f"{n // MiB} MiB" if n >= MiB else f"{n >> 10} KiB"


def find(runs, prefix, arg):
    """The aggregates of the run named prefix/arg/..., or None."""
    pre = prefix.split("/")
    for run_name, aggs in runs.items():
        parts = run_name.split("/")
        if parts[:len(pre)] == pre and len(parts) > len(pre) and parts[len(pre)] == str(arg):
            return aggs
    return None


def median(aggs, key):
    if aggs is None or "median" not in aggs or aggs["median"].get("error_occurred"):
        return None
    return aggs["median"].get(key)


def cv(aggs, key="real_time"):
    if aggs is None or "cv" not in aggs:
        return None
    return aggs["cv"].get(key)


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def mark(r, target, applies=True):
    if r is None or not applies:
        return ""
    return " ok" if r >= target else " MISS"


for name in names:
    context, runs = load(name)
    if name == "alloc":
        print("alloc + touch every page + free, steady state: median GB/s (cv% of time)")
        print("targets at 1-64 MiB: tensortier >= 1x jemalloc and >= 5x glibc")
        impls = ["tensortier", "tensortier_uncached", "glibc", "jemalloc", "memkind"]
        head = f"{'size':>8} " + " ".join(f"{i:>19}" for i in impls)
        print(head + f" {'tt/jemalloc':>12} {'tt/glibc':>10}")
        for size in [64 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20]:
            row, gbps = f"{size_text(size):>8} ", {}
            for impl in impls:
                aggs = find(runs, f"BM_Alloc_{impl}", size)
                gbps[impl] = ratio(median(aggs, "bytes_per_second"), 1e9)
                c = cv(aggs)
                cell = fmt(gbps[impl], ".2f") + (f" ({100 * c:.0f}%)" if c is not None else "")
                row += f"{cell:>19} "
            in_range = (1 << 20) <= size <= (64 << 20)
            rj = ratio(gbps["tensortier"], gbps["jemalloc"])
            rg = ratio(gbps["tensortier"], gbps["glibc"])
            row += f"{fmt(rj, '.2f') + mark(rj, 1.0, in_range):>12} "
            row += f"{fmt(rg, '.2f') + mark(rg, 5.0, in_range):>10}"
            print(row)
        print("  (allocations/s = GB/s * 1e9 / size; tensortier_uncached: DRAM budget 3x the block, so")
        print("   the free-block cache cannot hold it and every allocation maps fresh pages)")
        print()
    elif name == "migration":
        print("migration of one block vs memcpy of the same size: median GB/s (cv% of time)")
        print("target: demote and promote >= 0.9x memcpy into a pre-touched destination")
        cols = ["demote", "promote", "memcpy", "memcpy_fresh"]
        print(f"{'size':>8} " + " ".join(f"{c:>15}" for c in cols) +
              f" {'demote/memcpy':>14} {'promote/memcpy':>15} {'dem/fresh':>10} {'pro/fresh':>10}")
        for size in [1 << 20, 16 << 20, 64 << 20, 256 << 20]:
            src = {"demote": "BM_Migrate_demote", "promote": "BM_Migrate_promote",
                   "memcpy": "BM_Memcpy_touched", "memcpy_fresh": "BM_Memcpy_fresh"}
            g, row = {}, f"{size_text(size):>8} "
            for c in cols:
                aggs = find(runs, src[c], size)
                g[c] = ratio(median(aggs, "bytes_per_second"), 1e9)
                k = cv(aggs, "real_time")
                cell = fmt(g[c], ".2f") + (f" ({100 * k:.0f}%)" if k is not None else "")
                row += f"{cell:>15} "
            rd, rp = ratio(g["demote"], g["memcpy"]), ratio(g["promote"], g["memcpy"])
            row += f"{fmt(rd, '.3f') + mark(rd, 0.9):>14} {fmt(rp, '.3f') + mark(rp, 0.9):>15} "
            row += f"{fmt(ratio(g['demote'], g['memcpy_fresh']), '.2f'):>10} "
            row += f"{fmt(ratio(g['promote'], g['memcpy_fresh']), '.2f'):>10}"
            print(row)
        print()
    elif name == "training_trace":
        print("training-like trace, 1 GiB in 25 tensors of 16-64 MiB: median ms per iteration")
        print("(x all-DRAM = the same variant with a budget of 1x the footprint; x 4x-bud = vs the")
        print(" 4x-budget tensortier run; migrated/demoted/promoted/PMem rd/wr in MiB per iteration)")
        glibc = jem = None
        for run_name in list(runs):
            if run_name.startswith("BM_Trace_glibc"):
                glibc = median(runs[run_name], "real_time")
            if run_name.startswith("BM_Trace_jemalloc"):
                jem = median(runs[run_name], "real_time")
        big = find(runs, "BM_Trace/dram4x", 0)
        big_ms = median(big, "real_time")
        print(f"baselines, all in DRAM: glibc {fmt(glibc, '.0f')} ms, jemalloc {fmt(jem, '.0f')} ms,"
              f" tensortier with a 4x budget (its free-block cache holds the whole iteration)"
              f" {fmt(big_ms, '.0f')} ms (cv {fmt(None if cv(big) is None else 100 * cv(big), '.0f')}%)")
        print(f"{'variant':>25} {'DRAM':>5} {'ms':>7} {'cv%':>4} {'x all-DRAM':>10} {'x 4x-bud':>8}"
              f" {'x glibc':>8}"
              f" {'migrated':>9} {'demoted':>8} {'promoted':>9} {'PMem rd':>8} {'PMem wr':>8}"
              f" {'touch':>6} {'fwd ms':>7} {'bwd ms':>7}")
        for variant in ["next_use_prefetch", "lru", "lru_touch", "next_use_prefetch_optane",
                        "lru_optane", "lru_touch_optane"]:
            base = None
            for d in [1, 2, 4, 8]:
                aggs = find(runs, f"BM_Trace/{variant}", d)
                ms = median(aggs, "real_time")
                if d == 1:
                    base = ms
                c = cv(aggs)
                def mib(key):
                    v = median(aggs, key)
                    return None if v is None else v / MiB
                def msec(key):
                    v = median(aggs, key)
                    return None if v is None else v * 1e3
                print(f"{variant:>25} {'1/' + str(d):>5} {fmt(ms, '.0f'):>7}"
                      f" {fmt(None if c is None else 100 * c, '.0f'):>4}"
                      f" {fmt(ratio(ms, base), '.2f'):>10} {fmt(ratio(ms, big_ms), '.2f'):>8}"
                      f" {fmt(ratio(ms, glibc), '.2f'):>8}"
                      f" {fmt(mib('bytes_migrated'), '.0f'):>9} {fmt(mib('bytes_demoted'), '.0f'):>8}"
                      f" {fmt(mib('bytes_promoted'), '.0f'):>9} {fmt(mib('pmem_read_bytes'), '.0f'):>8}"
                      f" {fmt(mib('pmem_write_bytes'), '.0f'):>8}"
                      f" {fmt(median(aggs, 'touch_faults'), '.0f'):>6}"
                      f" {fmt(msec('fwd_s'), '.0f'):>7} {fmt(msec('bwd_s'), '.0f'):>7}")
        print()
PY
