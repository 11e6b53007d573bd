"""FCN-8s (full size, random weights) forward images/s and peak memory at 256×256 and 1024×2048.

    python -m benchmarks.bench_fcn [--device cpu|cuda] [--sizes 256x256,1024x2048]

For each size: images/s of `predict` (preprocessing + forward under `torch.no_grad()` + argmax,
batch 1), and the memory of one such call measured in a fresh subprocess: the process's peak
resident set (`ru_maxrss`, weights included) and its resident set just before the call (so the
call itself added at most the difference); on CUDA also `torch.cuda.max_memory_allocated`.
Writes benchmarks/results/fcn-<device>.json and prints a table. Slow on a small CPU: a
1024×2048 forward is about 2.2 TFLOP.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import subprocess
import sys
import time

import torch

from benchmarks.common import time_per_call, write_results
from fcn.fcn8s import FCN8s, predict


def _build(device: str) -> FCN8s:
    torch.manual_seed(0)
    return FCN8s().to(device).eval()


def _images(size: tuple[int, int], device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (1, 3, *size), dtype=torch.uint8, generator=g).to(device)


def _rss_mib() -> float:
    """Current resident set size (Linux), in MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _predict(net: FCN8s, x: torch.Tensor, device: str) -> None:
    predict(net, x)
    _sync(device)


def peak_memory(size: tuple[int, int], device: str) -> dict[str, float]:
    """One `predict` call in this (fresh) process: its seconds and peak memory in MiB."""
    net, x = _build(device), _images(size, device)
    rss_before = _rss_mib()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    predict(net, x)
    _sync(device)
    row = {
        "first_call_seconds": time.perf_counter() - t0,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_call_mib": rss_before,
    }
    if device.startswith("cuda"):
        row["peak_cuda_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def measure(device: str, sizes: list[tuple[int, int]]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for size in sizes:
        # Fresh process, so that the high-water mark belongs to this size alone.
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.bench_fcn",
            "--device",
            device,
            "--peak-memory",
            f"{size[0]}x{size[1]}",
        ]
        memory = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        net, x = _build(device), _images(size, device)
        call = functools.partial(_predict, net, x, device)
        large = size[0] * size[1] > 512 * 512
        seconds = time_per_call(
            call, warmup=1, min_seconds=0.0 if large else 5.0, min_calls=2 if large else 3
        )
        rows.append(
            {
                "network": "fcn8s",
                "parameters": sum(p.numel() for p in net.parameters()),
                "height": size[0],
                "width": size[1],
                "batch_size": 1,
                "seconds_per_image": seconds,
                "images_per_s": 1 / seconds,
                **memory,
            }
        )
        print(
            f"fcn8s {size[0]}×{size[1]}: {1 / seconds:8.4f} images/s ({seconds:.2f} s), "
            f"peak RSS {memory['peak_rss_mib']:.0f} MiB "
            f"({memory['rss_before_call_mib']:.0f} MiB before the call)",
            file=sys.stderr,
        )
        del net, x, call
    return rows


def _size(text: str) -> tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", default="256x256,1024x2048", help="comma-separated HxW sizes")
    parser.add_argument("--peak-memory", metavar="HxW", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_memory:
        print(json.dumps(peak_memory(_size(args.peak_memory), args.device)))
        return
    rows = measure(args.device, [_size(s) for s in args.sizes.split(",")])
    path = write_results(f"fcn-{args.device.split(':')[0]}", rows)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
