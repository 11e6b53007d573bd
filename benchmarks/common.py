"""Shared helpers for the benchmark scripts: timing and writing results with their context."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from p2pbench.base import atomic_write_text

RESULTS = Path(__file__).parent / "results"


def time_per_call(
    fn: Callable[[], object], *, warmup: int = 1, min_seconds: float = 3.0, min_calls: int = 3
) -> float:
    """Median seconds per call of `fn` after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def best_per_call(fn: Callable[[], object], *, warmup: int = 1, calls: int = 5) -> float:
    """Fewest seconds of `calls` calls of `fn` after `warmup` calls: the best of several runs."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(max(1, calls)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def synchronize(device: str | torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of `fn` as `torch.utils.flop_counter.FlopCounterMode` counts them
    (convolutions and matrix products, forward and backward; a multiply-add is 2 FLOPs)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, object]:
    """Where the numbers were measured."""
    cuda = torch.cuda.is_available()
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "cuda": torch.cuda.get_device_name(0) if cuda else None,
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark if cuda else None,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32 if cuda else None,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32 if cuda else None,
    }


def write_results(name: str, rows: list[dict[str, object]]) -> Path:
    """Write `rows` with the environment to benchmarks/results/<name>.json (atomically)."""
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "environment": environment(),
        "rows": rows,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")
    return path
