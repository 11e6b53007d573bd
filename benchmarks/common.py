"""Shared helpers for the benchmark scripts: timing and writing results with their context."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

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


def environment() -> dict[str, object]:
    """Where the numbers were measured."""
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
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
