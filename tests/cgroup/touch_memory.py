#!/usr/bin/env python3
"""Touches SIZE bytes of memory, one write per page, for tests/cgroup.

  touch_memory.py anon SIZE          anonymous private memory (mmap(-1))
  touch_memory.py file SIZE DIR      a MAP_SHARED mapping of a new file in DIR
                                     (unlinked at once; page cache, so the
                                     kernel can write it back and reclaim it)

SIZE in bytes with an optional K/M/G suffix. Prints the bytes touched and
the checksum of one byte per page read back, and exits 0.
"""
import mmap
import os
import sys
import tempfile


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.upper().rstrip("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("anon", "file") or \
            (sys.argv[1] == "file" and len(sys.argv) != 4):
        sys.exit(__doc__)
    mode, size = sys.argv[1], parse_size(sys.argv[2])
    page = mmap.PAGESIZE
    if mode == "anon":
        m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    else:
        fd, path = tempfile.mkstemp(prefix="tt-cgroup-test-", dir=sys.argv[3])
        os.unlink(path)
        os.ftruncate(fd, size)
        m = mmap.mmap(fd, size, flags=mmap.MAP_SHARED)
        os.close(fd)
    for off in range(0, size, page):
        m[off] = (off // page) % 251 + 1
    total = sum(m[off] for off in range(0, size, page))
    expected = sum((off // page) % 251 + 1 for off in range(0, size, page))
    if total != expected:
        sys.exit(f"read back {total}, expected {expected}")
    print(f"{mode}: touched {size} bytes, checksum {total} ok", flush=True)


if __name__ == "__main__":
    main()
