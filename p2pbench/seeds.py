"""The one range of seeds every command accepts.

A seed is an integer in [0, 2³² − 1]: what NumPy's legacy generators, CUDA's and most other
tools accept, and small enough that p2pbench's derived seeds (a segmenter's per-step seed, a
dropout seed per process and step) stay inside `torch.manual_seed`'s 64-bit range.
"""

from __future__ import annotations

from p2pbench.errors import InvalidValueError

MAX_SEED = 2**32 - 1


def check_seed(value: int, name: str = "seed") -> None:
    """Refuse a seed outside [0, `MAX_SEED`], naming it as `name`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError(f"{name} must be an integer, found {value!r}")
    if not 0 <= value <= MAX_SEED:
        raise InvalidValueError(f"{name} must be in [0, 2**32 - 1 = {MAX_SEED}], found {value}")
