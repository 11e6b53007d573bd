"""The metric vocabulary: every metric's result key, label, unit, direction and group.

This is the one place where a metric's name is defined. Result files use these keys; tables,
the CI check and the terminal rendering read labels and directions from here; the evaluators
report under these keys. `direction` says which way is better (`higher` / `lower`); a metric
without one (a spread, a per-class breakdown) is recorded but never ranked or checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from p2pbench.registry import UnknownNameError

HIGHER, LOWER = "higher", "lower"
GROUPS: tuple[str, ...] = ("fcn", "paired", "inception", "dinov2", "cmmd", "prdc")
"""Metric groups; `eval --metrics` picks among them. dinov2, cmmd and prdc run large feature
encoders (a ViT-L costs about a second per image on a laptop CPU) and are opt-in."""
DEFAULT_GROUPS: tuple[str, ...] = ("fcn", "paired", "inception")
"""The groups an evaluation computes unless told otherwise."""
FEATURE_GROUPS: tuple[str, ...] = ("dinov2", "cmmd", "prdc")
"""The groups computed from the feature encoders of `p2pbench.metrics.encoders`."""


@dataclass(frozen=True)
class MetricKey:
    """One metric: its result key, how it is shown, and which way is better."""

    name: str
    label: str
    group: str
    direction: str | None
    unit: str = ""

    @property
    def ranked(self) -> bool:
        return self.direction is not None

    @property
    def arrow(self) -> str:
        return {HIGHER: "↑", LOWER: "↓"}.get(self.direction or "", "")

    @property
    def display(self) -> str:
        """The label with its unit, e.g. `PSNR (dB)`."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


_KEYS = (
    MetricKey("per_pixel_acc", "Per-pixel acc.", "fcn", HIGHER),
    MetricKey("per_class_acc", "Per-class acc.", "fcn", HIGHER),
    MetricKey("class_iou", "Class IoU", "fcn", HIGHER),
    MetricKey("per_class", "Per class", "fcn", None),
    MetricKey("fid", "FID", "inception", LOWER),
    MetricKey("is_mean", "IS", "inception", HIGHER),
    MetricKey("is_std", "IS std", "inception", None),
    MetricKey("kid_mean", "KID", "inception", LOWER),
    MetricKey("kid_std", "KID std", "inception", None),
    MetricKey("fd_dinov2", "FD_DINOv2", "dinov2", LOWER),
    MetricKey("cmmd", "CMMD", "cmmd", LOWER),
    MetricKey("precision", "Precision", "prdc", HIGHER),
    MetricKey("recall", "Recall", "prdc", HIGHER),
    MetricKey("density", "Density", "prdc", HIGHER),
    MetricKey("coverage", "Coverage", "prdc", HIGHER),
    MetricKey("l1", "L1", "paired", LOWER, "/255"),
    MetricKey("psnr", "PSNR", "paired", HIGHER, "dB"),
    MetricKey("ssim", "SSIM", "paired", HIGHER),
    MetricKey("lpips", "LPIPS", "paired", LOWER),
)
METRICS: dict[str, MetricKey] = {k.name: k for k in _KEYS}
"""Every metric p2pbench reports, in the order tables and text show them."""

RANKED: tuple[str, ...] = tuple(k.name for k in _KEYS if k.ranked)
"""Metrics with a direction: the columns of tables and the metrics `check` compares."""


def metric_key(name: str) -> MetricKey:
    """The metric `name`; an unknown name raises an error listing the known ones."""
    if name not in METRICS:
        raise UnknownNameError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    return METRICS[name]


def group_metrics(group: str) -> tuple[str, ...]:
    """The result keys a metric group reports."""
    if group not in GROUPS:
        raise UnknownNameError(f"unknown metric group {group!r}; valid: {', '.join(GROUPS)}")
    return tuple(k.name for k in _KEYS if k.group == group)
