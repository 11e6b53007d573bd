"""`summary.json`: an ablation's rows (statistics over seeds, differences from the reference)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2pbench.records.common import (
    GROUND_TRUTH_LABEL,
    SUMMARY_FORMAT,
    SUMMARY_VERSION,
    RecordError,
    check_format,
    need_keys,
    read_json,
)

# --------------------------------------------------------------------------- the summary


@dataclass(frozen=True)
class SeedStats:
    """One metric of one variant over its seeds: the values, mean, std and t-interval."""

    values: tuple[float, ...]
    mean: float
    std: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "values": list(self.values),
            "mean": self.mean,
            "std": self.std,
            "low": self.low,
            "high": self.high,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SeedStats:
        return cls(
            tuple(d.get("values") or ()), d["mean"], d.get("std"), d.get("low"), d.get("high")
        )


@dataclass(frozen=True)
class Difference:
    """A variant minus the reference, with its interval and whether the interval excludes 0."""

    observed: float
    low: float
    high: float
    significant: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "observed": self.observed,
            "low": self.low,
            "high": self.high,
            "significant": self.significant,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Difference:
        return cls(d["observed"], d["low"], d["high"], bool(d["significant"]))


@dataclass(frozen=True)
class SummaryRow:
    """One variant's row: its seeds, per-metric statistics and the comparison with the
    reference (None, with `vs_reference_reason` saying why when a comparison was wanted)."""

    variant: str
    label: str
    seeds: tuple[int | None, ...]
    metrics: dict[str, SeedStats]
    unavailable: dict[str, str] = field(default_factory=dict)
    vs_reference: dict[str, Difference] | None = None
    vs_reference_reason: str | None = None

    @property
    def n(self) -> int:
        return len(self.seeds)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "variant": self.variant,
            "label": self.label,
            "seeds": list(self.seeds),
            "n": self.n,
            "metrics": {m: s.to_dict() for m, s in self.metrics.items()},
            "unavailable": dict(self.unavailable),
            "vs_reference": None
            if self.vs_reference is None
            else {m: x.to_dict() for m, x in self.vs_reference.items()},
        }
        if self.vs_reference_reason is not None:
            d["vs_reference_reason"] = self.vs_reference_reason
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SummaryRow:
        versus = d.get("vs_reference")
        return cls(
            variant=str(d["variant"]),
            label=str(d.get("label") or d["variant"]),
            seeds=tuple(d.get("seeds") or ()),
            metrics={m: SeedStats.from_dict(s) for m, s in (d.get("metrics") or {}).items()},
            unavailable={str(k): str(v) for k, v in (d.get("unavailable") or {}).items()},
            vs_reference=None
            if versus is None
            else {m: Difference.from_dict(x) for m, x in versus.items()},
            vs_reference_reason=d.get("vs_reference_reason"),
        )


@dataclass(frozen=True)
class AblationSummary:
    """`summary.json`: one row per variant, the ground truth, and how the rows were compared."""

    plan: str
    title: str
    protocol: str | None
    reference_variant: str
    metrics: tuple[str, ...]
    rows: tuple[SummaryRow, ...]
    ground_truth: dict[str, float] | None  # metric → value of the real images
    missing_runs: tuple[str, ...]
    bootstrap_draws: int
    bootstrap_seed: int
    level: float
    compared_metrics: tuple[str, ...]  # the metrics with a Δ column
    n_images: int | None  # images compared (None: no comparison was made)

    @property
    def reference_label(self) -> str:
        row = next((r for r in self.rows if r.variant == self.reference_variant), None)
        return row.label if row is not None else self.reference_variant

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SUMMARY_FORMAT,
            "version": SUMMARY_VERSION,
            "plan": self.plan,
            "title": self.title,
            "protocol": self.protocol,
            "reference_variant": self.reference_variant,
            "metrics": list(self.metrics),
            "bootstrap": {
                "draws": self.bootstrap_draws,
                "seed": self.bootstrap_seed,
                "level": self.level,
                "metrics": list(self.compared_metrics),
                "n_images": self.n_images,
            },
            "rows": [r.to_dict() for r in self.rows],
            "ground_truth": None
            if self.ground_truth is None
            else {"label": GROUND_TRUTH_LABEL, "metrics": dict(self.ground_truth)},
            "missing_runs": list(self.missing_runs),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "ablation summary") -> AblationSummary:
        d = need_keys(data, where, ("plan", "title", "reference_variant", "metrics", "rows"))
        if d.get("format") != SUMMARY_FORMAT:
            raise RecordError(
                f"{where}: not an ablation summary (expected format {SUMMARY_FORMAT!r}, found "
                f"{d.get('format')!r})"
            )
        check_format(d, where, SUMMARY_FORMAT, SUMMARY_VERSION)
        try:
            boot = d.get("bootstrap") or {}
            truth = d.get("ground_truth")
            return cls(
                plan=str(d["plan"]),
                title=str(d["title"]),
                protocol=d.get("protocol"),
                reference_variant=str(d["reference_variant"]),
                metrics=tuple(d["metrics"]),
                rows=tuple(SummaryRow.from_dict(r) for r in d["rows"]),
                ground_truth=None if not truth else dict(truth["metrics"]),
                missing_runs=tuple(str(r) for r in d.get("missing_runs") or ()),
                bootstrap_draws=int(boot.get("draws", 1000)),
                bootstrap_seed=int(boot.get("seed", 0)),
                level=float(boot.get("level", 0.95)),
                compared_metrics=tuple(boot.get("metrics") or ()),
                n_images=boot.get("n_images"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise RecordError(f"{where}: malformed ({type(e).__name__}: {e})") from None


def read_summary(path: str | Path) -> AblationSummary:
    """Read and validate `summary.json`."""
    return AblationSummary.from_dict(read_json(Path(path)), where=str(path))
