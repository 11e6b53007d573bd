"""The expected wall time of a run, from its own measured pace: one estimator for training,
evaluation and the ablation runner.

A run measures the seconds of its first units of work (steps, images) after a warm-up unit
(first calls allocate memory and pick kernels), extrapolates to the units left, and, when the
whole run is expected to last more than `ANNOUNCE_AFTER_S`, says so once on stderr.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

ANNOUNCE_AFTER_S = 60.0
MEASURE_S = 3.0  # measure at least this long (or `MEASURE_UNITS` units) before projecting
MEASURE_UNITS = 5


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def project(seconds_per_unit: float, units: int, fixed_s: float = 0.0) -> float:
    """Seconds for `units` more units at the measured pace, plus fixed costs."""
    return fixed_s + seconds_per_unit * units


class WallTimeEstimate:
    """Call `update(done)` after each unit; prints "<what>: expected wall time about …" once,
    as soon as the pace is measured, if the run will take longer than a minute."""

    def __init__(
        self,
        what: str,
        total: int,
        *,
        done: int = 0,
        enabled: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        self.what, self.total, self.enabled = what, total, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.start_units = done
        self.started = time.perf_counter()
        self.warm: tuple[int, float] | None = None  # (units, time) after the warm-up unit
        self.expected_s: float | None = None

    def update(self, done: int) -> None:
        if self.expected_s is not None or not self.enabled:
            return
        now = time.perf_counter()
        if self.warm is None:
            self.warm = (done, now)
            return
        units, since = done - self.warm[0], now - self.warm[1]
        if units < MEASURE_UNITS and since < MEASURE_S and done < self.total:
            return
        pace = since / max(units, 1)
        elapsed = now - self.started
        self.expected_s = elapsed + project(pace, self.total - done)
        if self.expected_s > ANNOUNCE_AFTER_S:
            print(
                f"{self.what}: expected wall time about {format_duration(self.expected_s)} "
                f"({self.total - self.start_units} at {_pace(pace)})",
                file=self.stream,
                flush=True,
            )


def _pace(seconds: float) -> str:
    return f"{seconds:.2f} s each" if seconds >= 0.1 else f"{1 / seconds:.0f} per second"
