"""Training an FCN-8s-family segmenter where no official weights exist (e.g. synthcity).

The data comes in as batches of uint8 RGB images and int64 class maps (255 = ignore), so this
module knows nothing about datasets; `p2pbench fcn train` feeds it. Trained weights are written
in the same safe format as converted caffemodels (`fcn.weights.read_converted` reads both), with
the training recipe and data description as provenance.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from fcn.fcn8s import FCN8s, FCN8sArch, caffe_preprocess
from fcn.weights import WEIGHTS_FORMAT, WEIGHTS_VERSION
from p2pbench.base import atomic_path
from p2pbench.timing import WallTimeEstimate

BatchFn = Callable[[int], tuple[Tensor, Tensor]]
"""step → (uint8 N×3×H×W RGB images, int64 N×H×W class indices with 255 = ignore)."""


def bilinear_kernel(channels: int, size: int) -> Tensor:
    """Weights of a transposed conv that upsamples each channel bilinearly (FCN's init)."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = torch.arange(size, dtype=torch.float32)
    filt1d = 1 - (og - center).abs() / factor
    kernel = filt1d[:, None] * filt1d[None, :]
    weight = torch.zeros(channels, channels, size, size)
    weight[range(channels), range(channels)] = kernel
    return weight


@torch.no_grad()
def init_for_training(model: FCN8s, generator: torch.Generator) -> FCN8s:
    """Kaiming-normal convs, zero biases, zero score layers, bilinear upsampling deconvs."""
    for name, layer in model.named_children():
        if isinstance(layer, nn.ConvTranspose2d):
            layer.weight.copy_(bilinear_kernel(layer.in_channels, layer.kernel_size[0]))
        elif isinstance(layer, nn.Conv2d):
            if name.startswith("score"):
                layer.weight.zero_()
            else:
                fan_in = layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]
                std = (2.0 / fan_in) ** 0.5
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
            layer.bias.zero_()
    return model


def train_segmenter(
    arch: FCN8sArch,
    batches: BatchFn,
    *,
    steps: int,
    lr: float,
    seed: int,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[FCN8s, list[float]]:
    """Train an FCN-8s of `arch` with Adam on cross-entropy (ignore 255): (model, losses)."""
    torch.manual_seed(seed)
    model = init_for_training(FCN8s.from_arch(arch), torch.Generator().manual_seed(seed))
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    losses: list[float] = []
    bar = tqdm(range(steps), disable=not progress, file=sys.stderr, desc="fcn train")
    expected = WallTimeEstimate("fcn train", steps, enabled=progress)
    for step in bar:
        images, labels = batches(step)
        scores = model(caffe_preprocess(images.to(device)))
        loss = F.cross_entropy(scores, labels.to(device), ignore_index=255)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        expected.update(step + 1)
    return model.eval(), losses


def save_trained(path: str | os.PathLike[str], model: FCN8s, recipe: dict[str, Any]) -> None:
    """Write trained weights atomically in the converted-weights format, recipe as provenance."""
    payload = {
        "format": WEIGHTS_FORMAT,
        "version": WEIGHTS_VERSION,
        "architecture": model.arch.as_dict(),
        "source": {"trained": recipe},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
