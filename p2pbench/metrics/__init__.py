"""Evaluation metrics."""

from p2pbench.metrics.fcn_score import (
    COUNT_NAMES,
    EXTRA_CHANNEL_MODES,
    FCNScore,
    confusion_update,
    fcn_scores,
    per_image_scores,
)

__all__ = [
    "COUNT_NAMES",
    "EXTRA_CHANNEL_MODES",
    "FCNScore",
    "confusion_update",
    "fcn_scores",
    "per_image_scores",
]
