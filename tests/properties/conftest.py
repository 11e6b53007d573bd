"""Hypothesis profile for the property tests: derandomised, no deadline, no example database.

Derandomised so that a run is reproducible on any machine (and CI never flakes on a new
random draw); ``database=None`` so that no failing examples are saved. Hypothesis also caches
the constants it scans from source files under its home directory (``./.hypothesis`` by
default, even without a database); unless ``HYPOTHESIS_STORAGE_DIRECTORY`` says otherwise,
that cache goes to the system temporary directory instead of the source tree. Loaded at
import time; the tests in this folder set their own ``max_examples`` where they differ.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "p2pbench-hypothesis")

settings.register_profile(
    "p2pbench",
    derandomize=True,
    deadline=None,
    max_examples=50,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("p2pbench")
