"""Sample grids written during training: input, output and target rows."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch import nn
from torchvision.utils import make_grid

from p2pbench.base import atomic_path
from p2pbench.data import Batch, to_uint8
from reference_models import translate


def save_sample_grid(generator: nn.Module, batch: Batch, path: Path, *, seed: int) -> None:
    """Write a PNG with one column per sample: input / output (paper test mode) / target."""
    device = next(generator.parameters()).device
    output = translate(
        generator, batch.input.to(device), mode="paper", sample_ids=batch.sample_ids, seed=seed
    ).cpu()
    rows = torch.cat([batch.input, output, batch.target])
    grid = make_grid(rows, nrow=len(batch), padding=2, pad_value=1.0)
    with atomic_path(path) as tmp:
        Image.fromarray(to_uint8(grid)).save(tmp, format="PNG")
