"""Metrics that could not be computed: an explicit record instead of a missing or fake number.

A metric that needs something absent (InceptionV3 weights for FID/IS/KID, LPIPS backbone
weights) is reported as ``{"available": false, "reason": "..."}`` in place of its value, so a
result file says why a number is missing. ``require_available`` turns such records into an
error for the metrics a user insists on (``--require fid``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from p2pbench.errors import UnavailableError


@dataclass(frozen=True)
class Unavailable:
    """A metric that was not computed, and why (the reason says how to make it available)."""

    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"available": False, "reason": self.reason}


class MetricUnavailableError(UnavailableError, RuntimeError):
    """A metric the user required could not be computed; the message carries every reason."""


def is_unavailable(value: Any) -> bool:
    """True for an `Unavailable` or its dict form."""
    if isinstance(value, Unavailable):
        return True
    return isinstance(value, Mapping) and value.get("available") is False


def require_available(metrics: Mapping[str, Any], required: Iterable[str]) -> None:
    """Raise `MetricUnavailableError` if a required metric is absent or unavailable.

    ``required`` holds result keys (``fid``, ``kid_mean``, ...) or the family names ``is`` and
    ``kid``, which stand for their ``_mean``/``_std`` keys.
    """
    families = {"is": ("is_mean", "is_std"), "kid": ("kid_mean", "kid_std")}
    problems: list[str] = []
    for name in required:
        for key in families.get(name, (name,)):
            if key not in metrics:
                problems.append(f"{key}: not computed (known: {', '.join(sorted(metrics))})")
            elif is_unavailable(value := metrics[key]):
                reason = value.reason if isinstance(value, Unavailable) else value.get("reason")
                problems.append(f"{key}: {reason}")
    if problems:
        raise MetricUnavailableError(
            "required metrics are unavailable:\n" + "\n".join(f"  - {p}" for p in problems)
        )
