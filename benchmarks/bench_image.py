"""Scan a disk image against hashing the same image once, same process.

Run: ``python benchmarks/bench_image.py [--messages N] [--runs R]``. Needs mkntfs/ntfscp
(ntfs-3g), sfdisk, qemu-img and ewfacquire, as the tests do. Built first (not timed): a
store of N Inbox messages (the write benchmark's spec) plus the synthetic samples, copied
into an NTFS partition of a raw disk with ``ntfscp`` (no mounting), and that disk wrapped as
QCOW2 and E01. For each image format, medians of R runs of:

- ``hash``: SHA-256 and MD5 of the image file, read once (what any acquisition tool does);
- ``scan``: ``scan_evidence`` on the image as the command runs it: the image hashed, every
  file system walked, each store hashed (its own bytes, through dfVFS) and searched;
- ``scan --no-hash-images``: the same without hashing the image file.

Printed: the medians and scan/hash ratios. Hashing reads the container's bytes (compressed
for E01 and QCOW2); the scan decodes the container for the stores' bytes, so its ratio
also says what dfVFS's decoding costs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(folder: Path, messages: int) -> dict[str, Path]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_scan import write_store

    store = write_store(folder, messages)
    volume = folder / "p1.ntfs"
    size_mb = int(store.stat().st_size * 1.3 / (1 << 20)) + 16
    with open(volume, "wb") as handle:
        handle.truncate(size_mb << 20)
    subprocess.run(["mkntfs", "-F", "-Q", "-q", str(volume)], check=True, capture_output=True)
    files = [store, *sorted((ROOT / "samples" / "synthetic").glob("*.pst"))]
    for path in files:
        subprocess.run(
            ["ntfscp", "-f", str(volume), str(path), f"/{path.name}"],
            check=True,
            capture_output=True,
        )
    disk = folder / "disk.raw"
    with open(disk, "wb") as handle:
        handle.truncate((1 << 20) + (size_mb << 20))
    subprocess.run(
        ["sfdisk", "-q", str(disk)],
        input=b"label: dos\nstart=2048, type=7\n",
        check=True,
        capture_output=True,
    )
    with open(disk, "r+b") as handle, open(volume, "rb") as source:
        handle.seek(1 << 20)
        while block := source.read(1 << 20):
            handle.write(block)
    images = {"raw": disk}
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(disk), str(folder / "disk.qcow2")],
        check=True,
        capture_output=True,
    )
    images["qcow2"] = folder / "disk.qcow2"
    subprocess.run(
        ["ewfacquire", "-u", "-q", "-t", str(folder / "disk"), "-c", "deflate:fast", str(disk)],
        check=True,
        capture_output=True,
    )
    images["e01"] = folder / "disk.E01"
    return images


def median_seconds(task, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = task()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from uidl_inspector.pipeline import scan_evidence
    from uidl_inspector.report.model import hash_file
    from uidl_inspector.store.image import ImageOptions

    with tempfile.TemporaryDirectory() as tmp:
        images = build(Path(tmp), args.messages)
        print(
            f"images of a {args.messages:,}-message store plus 8 samples in NTFS; medians of "
            f"{args.runs} runs, same process (shared machine: read the ratios)"
        )
        for name, path in images.items():
            hashed, _ = median_seconds(lambda p=path: hash_file(p), args.runs)
            scanned, outcome = median_seconds(lambda p=path: scan_evidence([str(p)]), args.runs)
            bare, _ = median_seconds(
                lambda p=path: scan_evidence([str(p)], images=ImageOptions(hash_images=False)),
                args.runs,
            )
            stores = sum(1 for s in outcome.report.sources if s.kind == "pst")
            histories = len(outcome.report.histories)
            print(
                f"  {name:5} {path.stat().st_size / 1e6:7.1f} MB: hash {hashed * 1000:8.1f} ms, "
                f"scan {scanned * 1000:8.1f} ms ({scanned / hashed:5.2f}x hash), "
                f"scan --no-hash-images {bare * 1000:8.1f} ms ({bare / hashed:5.2f}x hash); "
                f"{stores} stores, {histories} histories"
            )


if __name__ == "__main__":
    main()
