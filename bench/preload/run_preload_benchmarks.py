#!/usr/bin/python3
"""The LD_PRELOAD library's benchmarks, side by side in one run.

  1. malloc-heavy small-size workload (malloc_small.c, churn and strings):
     the library vs no preload, CPU and wall time (target <= 1.03x)
  2. PyTorch 3D conv training with everything in DRAM: step time under the
     library vs plain (target <= 1.02x)
  3. the same loop with DRAM at 1/4 and 1/8 of its footprint: step time and
     DRAM peak for tensortier (TENSORTIER_POLICY lru: migrate on touch, and
     static: place at allocation, never migrate) vs memkind's libmemtier
     (STATIC_RATIO at the same DRAM:PMem proportion) vs plain all-DRAM

Each repetition runs every variant in turn and every figure is the median of
--repeats runs, so a noisy machine skews all columns alike; the CPU time of
all threads per step is shown next to the wall time as a load-resistant view
(OpenMP runs with OMP_WAIT_POLICY=PASSIVE, so waiting threads burn no CPU). The footprint is
the managed peak of an all-DRAM run under the library (TENSORTIER_STATS);
"exit" lists the exit statuses seen (memtier segfaults at exit: 139 / -11);
"anon RSS peak" is sampled from /proc/self/status every 5 ms for every
variant (emulated PMem is file pages, not anonymous memory).

  /usr/bin/python3 bench/preload/run_preload_benchmarks.py \\
      --lib build/src/preload/libtensortier_preload.so [--repeats 5] [--json out.json]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
TORCH_SCRIPT = os.path.join(SOURCE, "tests", "preload", "torch_conv3d_train.py")
SYSTEM_PYTHON = "/usr/bin/python3"
MEMTIER = "/usr/lib/x86_64-linux-gnu/libmemtier.so.0"


def base_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TENSORTIER_", "MEMKIND_")) and k != "LD_PRELOAD"}
    env["OMP_NUM_THREADS"] = "2"
    # Idle OpenMP threads sleep instead of spinning: on a shared 2-vCPU
    # machine spinning workers turn any stall into noise in every column.
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def run_json(cmd, extra_env, allow_crash=False):
    env = base_env()
    env.update(extra_env)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if allow_crash and not lines:
        return {"exit_status": proc.returncode, "crashed": True}
    if not lines or (proc.returncode != 0 and not allow_crash):
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-2000:])
        raise SystemExit(f"failed (status {proc.returncode}): {' '.join(cmd)} with {extra_env}")
    result = json.loads(lines[-1])
    result["exit_status"] = proc.returncode
    return result


def median(values):
    return statistics.median(values)


def mib(n):
    return f"{n / (1 << 20):.0f} MiB"


def bench_malloc(lib, repeats, ops, tmp):
    binary = os.path.join(tmp, "malloc_small")
    subprocess.run(["cc", "-O2", "-fno-builtin", os.path.join(HERE, "malloc_small.c"), "-o", binary],
                   check=True)
    rows = []
    for mode in ("churn", "strings"):
        plain, tiered = [], []
        for _ in range(repeats):
            plain.append(run_json([binary, mode, str(ops)], {}))
            tiered.append(run_json([binary, mode, str(ops)], {"LD_PRELOAD": lib}))
        if {r["checksum"] for r in plain} != {r["checksum"] for r in tiered}:
            raise SystemExit(f"malloc_small {mode}: checksums differ")
        row = {"mode": mode, "ops": ops}
        for key in ("cpu_seconds", "seconds"):
            row[f"plain_{key}"] = median([r[key] for r in plain])
            row[f"preload_{key}"] = median([r[key] for r in tiered])
            row[f"ratio_{key}"] = row[f"preload_{key}"] / row[f"plain_{key}"]
        rows.append(row)
    return rows


def torch_cmd(args):
    return [SYSTEM_PYTHON, TORCH_SCRIPT, "--size", str(args.size), "--channels", str(args.channels),
            "--layers", str(args.layers), "--batch", str(args.batch), "--steps", str(args.steps),
            "--warmup", "1", "--sample-rss"]


def summarize(runs, stats=None):
    row = {"step_seconds": median([r["step_seconds"] for r in runs]),
           "step_cpu_seconds": median([r["step_cpu_seconds"] for r in runs]),
           "rss_anon_peak": median([r["peak_rss_anon_bytes"] for r in runs]),
           "losses": runs[0]["losses"],
           "exit_statuses": sorted({r["exit_status"] for r in runs})}
    if stats:
        row["dram_peak"] = max(s["dram_peak"] for s in stats)
        row["pmem_peak"] = max(s["pmem_peak"] for s in stats)
        row["promotions"] = median([s["promotions"] for s in stats])
        row["demotions"] = median([s["demotions"] for s in stats])
    return row


def tiered_run(cmd, lib, env, tmp):
    path = os.path.join(tmp, "stats.json")
    if os.path.exists(path):
        os.remove(path)
    result = run_json(cmd, dict(env, LD_PRELOAD=lib, TENSORTIER_STATS=path))
    with open(path) as f:
        s = json.load(f)
    stats = {
        "dram_peak": sum(t["peak_bytes"] for t in s["tiers"] if t["kind"] in ("dram", "hbm")),
        "pmem_peak": sum(t["peak_bytes"] for t in s["tiers"] if t["kind"].startswith("pmem")),
        "promotions": s["migrations"]["promotions"],
        "demotions": s["migrations"]["demotions"],
    }
    return result, stats


def bench_torch(args, tmp):
    cmd = torch_cmd(args)
    # The footprint first: the managed peak of an all-DRAM run under the library.
    _, first = tiered_run(cmd, args.lib, {}, tmp)
    footprint = first["dram_peak"]
    limits = {f: footprint // f // 4096 * 4096 for f in (4, 8)}
    memtier = args.memtier if os.path.exists(args.memtier) else None
    runs = {"plain": [], "fit": []}
    stats = {"fit": []}
    for f in limits:
        runs[f"tt{f}"], stats[f"tt{f}"], runs[f"mt{f}"] = [], [], []
        runs[f"ts{f}"], stats[f"ts{f}"] = [], []
    # One repetition runs every variant, so load on the machine hits all alike.
    for _ in range(args.repeats):
        runs["plain"].append(run_json(cmd, {}))
        r, s = tiered_run(cmd, args.lib, {}, tmp)
        runs["fit"].append(r)
        stats["fit"].append(s)
        for f, limit in limits.items():
            r, s = tiered_run(cmd, args.lib, {"TENSORTIER_DRAM_LIMIT": str(limit)}, tmp)
            runs[f"tt{f}"].append(r)
            stats[f"tt{f}"].append(s)
            r, s = tiered_run(cmd, args.lib, {"TENSORTIER_DRAM_LIMIT": str(limit),
                                              "TENSORTIER_POLICY": "static"}, tmp)
            runs[f"ts{f}"].append(r)
            stats[f"ts{f}"].append(s)
            if memtier:
                pmem_dir = os.path.join(tmp, f"memtier-{f}")
                os.makedirs(pmem_dir, exist_ok=True)
                runs[f"mt{f}"].append(run_json(cmd, {
                    "LD_PRELOAD": memtier,
                    "MEMKIND_MEM_TIERS": f"KIND:DRAM,RATIO:1;KIND:FS_DAX,PATH:{pmem_dir},"
                                         f"RATIO:{f - 1};POLICY:STATIC_RATIO"}, allow_crash=True))
    result = {"plain": summarize(runs["plain"]), "fit": summarize(runs["fit"], stats["fit"]),
              "footprint": footprint, "fractions": []}
    for f, limit in limits.items():
        entry = {"fraction": f, "limit": limit,
                 "tensortier": summarize(runs[f"tt{f}"], stats[f"tt{f}"]),
                 "tensortier_static": summarize(runs[f"ts{f}"], stats[f"ts{f}"])}
        completed = [r for r in runs[f"mt{f}"] if not r.get("crashed")]
        if completed:
            entry["memtier"] = summarize(completed)
            entry["memtier"]["exit_statuses"] = sorted({r["exit_status"] for r in runs[f"mt{f}"]})
        elif runs[f"mt{f}"]:
            entry["memtier"] = {"crashed": sorted({r["exit_status"] for r in runs[f"mt{f}"]})}
        result["fractions"].append(entry)
    return result


def print_report(malloc_rows, torch):
    print("\n== 1. malloc-heavy small-size workload (no preload vs libtensortier_preload.so) ==")
    print(f"{'workload':10} {'ops':>10} {'plain cpu s':>12} {'preload cpu s':>14} {'ratio':>7}"
          f" {'plain wall s':>13} {'preload wall s':>15} {'ratio':>7}")
    for r in malloc_rows:
        print(f"{r['mode']:10} {r['ops']:>10} {r['plain_cpu_seconds']:>12.3f} "
              f"{r['preload_cpu_seconds']:>14.3f} {r['ratio_cpu_seconds']:>7.3f} "
              f"{r['plain_seconds']:>13.3f} {r['preload_seconds']:>15.3f} {r['ratio_seconds']:>7.3f}")
    if torch is None:
        return
    p, f = torch["plain"], torch["fit"]
    print("\n== 2. PyTorch training, everything in DRAM ==")
    print(f"plain step {p['step_seconds']:.3f} s, under the library {f['step_seconds']:.3f} s: "
          f"ratio {f['step_seconds'] / p['step_seconds']:.3f} (CPU of all threads per step: "
          f"{p['step_cpu_seconds']:.3f} s vs {f['step_cpu_seconds']:.3f} s, ratio "
          f"{f['step_cpu_seconds'] / p['step_cpu_seconds']:.3f}); losses identical: "
          f"{p['losses'] == f['losses']}; managed footprint {mib(torch['footprint'])}")
    print("\n== 3. DRAM at 1/4 and 1/8 of the footprint ==")
    print(f"{'DRAM':8} {'variant':22} {'step s':>8} {'vs plain':>9} {'cpu s':>7} {'anon RSS peak':>14}"
          f" {'tiers DRAM peak':>16} {'PMem peak':>10} {'promotions':>11} {'same loss':>10} {'exit':>6}")
    print(f"{'all':8} {'plain':22} {p['step_seconds']:>8.3f} {1.0:>9.2f} {p['step_cpu_seconds']:>7.3f}"
          f" {mib(p['rss_anon_peak']):>14}"
          f" {'-':>16} {'-':>10} {'-':>11} {'yes':>10} {','.join(map(str, p['exit_statuses'])):>6}")
    for e in torch["fractions"]:
        label = f"1/{e['fraction']}"
        for key, name in (("tensortier", "tensortier lru"), ("tensortier_static", "tensortier static")):
            t = e[key]
            print(f"{label:8} {name:22} {t['step_seconds']:>8.3f}"
                  f" {t['step_seconds'] / p['step_seconds']:>9.2f} {t['step_cpu_seconds']:>7.3f}"
                  f" {mib(t['rss_anon_peak']):>14}"
                  f" {mib(t['dram_peak']) + ' <= ' + mib(e['limit']):>16} {mib(t['pmem_peak']):>10}"
                  f" {t['promotions']:>11.0f} {str(t['losses'] == p['losses']):>10}"
                  f" {','.join(map(str, t['exit_statuses'])):>6}")
        if "memtier" in e and "crashed" in e["memtier"]:
            print(f"{label:8} {'memtier STATIC_RATIO':22} crashed during the loop in every run "
                  f"(exit status {','.join(map(str, e['memtier']['crashed']))})")
        elif "memtier" in e:
            m = e["memtier"]
            print(f"{label:8} {'memtier STATIC_RATIO':22} {m['step_seconds']:>8.3f}"
                  f" {m['step_seconds'] / p['step_seconds']:>9.2f} {m['step_cpu_seconds']:>7.3f}"
                  f" {mib(m['rss_anon_peak']):>14}"
                  f" {'-':>16} {'-':>10} {'-':>11} {str(m['losses'] == p['losses']):>10}"
                  f" {','.join(map(str, m['exit_statuses'])):>6}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lib", required=True, help="libtensortier_preload.so")
    parser.add_argument("--memtier", default=MEMTIER)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--malloc-ops", type=int, default=30_000_000)
    # 36^3: the largest volume at which memtier (Debian memkind 1.14) survives
    # the loop at 1/4 DRAM; from 40^3 on it segfaults inside posix_memalign.
    parser.add_argument("--size", type=int, default=36)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--skip-torch", action="store_true")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    args.lib = os.path.abspath(args.lib)
    tmp = tempfile.mkdtemp(prefix="tt-preload-bench-")
    try:
        malloc_rows = bench_malloc(args.lib, args.repeats, args.malloc_ops, tmp)
        torch = None
        if not args.skip_torch:
            if subprocess.run([SYSTEM_PYTHON, "-c", "import torch"], capture_output=True).returncode:
                print("PyTorch missing under /usr/bin/python3 (apt-get install python3-torch): "
                      "skipping the training benchmarks")
            else:
                torch = bench_torch(args, tmp)
        print_report(malloc_rows, torch)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"malloc": malloc_rows, "torch": torch}, f, indent=2)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
