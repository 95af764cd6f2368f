"""The native reader's scan of a 100,000-message store against a 1,000-message one, and
against libpff walking the same file, in the same run.

Run: ``python benchmarks/bench_store_reader.py [--small PST] [--big PST] [--runs R]``.
Without paths, both stores are written first with the synthetic writer (the spec of
``bench_synth_write.make_spec``: an Inbox of N messages and one Message Manager).

Printed, all medians of ``--runs`` runs in this process (warm page cache for both tools):
- reader: what the default scan reads from the store (folders, associated messages,
  their attachments' bytes) without decoding BLOBs, on each store, and big / small;
- scan: ``open_pst`` + ``locate`` (the default scan: every folder's associated contents)
  on each store, and the ratio big / small (target at most 2.0; it includes
  decoding the history, whose size in this spec grows with N up to 65,535 entries);
- libpff: ``pypff.file().open`` + walking every folder's ``sub_items``, and the ratio of
  our big-store scan to it (target at most 1.0);
- ``walk``: our reader listing every folder's messages too (contents tables), for scale;
- memory: tracemalloc peak of one scan of the big store (target under 150 MB), and
  ``ru_maxrss`` of this process.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import pypff

from uidl_inspector.locate import locate
from uidl_inspector.store.model import walk_folders
from uidl_inspector.store.pst import open_pst


def scan(path: str) -> int:
    with open_pst(path) as store:
        return len(locate(store).histories)


def read_only(path: str) -> int:
    """What the default scan reads from the store, without decoding the BLOBs."""
    size = 0
    with open_pst(path) as store:
        for folder in walk_folders(store.root_folder(), []):
            for message in folder.associated():
                _ = message.message_class, message.subject, message.props
                for attachment in message.attachments():
                    size += len(attachment.data or b"")
    return size


def walk_all(path: str) -> int:
    with open_pst(path) as store:
        return sum(1 for f in walk_folders(store.root_folder(), []) for _ in f.messages())


def pff_walk(path: str) -> int:
    f = pypff.file()
    f.open(path)
    count = 0
    stack = [f.get_root_folder()]
    while stack:
        folder = stack.pop()
        count += sum(1 for _ in folder.sub_items)
        stack.extend(folder.sub_folders)
    f.close()
    return count


def median_time(func, path: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_store(n: int, folder: str) -> str:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_synth_write import make_spec

    from uidl_inspector.synth.pst_writer import write_pst

    path = str(Path(folder) / f"bench-{n}.pst")
    write_pst(make_spec(n), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small")
    parser.add_argument("--big")
    parser.add_argument("--small-n", type=int, default=1_000)
    parser.add_argument("--big-n", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = args.small or write_store(args.small_n, tmp)
        big = args.big or write_store(args.big_n, tmp)
        print(
            f"small: {small} ({Path(small).stat().st_size / 2**20:.1f} MiB, "
            f"{walk_all(small)} messages)"
        )
        print(
            f"big:   {big} ({Path(big).stat().st_size / 2**20:.1f} MiB, {walk_all(big)} messages)"
        )
        assert scan(small) >= 1 and scan(big) >= 1, "no history found"
        r_small = median_time(read_only, small, args.runs)
        r_big = median_time(read_only, big, args.runs)
        t_small = median_time(scan, small, args.runs)
        t_big = median_time(scan, big, args.runs)
        t_pff = median_time(pff_walk, big, args.runs)
        t_walk = median_time(walk_all, big, max(1, args.runs // 2))
        tracemalloc.start()
        scan(big)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"reader small {r_small * 1000:9.1f} ms")
        print(
            f"reader big   {r_big * 1000:9.1f} ms   big/small {r_big / r_small:5.2f}  "
            "(store reading only, no BLOB decoding)"
        )
        print(f"scan small  {t_small * 1000:9.1f} ms")
        print(
            f"scan big    {t_big * 1000:9.1f} ms   big/small {t_big / t_small:5.2f}  "
            "(target <= 2.0)"
        )
        print(
            f"libpff walk {t_pff * 1000:9.1f} ms   ours/libpff {t_big / t_pff:5.3f}  "
            "(target <= 1.0)"
        )
        print(f"walk every contents table (big) {t_walk * 1000:9.1f} ms")
        print(
            f"tracemalloc peak of a big scan {peak / 2**20:6.1f} MiB (target < 150); "
            f"ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:6.1f} MiB"
        )


if __name__ == "__main__":
    main()
