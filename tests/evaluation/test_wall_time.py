"""The shared wall-time estimator: the pace after a warm-up unit, extrapolated; said once, and
only for runs longer than a minute."""

from __future__ import annotations

import io

import pytest

from p2pbench import timing


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run(monkeypatch: pytest.MonkeyPatch, total: int, first_s: float, each_s: float) -> str:
    clock = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    out = io.StringIO()
    estimate = timing.WallTimeEstimate("train", total, stream=out)
    for done in range(1, total + 1):
        clock.now += first_s if done == 1 else each_s
        estimate.update(done)
    return out.getvalue()


def test_a_long_run_is_announced_once_with_its_extrapolated_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a 10 s warm-up unit, then 1 s per unit for 199 more: 10 + 199 = 209 s ≈ 3 min
    text = _run(monkeypatch, 200, first_s=10.0, each_s=1.0)
    assert text.count("expected wall time") == 1
    assert "about 3 min" in text and "(200 at 1.00 s each)" in text


def test_a_short_run_says_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run(monkeypatch, 50, first_s=1.0, each_s=1.0) == ""  # 50 s


def test_fast_units_are_given_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _run(monkeypatch, 10_000, first_s=0.5, each_s=0.01)  # ≈ 100 s
    assert "100 per second" in text and "about 2 min" in text


def test_the_ablation_estimate_uses_the_same_projection() -> None:
    assert timing.project(0.5, 120, fixed_s=30.0) == 90.0
    assert timing.format_duration(89) == "89 s" and timing.format_duration(5400) == "1.5 h"
