"""How a generator runs at test time: an explicit choice, recorded with every result.

- `paper`: the paper's behaviour (its code ran the network in training mode at batch size 1):
  every sample is normalised on its own statistics and dropout stays on. Here each sample's
  dropout masks come from a generator seeded by (seed, sample id), so a sample's output does
  not depend on the batch it is in, on the batch size or on the number of processes.
- `eval`: `module.eval()`: running batch-norm statistics, no dropout. Deterministic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import torch
from torch import nn

from p2pbench.errors import InvalidValueError
from reference_models.layers import BatchNorm2d, SampleDropout

TestTimeMode = Literal["paper", "eval"]
TEST_TIME_MODES: tuple[str, ...] = ("paper", "eval")


def sample_seed(seed: int, sample_id: str) -> int:
    """A 63-bit seed derived from a run seed and a sample id, stable across machines."""
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


@contextmanager
def generation_mode(
    module: nn.Module,
    mode: str,
    *,
    sample_ids: Sequence[str] = (),
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> Iterator[nn.Module]:
    """Put `module` in test-time `mode` for one batch whose samples are `sample_ids`.

    The module's training flag and layer settings are restored on exit.
    """
    if mode not in TEST_TIME_MODES:
        raise InvalidValueError(
            f"unknown test-time mode {mode!r}; valid: {', '.join(TEST_TIME_MODES)}"
        )
    was_training = module.training
    module.eval()
    norms = [m for m in module.modules() if isinstance(m, BatchNorm2d)]
    dropouts = [m for m in module.modules() if isinstance(m, SampleDropout)]
    try:
        if mode == "paper":
            if not sample_ids:
                raise ValueError("paper test-time mode needs the batch's sample ids")
            generators = [
                torch.Generator(device=device).manual_seed(sample_seed(seed, sid))
                for sid in sample_ids
            ]
            for norm in norms:
                norm.per_sample_statistics = True
            for dropout in dropouts:
                dropout.sample_generators = generators
        yield module
    finally:
        for norm in norms:
            norm.per_sample_statistics = False
        for dropout in dropouts:
            dropout.sample_generators = None
        module.train(was_training)


@torch.inference_mode()
def translate(
    module: nn.Module,
    inputs: torch.Tensor,
    *,
    mode: str,
    sample_ids: Sequence[str],
    seed: int = 0,
) -> torch.Tensor:
    """Run a generator on a batch in test-time `mode`; returns its raw output (in [-1, 1])."""
    if len(sample_ids) != inputs.shape[0]:
        raise ValueError(f"{len(sample_ids)} sample ids for a batch of {inputs.shape[0]}")
    with generation_mode(module, mode, sample_ids=sample_ids, seed=seed, device=inputs.device):
        return module(inputs)
