"""The result of one evaluation: a typed, versioned record with provenance, and its JSON file.

Schema `p2pbench-result`, version 1 (keys in this order in the file):

- `schema`, `schema_version`
- `protocol`: every field of the protocol, plus `key` (`name@vN`), `digest` (sha256) and
  `split_used`
- `task`: "labels2photo", "photo2labels" or "paired"
- `source`: what was scored: `kind` ("generator", "images" or "real"); for a generator its
  registry `name`, `format` ("p2pbench", "pytorch-port" or "module"), `sha256` (of the file, or
  of a module's state_dict), `config`, `notes`, `test_time_mode`, `path`; for images the folder
  and naming
- `n_images`: images scored; `limit`: the limit given (null: the whole split); `missing`:
  sample ids skipped under --allow-missing; `partial_split`: the split had fewer images than
  the protocol expects (--allow-partial-split)
- `metrics`: values by the keys of `p2pbench.metrics.keys`; a metric that could not be computed
  is `{"available": false, "reason": ...}`
- `counts`: pixels and frames the FCN-score rules touched (see p2pbench.metrics.fcn_score)
- `per_image`: [{"sample_id", "per_pixel_acc", ...}] or null
- `provenance`: package `versions`, `seed`, `world_size`, `batch_size`, `device`,
  `test_time_mode`, `data_sha256` (every scored input and label, in sample order), one section
  per evaluator (`segmenter`, `paired`, `inception`), `command` (argv), `created` (UTC)
- optional `variant`: a row label for tables; other keys a user adds are kept as they are
- optional `ablation` and `samples`: the run of an ablation this result is
  (`p2pbench.records.AblationRun`) and the images it saved (`p2pbench.records.SampleFiles`)
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2pbench.base import atomic_write_text
from p2pbench.errors import BadInputError
from p2pbench.records import AblationRun, RecordError, SampleFiles

SCHEMA = "p2pbench-result"
SCHEMA_VERSION = 1
_REQUIRED = ("protocol", "task", "source", "n_images", "limit", "metrics", "provenance")
_OPTIONAL = ("missing", "partial_split", "counts", "per_image", "variant", "ablation", "samples")


class ResultError(BadInputError, ValueError):
    """A result file is missing, malformed, or of an unknown schema version."""


@dataclass(frozen=True)
class Result:
    """One evaluation's numbers and where they came from (see the module docstring)."""

    protocol: dict[str, Any]
    task: str
    source: dict[str, Any]
    n_images: int
    limit: int | None
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    missing: list[str] = field(default_factory=list)
    partial_split: bool = False
    counts: dict[str, Any] = field(default_factory=dict)
    per_image: list[dict[str, Any]] | None = None
    variant: str | None = None
    ablation: AblationRun | None = None
    samples: tuple[SampleFiles, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown top-level keys, kept
    path: str | None = field(default=None, compare=False)  # the file it was read from

    def __post_init__(self) -> None:
        bad = non_finite_metrics(self.metrics)
        if bad:
            raise ResultError(
                f"non-finite metric value(s): {', '.join(bad)}. A result never holds NaN or "
                "infinity: the scored images or a network produced non-finite values"
            )

    @property
    def protocol_key(self) -> str:
        return str(self.protocol["key"])

    @property
    def protocol_digest(self) -> str:
        return str(self.protocol["digest"])

    @property
    def comparable_key(self) -> ComparableKey:
        """What two results must share to be compared: task, protocol, digest, image count."""
        return ComparableKey(self.task, self.protocol_key, self.protocol_digest, self.n_images)

    @property
    def train_seed(self) -> int | None:
        """The training seed of the run scored: the ablation block's, else the trainer's run
        config (`source.run.seed`), else a top-level `seed` a user added; None if unknown."""
        if self.ablation is not None and self.ablation.seed is not None:
            return self.ablation.seed
        run = self.source.get("run")
        seed = run.get("seed") if isinstance(run, dict) else None
        if not _is_int(seed):
            seed = self.extra.get("seed")
        return seed if isinstance(seed, int) and not isinstance(seed, bool) else None

    @property
    def run_id(self) -> str | None:
        """The ablation run id this result belongs to (None: not an ablation run)."""
        if self.ablation is not None and self.ablation.run_id is not None:
            return self.ablation.run_id
        run_id = self.extra.get("run_id")
        return run_id if isinstance(run_id, str) else None

    def value(self, metric: str) -> float | None:
        """The metric's number, or None when it is absent or recorded as unavailable."""
        v = self.metrics.get(metric)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        return None

    def to_dict(self) -> dict[str, Any]:
        """The result as the JSON object of the schema (without `path`); a deep copy, so
        editing it never changes this result."""
        data: dict[str, Any] = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION}
        data.update(
            protocol=self.protocol,
            task=self.task,
            source=self.source,
            n_images=self.n_images,
            limit=self.limit,
            missing=self.missing,
            partial_split=self.partial_split,
            metrics=self.metrics,
            counts=self.counts,
            per_image=self.per_image,
            provenance=self.provenance,
        )
        if self.variant is not None:
            data["variant"] = self.variant
        data.update(self.extra)
        if self.ablation is not None:
            data["ablation"] = self.ablation.to_dict()
        if self.samples is not None:
            data["samples"] = [s.to_dict() for s in self.samples]
        return copy.deepcopy(data)

    def to_json(self) -> str:
        """JSON text; NaN or infinity anywhere is an error (they are not JSON)."""
        try:
            return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        except ValueError as e:
            raise ResultError(f"result holds a non-finite number ({e})") from None

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the JSON file atomically (a crash never leaves a half-written file)."""
        atomic_write_text(path, self.to_json())

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "result", path: str | None = None) -> Result:
        """Validate a parsed result object; errors name `where` and what is wrong."""
        if not isinstance(data, dict):
            raise ResultError(f"{where}: expected a JSON object, found {type(data).__name__}")
        if data.get("schema") != SCHEMA:
            raise ResultError(f"{where}: not a p2pbench result (schema {data.get('schema')!r})")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ResultError(
                f"{where}: result schema version {data.get('schema_version')!r}; this p2pbench "
                f"reads version {SCHEMA_VERSION}"
            )
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise ResultError(f"{where}: missing keys {missing}")
        for key, kind in (
            ("metrics", dict),
            ("protocol", dict),
            ("source", dict),
            ("provenance", dict),
        ):
            if not isinstance(data[key], kind):
                raise ResultError(f"{where}: {key!r} must be an object")
        lacking = [k for k in ("key", "digest", "name", "version") if k not in data["protocol"]]
        if lacking:
            raise ResultError(f"{where}: protocol lacks {lacking}")
        if not isinstance(data["n_images"], int) or isinstance(data["n_images"], bool):
            raise ResultError(f"{where}: n_images must be an integer")
        if data.get("variant") is not None and not isinstance(data["variant"], str):
            raise ResultError(f"{where}: variant must be a string")
        known = {"schema", "schema_version", *_REQUIRED, *_OPTIONAL}
        try:
            ablation = (
                None
                if data.get("ablation") is None
                else AblationRun.from_dict(data["ablation"], where="ablation")
            )
            if data.get("samples") is not None and not isinstance(data["samples"], list):
                raise RecordError("samples must be a list")
            samples = (
                None
                if data.get("samples") is None
                else tuple(
                    SampleFiles.from_dict(x, where=f"samples[{i}]")
                    for i, x in enumerate(data["samples"])
                )
            )
            return cls(
                protocol=data["protocol"],
                task=data["task"],
                source=data["source"],
                n_images=data["n_images"],
                limit=data["limit"],
                metrics=data["metrics"],
                provenance=data["provenance"],
                missing=list(data.get("missing") or []),
                partial_split=bool(data.get("partial_split", False)),
                counts=dict(data.get("counts") or {}),
                per_image=data.get("per_image"),
                variant=data.get("variant"),
                ablation=ablation,
                samples=samples,
                extra={k: v for k, v in data.items() if k not in known},
                path=path,
            )
        except (ResultError, RecordError) as e:
            raise ResultError(f"{where}: {e}") from None

    @classmethod
    def from_json(cls, text: str, *, where: str = "result", path: str | None = None) -> Result:
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except (json.JSONDecodeError, ValueError) as e:
            raise ResultError(f"{where} is not valid JSON: {e}") from None
        return cls.from_dict(data, where=where, path=path)


@dataclass(frozen=True)
class ComparableKey:
    """Results with equal keys may share a table, a summary or a check."""

    task: str
    protocol_key: str
    protocol_digest: str
    n_images: int

    def describe(self) -> str:
        return (
            f"task {self.task}, protocol {self.protocol_key} (digest "
            f"{self.protocol_digest[:12]}), {self.n_images} images"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a result may hold")


def read_result(path: str | os.PathLike[str]) -> Result:
    """Read and validate a result file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultError(f"result file not found: {p}") from None
    except UnicodeDecodeError:
        raise ResultError(
            f"{p} is not a p2pbench result: it is binary, not JSON text (results are the files "
            "`p2pbench eval --out` writes)"
        ) from None
    except OSError as e:
        raise ResultError(f"cannot read {p}: {e}") from None
    return Result.from_json(text, where=str(p), path=str(p))


def non_finite_metrics(metrics: dict[str, Any], prefix: str = "") -> list[str]:
    """`name = value` of every NaN or infinite number in `metrics`, nested dicts included."""
    found = []
    for name, value in metrics.items():
        if isinstance(value, dict):
            found += non_finite_metrics(value, f"{prefix}{name}.")
        elif isinstance(value, float) and not math.isfinite(value):
            found.append(f"{prefix}{name} = {value}")
    return found


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool): what a ranked metric must be."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
