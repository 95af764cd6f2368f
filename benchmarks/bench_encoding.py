"""Block encodings' throughput, in the same run: cyclic (§5.2) against permute (§5.1).

Run: ``python benchmarks/bench_encoding.py [--mib N] [--runs R]``.
Encodes N MiB as 8,176-byte block payloads (the largest external data block), each with its
own BID as cyclic requires, and prints the median throughput of each coder, the ratio of
cyclic to permute (one ``bytes.translate`` per block, the floor), and of cyclic to the
byte-by-byte transcription of §5.2 it replaced (measured on a smaller slice).

Target (issue 12): cyclic encoding at 50 MB/s or more.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from uidl_inspector.schemas import encoding

BLOCK = 8176


def _spec_loop(data: bytes, key: int) -> bytes:
    table = encoding.MPBBCRYPT
    r, s, i = table[:256], table[256:512], table[512:]
    key &= 0xFFFFFFFF
    w = (key ^ (key >> 16)) & 0xFFFF
    out = bytearray(data)
    for index, b in enumerate(out):
        lo, hi = w & 0xFF, w >> 8
        out[index] = (i[(s[(r[(b + lo) & 0xFF] + hi) & 0xFF] - hi) & 0xFF] - lo) & 0xFF
        w = (w + 1) & 0xFFFF
    return bytes(out)


def _throughput(code, blocks: list[bytes], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for bid, block in enumerate(blocks, 1):
            code(block, bid * 4)
        times.append(time.perf_counter() - start)
    return sum(map(len, blocks)) / statistics.median(times) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    data = os.urandom(args.mib << 20)
    blocks = [data[i : i + BLOCK] for i in range(0, len(data), BLOCK)]
    cyclic = _throughput(encoding.cyclic_code, blocks, args.runs)
    permute = _throughput(lambda block, bid: encoding.permute_encode(block), blocks, args.runs)
    spec = _throughput(_spec_loop, blocks[:64], 3)
    print(f"cores: {os.cpu_count()}, {len(blocks)} blocks of {BLOCK} bytes, median of {args.runs}")
    print(f"cyclic (table-driven)   {cyclic:8.1f} MB/s   target >= 50 MB/s")
    print(
        f"permute (translate)     {permute:8.1f} MB/s   cyclic/permute time ratio "
        f"{permute / cyclic:.1f}x"
    )
    print(f"cyclic (spec loop)      {spec:8.1f} MB/s   speed-up {cyclic / spec:.0f}x")


if __name__ == "__main__":
    main()
