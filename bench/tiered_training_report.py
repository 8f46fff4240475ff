#!/usr/bin/env python3
"""Markdown tables of one bench/tiered_training.sh run.

  bench/tiered_training_report.py RESULTS_DIR

Reads RESULTS_DIR/runs.tsv (one line per run: name, group, fraction, DRAM
limit, cgroup limit, exit status, environment), each run's `tensortier train
--json` report NAME.json, its stderr NAME.log (step times of a run that was
stopped before writing its report) and NAME.cgroup.json (tools/cgroup_run.sh).
Prints the tables, writes them to RESULTS_DIR/table.md, and exits 1 when any
run's losses differ from the all-DRAM run's bit for bit (MISMATCH).
"""
import json
import os
import re
import statistics
import sys

MiB = 1 << 20


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def log_steps(path):
    """Step times from the progress lines, for runs without a report."""
    times = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = re.search(r"step (\d+)/\d+ loss \S+ .*? ([0-9.]+) s/step", line)
                if m:
                    times.append(float(m.group(2)))
    except OSError:
        pass
    return times


def mib(x):
    return "-" if x is None else f"{x / MiB:,.0f}"


def sec(x, spec=".2f"):
    return "-" if x is None else format(x, spec)


class Run:
    def __init__(self, out, fields):
        fields += [""] * (7 - len(fields))
        self.name, self.group, frac, dram, cg, rc, self.env = fields[:7]
        m = re.search(r"_r(\d+)$", self.name)
        self.round = int(m.group(1)) if m else 1  # (a), (b), (d): NAME_rK is round K
        self.fraction = frac  # N of 1/N, "min" (the minimum feasible budget), 1 for all-DRAM
        self.dram_limit = None if dram in ("-", "") else int(dram)
        self.cgroup_limit = None if cg in ("-", "") else int(cg)
        self.rc = int(rc) if rc.lstrip("-").isdigit() else None
        self.doc = load_json(os.path.join(out, self.name + ".json"))
        self.cgroup = load_json(os.path.join(out, self.name + ".cgroup.json"))
        self.disk = load_json(os.path.join(out, self.name + ".disk.json")) or {}
        try:
            with open(os.path.join(out, self.name + ".load")) as f:
                self.load = f.read().split()[0]  # 1-minute load average at the start
        except (OSError, IndexError):
            self.load = "-"
        if self.doc:
            self.steps = list(self.doc.get("step_seconds", []))
            self.losses = list(self.doc.get("losses", []))
        else:
            self.steps, self.losses = log_steps(os.path.join(out, self.name + ".log")), None
        self.mem = (self.doc or {}).get("memory", {})
        self.infeasible = None
        try:
            with open(os.path.join(out, self.name + ".log"), errors="replace") as f:
                m = re.search(r"below the minimum feasible ([0-9.]+ \w+)", f.read())
                self.infeasible = m.group(1) if m else None
        except OSError:
            pass

    @property
    def cpu_median(self):
        cpu = list((self.doc or {}).get("step_cpu_seconds", []))
        cpu = cpu[1:] if len(cpu) > 1 else cpu
        return statistics.median(cpu) if cpu else None

    @property
    def steady(self):
        return self.steps[1:] if len(self.steps) > 1 else self.steps

    @property
    def median(self):
        return statistics.median(self.steady) if self.steady else None

    def m(self, key):
        return self.mem.get(key)

    def per_step(self, key):
        v = self.m(key)
        return None if v is None or not self.steps else v / len(self.steps)

    def disk_per_step(self, key):
        v = self.disk.get(key)
        return None if v is None or not self.steps else v / len(self.steps)

    def stat_per_step(self, key):
        v = ((self.cgroup or {}).get("memory_stat") or {}).get(key)
        return None if v is None or not self.steps else v / len(self.steps)

    def moved_per_step(self):
        d, p = self.m("bytes_demoted"), self.m("bytes_promoted")
        if d is None and p is None:
            return None
        return ((d or 0) + (p or 0)) / max(1, len(self.steps))

    def status(self):
        if self.rc == 0 and self.doc:
            return "ok"
        if self.infeasible:
            return f"infeasible (min {self.infeasible})"
        if self.cgroup and self.cgroup.get("oom_kill"):
            return f"OOM-killed (exit {self.rc})"
        if self.rc == 124 or self.rc == 143:
            return f"timeout (exit {self.rc}, {len(self.steps)} steps)"
        return f"failed (exit {self.rc})"


