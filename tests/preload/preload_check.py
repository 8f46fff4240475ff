#!/usr/bin/python3
"""CTest driver for libtensortier_preload.so (docs/preload.md).

Subcommands (each exits 0 on success, 1 on failure, 77 to skip):
  run          a program under the library; checks its status and the stats
  torch        PyTorch 3D conv training plain vs under the library with
               TENSORTIER_DRAM_LIMIT at 1/4 of the run's own peak footprint
  numpy        NumPy spilling workload plain vs under the library
  bad-config   every bad configuration: the program completes, one warning
  exit-output  NumPy + PyTorch exit under the library: all output arrives

PyTorch and NumPy come from Debian (python3-torch, python3-numpy) and import
only under /usr/bin/python3. Without them the framework tests skip, unless
TENSORTIER_REQUIRE_FRAMEWORKS=1 makes that a failure.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

SYSTEM_PYTHON = "/usr/bin/python3"
SKIP = 77


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def require_modules(*modules):
    code = "import " + ", ".join(modules)
    if os.path.exists(SYSTEM_PYTHON) and subprocess.run(
            [SYSTEM_PYTHON, "-c", code], capture_output=True).returncode == 0:
        return
    why = f"{SYSTEM_PYTHON} cannot import {', '.join(modules)} (apt-get install python3-torch python3-numpy)"
    if os.environ.get("TENSORTIER_REQUIRE_FRAMEWORKS") == "1":
        fail(why + " and TENSORTIER_REQUIRE_FRAMEWORKS=1")
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def clean_env():
    """The environment without any TENSORTIER_* or preload from outside."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TENSORTIER_") and k != "LD_PRELOAD"}
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "2")
    return env


def execute(cmd, lib=None, env_extra=None, timeout=300):
    env = clean_env()
    if lib:
        env["LD_PRELOAD"] = lib
    env.update(env_extra or {})
    shown = " ".join(f"{k}={v}" for k, v in (env_extra or {}).items())
    print(f"$ {'LD_PRELOAD=' + lib + ' ' if lib else ''}{shown} {' '.join(cmd)}", flush=True)
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail(f"timed out after {timeout} s: {' '.join(cmd)}")
    return proc


