"""Imports NumPy and PyTorch, works on large arrays and tensors, prints many
lines to stdout without flushing, and exits normally: under the library every
line must arrive and the exit status must be 0 (memkind's memtier crashes at
exit here and loses buffered output)."""
import sys

import numpy as np
import torch

torch.set_num_threads(2)
lines = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
a = np.random.default_rng(1).standard_normal((512, 1024))
t = torch.from_numpy(a).float()
for i in range(8):
    t = torch.relu(t @ torch.ones(1024, 1024) / 1024.0)
total = float(t.sum())
for i in range(lines):
    print(f"line {i} of {lines} {total:.3f}")
print("done")