LABELS = {"dram": "(a) all-DRAM", "tiered": "(b) plan {frac}, page cache",
          "optane": "(b) plan {frac}, Optane throttle (1 DIMM)",
          "optane6": "(b) plan {frac}, Optane throttle (6 DIMMs)",
          "lru": "lru {frac}, page cache",
          "sparedram": "(d) all-DRAM", "spareoptane": "(d) plan {frac}, Optane throttle (1 DIMM)"}


def label_of(run, frac):
    return LABELS[run.group].format(frac=frac)


def pooled_table(p, runs, base_group, footprint):
    """One row per setting: the median of its steps pooled over the rounds,
    against the all-DRAM runs' pooled median, and each round's ratio."""
    settings = {}
    for r in runs:
        settings.setdefault((r.group, r.fraction, r.dram_limit), []).append(r)
    base_runs = [r for r in runs if r.group == base_group]
    base_steps = [x for r in base_runs for x in r.steady]
    if not base_steps:
        return
    base = statistics.median(base_steps)
    by_round = {r.round: r.median for r in base_runs}
    rounds = len(base_runs)
    p(f"Pooled over {rounds} round{'s' if rounds != 1 else ''}: the median of every steady "
      f"step (the first of each run left out) of a setting, against all-DRAM's "
      f"({base:.3f} s, {len(base_steps)} steps); per round: that round's median against that "
      f"round's all-DRAM")
    p("")
    p("| setting | steps | pooled median s | x all-DRAM | per round |")
    p("| --- | ---: | ---: | ---: | --- |")
    for (group, fraction, limit), rs in settings.items():
        steps = [x for r in rs for x in r.steady]
        if not steps or any(r.status() != "ok" for r in rs):
            continue
        if fraction == "min" and footprint and limit:
            frac = f"min feasible (1/{footprint / limit:.2f})"
        else:
            frac = f"1/{fraction}"
        med = statistics.median(steps)
        per = ", ".join(f"{r.median / by_round[r.round]:.2f}" for r in sorted(rs, key=lambda r: r.round)
                        if r.median and by_round.get(r.round))
        p(f"| {label_of(rs[0], frac)} | {len(steps)} | {med:.3f} | **{med / base:.2f}** | {per} |")
    p("")


def checked(run, base, ref, mismatches):
    """The run's DRAM peak, whether it is within its limit, its median against
    `base` and its losses against `ref`'s (a MISMATCH is added to mismatches)."""
    peak = run.m("peak_dram_bytes")
    within = "-"
    if run.dram_limit and peak is not None:
        within = "yes" if peak <= run.dram_limit else f"NO (+{mib(peak - run.dram_limit)})"
    ratio = None if base in (None, 0) or run.median is None else run.median / base
    losses = "(reference)" if run is ref else compare_losses(run, ref)
    if losses.startswith("MISMATCH"):
        mismatches.append((run.name, losses))
    return peak, within, ratio, losses


