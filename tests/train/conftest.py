"""Fixtures of the trainer tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from p2pbench.records import TIMING_KEYS

LoggedLosses = Callable[[Path], list[dict[str, object]]]


def _logged_losses(run: Path) -> list[dict[str, object]]:
    lines = (run / "log.jsonl").read_text().splitlines()
    return [
        {k: v for k, v in json.loads(line).items() if k not in TIMING_KEYS}
        for line in lines
        if line.strip()
    ]


@pytest.fixture
def logged_losses() -> LoggedLosses:
    """A run's log entries without the speed measurements (which differ from run to run)."""
    return _logged_losses
