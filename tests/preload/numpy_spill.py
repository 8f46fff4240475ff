"""Keeps more large NumPy arrays alive than the DRAM limit holds, modifies
some of them after they have been spilled, then reads every one back.

Arrays come from malloc (random, arange), calloc (zeros), realloc (resize)
and posix_memalign-free paths alike. Prints one JSON line: a SHA-256 and the
sum of every array, which must be identical plain and under
libtensortier_preload.so. Options: --arrays N --mib M.
"""
import argparse
import hashlib
import json

import numpy as np


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arrays", type=int, default=48)
    parser.add_argument("--mib", type=int, default=4)
    args = parser.parse_args()

    elems = args.mib * (1 << 20) // 8
    rng = np.random.default_rng(42)
    arrays = []
    for i in range(args.arrays):
        kind = i % 4
        if kind == 0:
            a = rng.standard_normal(elems)                 # malloc
        elif kind == 1:
            a = np.zeros(elems)                            # calloc: must read as zeros
            a[:: 7 + i] = i
        elif kind == 2:
            a = np.arange(elems, dtype=np.float64) * (i + 0.5)
        else:
            a = np.ones(elems // 3)                        # realloc: grows, zero-filled
            a.resize(elems, refcheck=False)
            a[elems // 2:] += i
        arrays.append(a)
    # Modify early (long spilled) arrays in place, then read all back.
    for i in range(0, args.arrays, 5):
        arrays[i] *= 3.0
        arrays[i][::1000] = -i
    matrix = np.stack(arrays[-4:]) @ np.ones(elems)
    print(json.dumps({
        "sha256": [hashlib.sha256(a.tobytes()).hexdigest() for a in arrays],
        "sums": [float(a.sum()).hex() for a in arrays],
        "matrix": [float(x).hex() for x in matrix],
    }))


if __name__ == "__main__":
    main()
