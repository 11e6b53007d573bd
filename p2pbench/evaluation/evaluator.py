"""The contract every metric group's evaluator follows (detectron2's): `reset()`,
`process(images, batch, indices)` for each batch, `evaluate() -> EvaluatorOutput` once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from typing import Protocol as TypingProtocol

import torch

from p2pbench.data import Batch


@dataclass
class EvaluatorOutput:
    """What one evaluator contributes to a result."""

    metrics: dict[str, Any]
    provenance: dict[str, Any]  # one section of the result's provenance, by name
    counts: dict[str, Any] = field(default_factory=dict)
    per_image: list[dict[str, Any]] | None = None


class Evaluator(TypingProtocol):
    """One metric group: reset, process every batch, evaluate once."""

    group: str

    def reset(self) -> None: ...

    def process(self, images: torch.Tensor, batch: Batch, indices: Sequence[int]) -> None: ...

    def evaluate(self) -> EvaluatorOutput: ...
