"""What every record shares: its error, the constants of the files, the field checks."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from p2pbench.errors import BadInputError

MANIFEST_FORMAT = "p2pbench-ablation"
MANIFEST_VERSION = 1
SUMMARY_FORMAT = "p2pbench-ablation-summary"
SUMMARY_VERSION = 1
GROUND_TRUTH_VARIANT = "ground-truth"
"""The variant name of the real images in an ablation's records (and its folder's name)."""
GROUND_TRUTH_LABEL = "Ground truth"
"""The row label of the real images in every table (the paper's spelling)."""
TIMING_KEYS = ("s_per_step", "images_per_s")
"""Training-log entries that measure speed, not the run."""


class RecordError(BadInputError, ValueError):
    """A record file (plan, summary, ablation block of a result, log line) is malformed."""


def need_keys(data: Any, where: str, keys: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise RecordError(f"{where}: expected a JSON object, found {type(data).__name__}")
    lacking = [k for k in keys if k not in data]
    if lacking:
        raise RecordError(f"{where}: missing keys {lacking}")
    return data


def check_format(data: Mapping[str, Any], where: str, fmt: str, version: int) -> None:
    if data.get("format", fmt) != fmt:
        raise RecordError(f"{where}: not a {fmt} file (format {data.get('format')!r})")
    if data.get("version", version) != version:
        raise RecordError(
            f"{where}: {fmt} version {data.get('version')!r}; this p2pbench reads version {version}"
        )


def int_or_none(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise RecordError(f"{where}: expected an integer or null, found {value!r}")
    return value


def finite_number(value: Any) -> bool:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return ok and math.isfinite(value)


def read_json(path: Path) -> Any:
    """A JSON file, or a RecordError that says why it is not one."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RecordError(f"{path} is not a readable JSON file: {e}") from None
