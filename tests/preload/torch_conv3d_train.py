"""A small 3D convolutional network trained for a few steps with a fixed seed.

Prints one JSON line: the loss of every step (as exact float hex), the
median step time (wall, and CPU of all threads), the peak RSS and, with --sample-rss, the peak anonymous
RSS (sampled every 5 ms: DRAM a tiering library chose, as opposed to file
pages of emulated PMem). Run it plain and under libtensortier_preload.so: the
losses must be identical. The tests (tests/preload) and the benchmarks
(bench/preload) both use it. Options: --steps N --warmup W --size S --batch B
--channels C --layers L --threads T --sample-rss.
"""
import argparse
import json
import resource
import threading
import time

import torch


class RssSampler:
    """Peak RssAnon and RssFile + RssShmem of this process, from /proc/self/status."""

    def __init__(self, period=0.005):
        self.peak_anon = 0
        self.peak_file = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(period,), daemon=True)
        self._thread.start()

    def _sample(self):
        fields = {}
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
                    name, value = line.split(":")
                    fields[name] = int(value.split()[0]) * 1024
        self.peak_anon = max(self.peak_anon, fields.get("RssAnon", 0))
        self.peak_file = max(self.peak_file, fields.get("RssFile", 0) + fields.get("RssShmem", 0))

    def _run(self, period):
        while not self._stop.wait(period):
            self._sample()

    def stop(self):
        self._stop.set()
        self._thread.join()
        self._sample()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--layers", type=int, default=1, help="hidden C->C conv layers")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sample-rss", action="store_true")
    args = parser.parse_args()
    sampler = RssSampler() if args.sample_rss else None

    torch.set_num_threads(args.threads)
    torch.manual_seed(1234)
    c = args.channels
    layers = [torch.nn.Conv3d(4, c, 3, padding=1), torch.nn.ReLU()]
    for _ in range(args.layers):
        layers += [torch.nn.Conv3d(c, c, 3, padding=1), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers, torch.nn.Conv3d(c, 3, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    s = args.size
    inputs = torch.randn(args.batch, 4, s, s, s)
    labels = torch.randint(0, 3, (args.batch, s, s, s))
    loss_fn = torch.nn.CrossEntropyLoss()

    losses = []
    times = []
    cpu_times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        cpu_start = time.process_time()
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()
        value = loss.item()
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        if step >= args.warmup:
            losses.append(float(value).hex())
            times.append(elapsed)
            cpu_times.append(cpu)
    result = {
        "losses": losses,
        "step_seconds": sorted(times)[len(times) // 2],
        "step_cpu_seconds": sorted(cpu_times)[len(cpu_times) // 2],  # all threads
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if sampler:
        sampler.stop()
        result["peak_rss_anon_bytes"] = sampler.peak_anon
        result["peak_rss_file_bytes"] = sampler.peak_file
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
