#!/usr/bin/python3
"""One training step of the 3D U-Net in PyTorch 1.13 (Debian python3-torch), the
network `tensortier train` builds (src/runtime/model/unet3d.cpp) -- for
bench/train_step_vs_pytorch.sh, which runs both side by side.

Network: `levels` levels, base*2^l filters at level l, two (conv 3x3x3 without
bias -> BatchNorm3d -> ReLU) blocks per level, MaxPool3d(2) down,
ConvTranspose3d(k=2, s=2) up, torch.cat([skip, up], 1), a 1x1x1 head with bias.
Loss: cross-entropy + soft Dice over the tumour classes (what `tensortier train`
uses by default: src/runtime/graph/builder.hpp LossSpec). Optimizer: SGD,
momentum 0.9. Input: random N(0, 1) images and random labels of the same shapes
(the step time does not depend on the values; data generation is outside the
timed step on both sides).

Run it with /usr/bin/python3: Debian's torch does not import under other
interpreters. Prints one JSON line: step times, their median, the losses.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def block(cin, cout):
    return [nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]


class UNet3d(nn.Module):
    def __init__(self, levels, base, in_channels, classes):
        super().__init__()
        f = [base << l for l in range(levels)]
        self.enc = nn.ModuleList()
        cin = in_channels
        for l in range(levels):
            self.enc.append(nn.Sequential(*block(cin, f[l]), *block(f[l], f[l])))
            cin = f[l]
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for l in range(levels - 2, -1, -1):
            self.up.append(nn.ConvTranspose3d(f[l + 1], f[l], 2, stride=2))
            self.dec.append(nn.Sequential(*block(2 * f[l], f[l]), *block(f[l], f[l])))
        self.head = nn.Conv3d(f[0], classes, 1)

    def forward(self, x):
        skips = []
        for l, enc in enumerate(self.enc):
            if l > 0:
                x = F.max_pool3d(x, 2)
            x = enc(x)
            skips.append(x)
        skips.pop()
        for up, dec in zip(self.up, self.dec):
            x = dec(torch.cat([skips.pop(), up(x)], 1))
        return self.head(x)


def soft_dice_loss(logits, labels, smooth=1e-5):
    """1 - mean over (sample, tumour class) of (2 sum pg + s) / (sum p + sum g + s)."""
    p = torch.softmax(logits, 1)
    g = F.one_hot(labels.long(), logits.shape[1]).permute(0, 4, 1, 2, 3).to(p.dtype)
    dims = (2, 3, 4)
    inter = (p * g).sum(dims)
    dice = (2 * inter + smooth) / (p.sum(dims) + g.sum(dims) + smooth)
    return 1 - dice[:, 1:].mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--levels", type=int, default=2)
    ap.add_argument("--base-filters", type=int, default=16)
    ap.add_argument("--classes", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5, help="timed steps, after one warm-up step")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.01)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = UNet3d(args.levels, args.base_filters, 4, args.classes)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
    s = args.size
    x = torch.randn(args.batch, 4, s, s, s)
    y = torch.randint(0, args.classes, (args.batch, s, s, s))

    times, cpu_times, losses = [], [], []
    for step in range(args.steps + 1):
        t0 = time.perf_counter()
        c0 = time.process_time()
        opt.zero_grad(set_to_none=True)
        logits = net(x)
        loss = F.cross_entropy(logits, y) + soft_dice_loss(logits, y)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        dc = time.process_time() - c0
        if step > 0:
            times.append(dt)
            cpu_times.append(dc)
        losses.append(loss.item())
    times_sorted = sorted(times)
    n = len(times_sorted)
    median = (times_sorted[n // 2] + times_sorted[(n - 1) // 2]) / 2
    print(json.dumps({"framework": "pytorch", "version": torch.__version__,
                      "threads": torch.get_num_threads(), "size": s, "batch": args.batch,
                      "levels": args.levels, "base_filters": args.base_filters,
                      "classes": args.classes, "step_seconds": times, "step_cpu_seconds": cpu_times,
                      "median_step_seconds": median, "losses": losses}))


if __name__ == "__main__":
    main()
