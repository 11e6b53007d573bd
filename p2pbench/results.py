"""The result file: a documented, versioned JSON schema with provenance.

Schema `p2pbench-result`, version 1 (keys in order):

- `schema`, `schema_version`
- `protocol`: every field of the protocol, plus `key` (`name@vN`) and `digest` (sha256)
- `task`: "labels2photo" (FCN-score of generated photos)
- `source`: what was scored: `kind` ("generator", "images" or "real"), and for a generator its
  `path`, `sha256`, registry `name`, `config`, `format` ("p2pbench" / "pytorch-port"), `notes`;
  for images the folder and naming
- `n_images`: images scored; `limit`: the --limit given (null: the whole split);
  `missing`: sample ids skipped under --allow-missing (empty otherwise)
- `metrics`: `per_pixel_acc`, `per_class_acc`, `class_iou` (floats in [0, 1]) and `per_class`
  ({class name: {"acc", "iou"}})
- `counts`: pixels and frames the metric's rules touched (see p2pbench.metrics.fcn_score)
- `per_image`: [{"sample_id", "per_pixel_acc", "per_class_acc", "class_iou", ...}] or null
- `provenance`: package `versions`, `seed`, `world_size`, `batch_size`, `device`,
  `data_sha256` (of every scored input and label, in sample order), `segmenter` (name, weights
  path and sha256), `test_time_mode`, `command` (argv), `created` (UTC ISO 8601)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from p2pbench.base import atomic_write_text

SCHEMA = "p2pbench-result"
SCHEMA_VERSION = 1
FCN_METRICS = ("per_pixel_acc", "per_class_acc", "class_iou")
REQUIRED_KEYS = (
    "schema",
    "schema_version",
    "protocol",
    "task",
    "source",
    "n_images",
    "limit",
    "metrics",
    "provenance",
)


class ResultError(ValueError):
    """A result file is missing, malformed, or of an unknown schema version."""


def write_result(result: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a result as JSON atomically (a crash never leaves a half-written file)."""
    validate_result(result, where=str(path))
    atomic_write_text(path, to_json(result))


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, allow_nan=False) + "\n"


def read_result(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a result file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultError(f"result file not found: {p}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResultError(f"{p} is not valid JSON: {e}") from None
    validate_result(data, where=str(p))
    return data


def validate_result(data: Any, *, where: str = "result") -> None:
    if not isinstance(data, dict):
        raise ResultError(f"{where}: expected a JSON object, found {type(data).__name__}")
    if data.get("schema") != SCHEMA:
        raise ResultError(f"{where}: not a p2pbench result (schema {data.get('schema')!r})")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ResultError(
            f"{where}: result schema version {data.get('schema_version')!r}; this p2pbench "
            f"reads version {SCHEMA_VERSION}"
        )
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ResultError(f"{where}: missing keys {missing}")
    if not isinstance(data["metrics"], dict):
        raise ResultError(f"{where}: 'metrics' must be an object")
    for key in ("key", "digest", "name", "version"):
        if key not in data["protocol"]:
            raise ResultError(f"{where}: protocol lacks {key!r}")