def run_ok(cmd, lib=None, env_extra=None, timeout=300):
    proc = execute(cmd, lib, env_extra, timeout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        fail(f"exit status {proc.returncode}: {' '.join(cmd)}")
    return proc


def last_json_line(text):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    fail("no JSON result line in the output:\n" + text[-2000:])


def tier(stats, kinds):
    tiers = [t for t in stats["tiers"] if t["kind"] in kinds]
    if not tiers:
        fail(f"no tier of kind {kinds} in the stats")
    return tiers


def check_spilling(stats, limit):
    """DRAM peak within the limit, PMem used, blocks promoted back."""
    dram_peak = sum(t["peak_bytes"] for t in tier(stats, ("dram", "hbm")))
    pmem_peak = sum(t["peak_bytes"] for t in tier(stats, ("pmem_file", "pmem_devdax", "pmem_kmem")))
    m = stats["migrations"]
    print(f"stats: DRAM peak {dram_peak} (limit {limit}), PMem peak {pmem_peak}, "
          f"{m['demotions']} demotions, {m['promotions']} promotions, "
          f"{stats['touch_faults']} touch faults, {stats['direct_accesses']} direct accesses")
    if dram_peak > limit:
        fail(f"DRAM peak {dram_peak} is over the limit {limit}")
    if pmem_peak <= 0:
        fail("PMem peak is 0: nothing spilled")
    if m["promotions"] <= 0:
        fail("no promotions: spilled blocks never came back")


def with_stats(fn):
    with tempfile.TemporaryDirectory(prefix="tt-preload-") as tmp:
        return fn(os.path.join(tmp, "stats.json"))


def load_stats(path):
    if not os.path.exists(path):
        fail(f"TENSORTIER_STATS file {path} was not written")
    with open(path) as f:
        return json.load(f)


def parse_size(text):
    units = {"K": 10, "M": 20, "G": 30, "T": 40}
    if text[-1].upper() in units:
        return int(text[:-1]) << units[text[-1].upper()]
    return int(text)


def cmd_run(args):
    env = dict(kv.split("=", 1) for kv in args.env)

    def go(stats_path):
        if args.spill:
            env["TENSORTIER_STATS"] = stats_path
        proc = run_ok(args.cmd, args.lib, env, args.timeout)
        print(proc.stdout[-2000:], end="")
        sys.stderr.write(proc.stderr[-2000:])
        if args.spill:
            check_spilling(load_stats(stats_path), parse_size(env["TENSORTIER_DRAM_LIMIT"]))
    with_stats(go)


def cmd_torch(args):
    require_modules("torch")
    script = [SYSTEM_PYTHON, args.script, "--steps", str(args.steps)]
    plain = last_json_line(run_ok(script).stdout)
    print(f"plain: losses {plain['losses']}, peak RSS {plain['max_rss_bytes']}")

    def footprint(stats_path):
        # The run's own peak footprint: everything fits (no spilling).
        run_ok(script, args.lib, {"TENSORTIER_DRAM_LIMIT": "64G", "TENSORTIER_STATS": stats_path})
        stats = load_stats(stats_path)
        if stats["migrations"]["demotions"] != 0:
            fail("the footprint run spilled")
        return sum(t["peak_bytes"] for t in tier(stats, ("dram", "hbm")))
    peak = with_stats(footprint)
    limit = peak // args.fraction // 4096 * 4096
    print(f"managed peak footprint {peak} bytes; TENSORTIER_DRAM_LIMIT={limit} (1/{args.fraction})")

    def tiered(stats_path):
        out = last_json_line(run_ok(script, args.lib, {
            "TENSORTIER_DRAM_LIMIT": str(limit), "TENSORTIER_STATS": stats_path}).stdout)
        print(f"tiered: losses {out['losses']}")
        if out["losses"] != plain["losses"]:
            fail("the losses differ from the plain run")
        check_spilling(load_stats(stats_path), limit)
    with_stats(tiered)
    print("OK: identical losses with DRAM at 1/%d of the footprint" % args.fraction)


def cmd_numpy(args):
    require_modules("numpy")
    script = [SYSTEM_PYTHON, args.script]
    plain = last_json_line(run_ok(script).stdout)
    limit = parse_size(args.limit)

    def tiered(stats_path):
        out = last_json_line(run_ok(script, args.lib, {
            "TENSORTIER_DRAM_LIMIT": str(limit), "TENSORTIER_STATS": stats_path}).stdout)
        if out != plain:
            fail("the arrays read back differ from the plain run")
        check_spilling(load_stats(stats_path), limit)
    with_stats(tiered)
    print(f"OK: {len(plain['sha256'])} arrays identical with DRAM limited to {args.limit}")


BAD_CONFIGS = [
    ("TENSORTIER_DRAM_LIMIT", "12Q"),
    ("TENSORTIER_DRAM_LIMIT", "-1"),
    ("TENSORTIER_DRAM_LIMIT", "0"),
    ("TENSORTIER_DRAM_LIMIT", "100"),                 # below one page
    ("TENSORTIER_PMEM", "bogus"),
    ("TENSORTIER_PMEM", "file:relative/dir"),
    ("TENSORTIER_PMEM", "file:/nonexistent/tensortier"),  # fails when opened
    ("TENSORTIER_PMEM", "file:/tmp,size=lots"),
    ("TENSORTIER_MIN_SIZE", "big"),
    ("TENSORTIER_STATS", ""),
    ("TENSORTIER_POLICY", "fastest"),
    ("TENSORTIER_OPTANE", "maybe"),
    ("TENSORTIER_TOPOLOGY_XML", "/nonexistent/topology.xml"),
]


def check_bad_config(cmd, lines, var, value, lib):
    proc = execute(cmd, lib, {var: value})
    out = proc.stdout.splitlines()
    if proc.returncode != 0:
        fail(f"{var}={value!r}: exit status {proc.returncode}\n{proc.stderr[-2000:]}")
    if len(out) != lines or not out[-1].startswith("done"):
        fail(f"{var}={value!r}: stdout has {len(out)} lines, expected {lines} ending with 'done'")
    warnings = [l for l in proc.stderr.splitlines() if l.strip()]
    if len(warnings) != 1 or not warnings[0].startswith("tensortier: ") or var not in warnings[0]:
        fail(f"{var}={value!r}: expected one 'tensortier: ... {var} ...' line on stderr, got:\n"
             + proc.stderr)
    print(f"  {warnings[0]}")


def cmd_bad_config(args):
    lines = 2001
    for var, value in BAD_CONFIGS:
        check_bad_config([args.probe, str(lines - 1)], lines, var, value, args.lib)
    # A good configuration prints nothing.
    proc = run_ok([args.probe, "10"], args.lib, {"TENSORTIER_DRAM_LIMIT": "4M"})
    if proc.stderr.strip():
        fail("a good configuration printed on stderr:\n" + proc.stderr)
    # And a Python process with NumPy and PyTorch carries on likewise.
    if args.script and subprocess.run([SYSTEM_PYTHON, "-c", "import numpy, torch"],
                                      capture_output=True).returncode == 0:
        check_bad_config([SYSTEM_PYTHON, args.script, "3000"], 3001,
                         "TENSORTIER_DRAM_LIMIT", "lots", args.lib)
    print(f"OK: {len(BAD_CONFIGS)} bad configurations ran to completion with one warning each")


def cmd_exit_output(args):
    require_modules("numpy", "torch")
    lines = 50000

    def go(stats_path):
        proc = run_ok([SYSTEM_PYTHON, args.script, str(lines)], args.lib,
                      {"TENSORTIER_DRAM_LIMIT": "8M", "TENSORTIER_MIN_SIZE": "256K",
                       "TENSORTIER_STATS": stats_path})
        out = proc.stdout.splitlines()
        if len(out) != lines + 1 or out[-1] != "done":
            fail(f"stdout has {len(out)} lines, expected {lines + 1} ending with 'done'")
        if proc.stderr.strip():
            fail("unexpected stderr:\n" + proc.stderr[-2000:])
        stats = load_stats(stats_path)
        print(f"stats written: {stats['allocations']} allocations, "
              f"{stats['migrations']['demotions']} demotions")
    with_stats(go)
    print(f"OK: {lines + 1} lines and the stats arrived, exit status 0")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("--lib", required=True)
    p.add_argument("--env", action="append", default=[], help="K=V, repeatable")
    p.add_argument("--spill", action="store_true",
                   help="check the stats: DRAM peak <= limit, PMem used, promotions")
    p.add_argument("--timeout", type=int, default=300)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("torch")
    p.add_argument("--lib", required=True)
    p.add_argument("--script", required=True)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--fraction", type=int, default=4)
    p.set_defaults(fn=cmd_torch)
    p = sub.add_parser("numpy")
    p.add_argument("--lib", required=True)
    p.add_argument("--script", required=True)
    p.add_argument("--limit", default="32M")
    p.set_defaults(fn=cmd_numpy)
    p = sub.add_parser("bad-config")
    p.add_argument("--lib", required=True)
    p.add_argument("--probe", required=True)
    p.add_argument("--script", help="exit_output.py: also check a Python process")
    p.set_defaults(fn=cmd_bad_config)
    p = sub.add_parser("exit-output")
    p.add_argument("--lib", required=True)
    p.add_argument("--script", required=True)
    p.set_defaults(fn=cmd_exit_output)
    args = parser.parse_args()
    if getattr(args, "cmd", None) and args.cmd[0] == "--":
        args.cmd = args.cmd[1:]
    args.fn(args)


if __name__ == "__main__":
    main()
