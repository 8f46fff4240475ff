"""A small 3D convolutional network trained for a few steps with a fixed seed.

Prints one JSON line: the loss of every step (as exact float hex), the mean
step time and the peak RSS. Run it plain and under libtensortier_preload.so:
the losses must be identical. Options: --steps N --size S --batch B
--channels C --warmup W.
"""
import argparse
import json
import resource
import time

import torch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1234)
    c = args.channels
    model = torch.nn.Sequential(
        torch.nn.Conv3d(4, c, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv3d(c, c, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv3d(c, 3, 1),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    s = args.size
    inputs = torch.randn(args.batch, 4, s, s, s)
    labels = torch.randint(0, 3, (args.batch, s, s, s))
    loss_fn = torch.nn.CrossEntropyLoss()

    losses = []
    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()
        value = loss.item()
        elapsed = time.perf_counter() - start
        if step >= args.warmup:
            losses.append(float(value).hex())
            times.append(elapsed)
    print(json.dumps({
        "losses": losses,
        "step_seconds": sorted(times)[len(times) // 2],
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()
