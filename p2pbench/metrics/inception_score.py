"""Inception Score with torch-fidelity's (and the TF original's) arithmetic.

The ``logits_unbiased`` of all N images, in sample order, are shuffled by
``numpy.random.RandomState(seed).permutation(N)`` and cut into `splits` parts at i·N // splits;
each part scores exp(mean KL(p(y|x) ‖ p(y))) in float64; the result is the mean and the
population standard deviation (ddof=0) of the parts. torchmetrics' IS differs (unseeded shuffle,
ddof=1). With fewer images than splits, the split count is reduced with a warning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from p2pbench.distributed import warn
from p2pbench.errors import InvalidValueError
from p2pbench.metrics.ordered import OrderedFeaturesMetric

NUM_CLASSES = 1008
DEFAULT_SPLITS = 10
DEFAULT_SEED = 2020  # torch-fidelity's default rng_seed


def inception_score(
    logits: Tensor, splits: int = DEFAULT_SPLITS, seed: int = DEFAULT_SEED
) -> tuple[float, float]:
    """(mean, std) of the per-split scores of N×C logits given in sample order."""
    n = logits.shape[0]
    if splits < 1 or n < splits:
        raise ValueError(f"expected 1 <= splits <= N images, found splits={splits}, N={n}")
    x = logits.detach().cpu().to(torch.float64)
    x = x[torch.from_numpy(np.random.RandomState(seed).permutation(n))]
    p, log_p = x.softmax(dim=1), x.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        part = slice(i * n // splits, (i + 1) * n // splits)
        # log q with q = mean of p over the split, from the log-probabilities (a q that
        # underflows would give log 0); p log(p/q) → 0 as p → 0, so an underflowed p adds 0
        count = log_p[part].shape[0]
        log_q = torch.logsumexp(log_p[part], dim=0, keepdim=True) - math.log(count)
        terms = p[part] * (log_p[part] - log_q)
        kl = torch.where(p[part] > 0, terms, 0.0).sum(dim=1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores)), float(np.std(scores))


class InceptionScore(OrderedFeaturesMetric):
    """IS of generated images; keeps their logits, gathered across processes in sample order.

    ``update(logits, indices)`` takes N×1008 ``logits_unbiased`` and each image's sample index
    (its position in the evaluated split). ``compute()`` returns ``is_mean``, ``is_std`` and
    the ``is_splits`` and ``is_seed`` used.
    """

    is_differentiable = False
    higher_is_better = True

    def __init__(
        self,
        splits: int = DEFAULT_SPLITS,
        seed: int = DEFAULT_SEED,
        num_classes: int = NUM_CLASSES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if splits < 1:
            raise InvalidValueError(f"splits must be at least 1, found {splits}")
        self.splits, self.seed = splits, seed
        self._add_records_state("logits", num_classes)

    def update(self, logits: Tensor, indices: Tensor | Sequence[int]) -> None:
        self._append("logits", logits, indices)

    def compute(self) -> dict[str, Any]:
        logits = self._ordered("logits")
        n = logits.shape[0]
        if n < 2:
            raise InvalidValueError(
                f"the Inception Score needs at least 2 generated images, found {n}"
            )
        splits = self.splits
        if n < splits:
            warn(
                f"Inception Score: {n} images cannot fill {splits} splits; using "
                f"{n} splits of one image each",
                stacklevel=2,
            )
            splits = n
        mean, std = inception_score(logits, splits, self.seed)
        return {"is_mean": mean, "is_std": std, "is_splits": splits, "is_seed": self.seed}