def compare_losses(run, ref):
    """'identical', 'MISMATCH ...' or '-' (nothing to compare)."""
    if ref is None or not ref.losses:
        return "-"
    if run.losses is None:
        return "no report"
    n = min(len(run.losses), len(ref.losses))
    for i in range(n):
        if run.losses[i] != ref.losses[i]:  # bit for bit: the JSON keeps every digit
            return f"MISMATCH at step {i + 1}: {run.losses[i]!r} vs {ref.losses[i]!r}"
    if len(run.losses) != len(ref.losses):
        return f"identical for {n} of {len(ref.losses)} steps"
    return "identical"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    with open(os.path.join(out, "runs.tsv")) as f:
        runs = [Run(out, line.rstrip("\n").split("\t")) for line in f if line.strip()]
    # A rerun of the same name (tries) keeps the last line.
    by_name = {}
    for r in runs:
        by_name[r.name] = r
    runs = list(by_name.values())
    ref = by_name.get("dram")
    lines = []
    p = lines.append
    meta = os.path.join(out, "meta.txt")
    if os.path.exists(meta):
        with open(meta) as f:
            for line in f:
                p("    " + line.rstrip())
        p("")
    base = ref.median if ref else None
    footprint = ref.m("peak_dram_bytes") if ref else None
    mismatches = []

    p("Schedule-aware tiering (b) vs all-DRAM (a): median step (wall) and process CPU time "
      "over steps 2..N; load = 1-minute load average when the run started; MiB; "
      "moved = demoted + promoted per step; stall = time the compute waited for "
      "migrations, per step")
    p("")
    p("| run | DRAM limit | median step s | CPU s/step | load | x all-DRAM | DRAM peak | <= limit | PMem peak "
      "| planned DRAM peak | moved/step | stall s/step | projected Optane s/step "
      "| disk wr/rd per step | status | losses vs (a) |")
    p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: "
      "| --- | --- |")
    # Ratios against the all-DRAM run of the same round.
    round_base = {r.round: r.median for r in runs if r.group == "dram"}
    order = {"dram": 0, "tiered": 1, "optane": 2, "optane6": 3, "lru": 4}
    table_runs = sorted((r for r in runs if r.group in order),
                        key=lambda r: (-(r.dram_limit or 1 << 62), order[r.group], r.round))
    for r in table_runs:
        if r.fraction == "min" and footprint and r.dram_limit:
            frac = f"min feasible (1/{footprint / r.dram_limit:.2f})"
        else:
            frac = f"1/{r.fraction}"
        label = label_of(r, frac) + f" (round {r.round})"
        peak, within, ratio, losses = checked(r, round_base.get(r.round, base), ref, mismatches)
        p(f"| {label} | {mib(r.dram_limit) if r.dram_limit else 'none'} | {sec(r.median, '.3f')} "
          f"| {sec(r.cpu_median)} | {r.load} | {sec(ratio)} | {mib(peak)} | {within} | {mib(r.m('peak_pmem_bytes'))} "
          f"| {mib(r.m('planned_dram_peak_bytes'))} | {mib(r.moved_per_step())} "
          f"| {sec(r.per_step('stall_seconds'), '.3f')} "
          f"| {sec(r.per_step('projected_optane_seconds'), '.3f')} "
          f"| {mib(r.disk_per_step('written_bytes'))} / {mib(r.disk_per_step('read_bytes'))} "
          f"| {r.status()} | {losses} |")
    p("")
    pooled_table(p, [r for r in table_runs], "dram", footprint)
    if footprint:
        est = ref.m("footprint_bytes")
        p(f"Footprint (all-DRAM DRAM peak): {mib(footprint)} MiB"
          + (f"; the runtime's all-DRAM estimate: {mib(est)} MiB" if est else "")
          + (f"; peak RSS {mib(ref.m('peak_rss_bytes'))} MiB" if ref.m("peak_rss_bytes") else ""))
        p("")

    spare_ref = by_name.get("dram_spare")
    spare_runs = [r for r in runs if r.group in ("sparedram", "spareoptane")]
    if spare_runs:
        p("(d) One core left to the allocator's mover thread: one compute thread fewer than "
          "(a) and (b), all-DRAM against the plan with the Optane throttle (1 DIMM); losses "
          "compared with this all-DRAM run (another thread count sums in another order)")
        p("")
        p("| run | DRAM limit | median step s | CPU s/step | load | x all-DRAM (d) | DRAM peak "
          "| <= limit | moved/step | stall s/step | status | losses vs (d) all-DRAM |")
        p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | --- |")
        spare_base = {r.round: r.median for r in spare_runs if r.group == "sparedram"}
        spare_runs.sort(key=lambda r: (-(r.dram_limit or 1 << 62), r.round))
        for r in spare_runs:
            label = label_of(r, f"1/{r.fraction}") + f" (round {r.round})"
            peak, within, ratio, losses = checked(r, spare_base.get(r.round), spare_ref,
                                                  mismatches)
            p(f"| {label} | {mib(r.dram_limit) if r.dram_limit else 'none'} "
              f"| {sec(r.median, '.3f')} | {sec(r.cpu_median)} | {r.load} | {sec(ratio)} "
              f"| {mib(peak)} | {within} | {mib(r.moved_per_step())} "
              f"| {sec(r.per_step('stall_seconds'), '.3f')} | {r.status()} | {losses} |")
        p("")
        pooled_table(p, spare_runs, "sparedram", footprint)

    cg_runs = [r for r in runs if r.group in ("naivefree", "naive", "cgtiered", "cgoutside")]
    if cg_runs:
        p("cgroup comparison (c): tools/cgroup_run.sh with memory.limit_in_bytes as shown. "
          "naive-file and \"PMem charged\": the PMem file on disk, its page cache charged to the "
          "cgroup; \"PMem outside\": the PMem tier a tmpfs file the script allocated outside the "
          "cgroup, which the DRAM limit does not count (as it would not count real DAX PMem)")
        p("")
        p("| run | cgroup limit | --dram-limit | median step s | CPU s/step | load | x all-DRAM "
          "| cgroup max usage "
          "| failcnt | OOM kills | DRAM peak | PMem peak | stall s/step | major faults/step "
          "| disk wr/rd per step | status | losses vs (a) |")
        p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "| ---: | ---: | --- | --- |")
        for r in cg_runs:
            label = {"naivefree": "naive-file, no cgroup",
                     "naive": f"naive-file in cgroup ({r.name.split('_')[-1]})",
                     "cgtiered": f"tensortier plan in cgroup, PMem charged ({r.name.split('_')[-1]})",
                     "cgoutside": f"tensortier plan in cgroup, PMem outside ({r.name.split('_')[-1]})",
                     }[r.group]
            majf = r.stat_per_step("pgmajfault")
            cg = r.cgroup or {}
            ratio = None if base in (None, 0) or r.median is None else r.median / base
            losses = compare_losses(r, ref)
            if losses.startswith("MISMATCH"):
                mismatches.append((r.name, losses))
            p(f"| {label} | {mib(r.cgroup_limit) if r.cgroup_limit else 'none'} "
              f"| {mib(r.dram_limit) if r.dram_limit else '-'} | {sec(r.median, '.3f')} "
              f"| {sec(r.cpu_median)} | {r.load} | {sec(ratio)} | {mib(cg.get('max_usage_bytes'))} | {cg.get('failcnt', '-')} "
              f"| {cg.get('oom_kill', '-')} | {mib(r.m('peak_dram_bytes'))} "
              f"| {mib(r.m('peak_pmem_bytes'))} | {sec(r.per_step('stall_seconds'), '.3f')} "
              f"| {'-' if majf is None else f'{majf:,.0f}'} "
              f"| {mib(r.disk_per_step('written_bytes'))} / {mib(r.disk_per_step('read_bytes'))} "
              f"| {r.status()} | {losses} |")
        p("")
        def pooled(group):
            steps, ok = [], True
            for r in cg_runs:
                if r.group == group:
                    steps += r.steps[1:] if len(r.steps) > 1 else r.steps
                    ok = ok and r.rc == 0
            return (statistics.median(steps), len(steps), ok) if steps else (None, 0, ok)
        nm, nn, nok = pooled("naive")
        for group, what in (("cgoutside", "PMem outside the cgroup"),
                            ("cgtiered", "PMem charged to the cgroup")):
            if not any(r.group == group for r in cg_runs):
                continue
            tm, tn, tok = pooled(group)
            if nm and tm and tok:
                note = "" if nok else " (a naive run did not finish: a lower bound)"
                p(f"naive-file / tensortier ({what}) inside the same cgroup, median of the pooled "
                  f"steps (first step of each run left out): {nm:.3f} s ({nn} steps) / {tm:.3f} s "
                  f"({tn} steps) = **{nm / tm:.2f}x** (target >= 3x){note}")
            else:
                p(f"naive-file / tensortier ({what}) ratio: not available (a run is missing or "
                  f"failed)")
            p("")
        p("")
        p("disk wr/rd: MiB written / read per step on the PMem directory's block device during the "
          "run (the whole device: other processes' I/O included); major faults: memory.stat "
          "pgmajfault of the cgroup")
        p("")

    if mismatches:
        p("**LOSS MISMATCH** against the all-DRAM run:")
        for name, what in mismatches:
            p(f"- {name}: {what}")
        p("")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text + "\n")
    if mismatches:
        print("tiered_training: MISMATCH: the losses of " + ", ".join(n for n, _ in mismatches)
              + " differ from the all-DRAM run's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
