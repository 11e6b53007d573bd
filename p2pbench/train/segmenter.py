"""Training an FCN-8s-family segmenter where no official weights exist: one home for it.

A run is a `SegmenterTraining`: where the data comes from (`p2pbench.train.segmenter_data`:
synthcity, an aligned folder with a class table, Cityscapes), the network (`FCN8sArch`) and the
optimisation (`TrainingOptions`). `train_segmenter` reads the data, trains with Adam on
cross-entropy (255 = ignore) under a cosine schedule with random horizontal flips, and writes the
weights in the same safe format as converted caffemodels (`fcn.weights.read_converted` reads
both), with the recipe and the data's description as provenance.

The shipped synthcity segmenters (fcn/weights/) were trained by their `RECIPES` entry;
`p2pbench fcn train --segmenter NAME` replays it (`replay_recipe`).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from fcn.fcn8s import FCN8s, FCN8sArch, caffe_preprocess
from fcn.weights import WEIGHTS_FORMAT, WEIGHTS_VERSION
from p2pbench.base import atomic_path, sha256_file
from p2pbench.errors import InvalidValueError
from p2pbench.seeds import check_seed
from p2pbench.timing import WallTimeEstimate
from p2pbench.train.segmenter_data import SegmentationData, SegmenterData, SynthcityData

BatchFn = Callable[[int], tuple[Tensor, Tensor]]
"""step → (uint8 N×3×H×W RGB images, int64 N×H×W class indices with 255 = ignore)."""
AUGMENTATION = "horizontal flip, p = 0.5"


@dataclass(frozen=True)
class TrainingOptions:
    """Adam's learning rate, the number of steps, the batch size and the seed of a run."""

    steps: int = 2000
    batch_size: int = 8
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        for name, value in (("steps", self.steps), ("batch size", self.batch_size)):
            if value < 1:
                raise InvalidValueError(f"{name} must be at least 1, found {value}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InvalidValueError(f"learning rate must be a finite number > 0, found {self.lr}")
        check_seed(self.seed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "seed": self.seed,
        }


USER_OPTIONS = TrainingOptions()
"""Training defaults for users' data."""


@dataclass(frozen=True)
class SynthcityRecipe:
    """How a shipped synthcity segmenter was trained."""

    data: SynthcityData
    options: TrainingOptions


RECIPES: dict[str, SynthcityRecipe] = {
    "fcn8s-synthcity64": SynthcityRecipe(
        SynthcityData(version=1, size=64, n_train=1000, data_seed=1),
        TrainingOptions(steps=600, batch_size=16, lr=1e-3, seed=0),
    ),
    "fcn8s-synthcity128": SynthcityRecipe(
        SynthcityData(version=2, size=128, n_train=2000, data_seed=1),
        TrainingOptions(steps=1500, batch_size=16, lr=1e-3, seed=0),
    ),
}
"""The recipe of each shipped synthcity segmenter, by its registered name."""


@dataclass(frozen=True)
class SegmenterTraining:
    """One training run: its data, its network and its options.

    `segmenter` names the shipped segmenter a recipe replay trains (recorded in the file);
    `arch_choice` records how a user chose the widths (`user_arch`).
    """

    data: SegmenterData
    arch: FCN8sArch
    options: TrainingOptions
    segmenter: str | None = None
    arch_choice: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.arch.num_classes != self.data.num_outputs:
            raise InvalidValueError(
                f"the data needs {self.data.num_outputs} output channels; the architecture "
                f"has {self.arch.num_classes}"
            )

    def recipe(self, data: SegmentationData, final_loss: float) -> dict[str, Any]:
        """What the weights file records (the key order of the files written so far)."""
        recipe = dict(data.description)
        if data.table is not None:
            recipe["classes"] = data.table.as_dict()["classes"]
        recipe.update(self.arch_choice)
        recipe.update(self.options.as_dict())
        if self.segmenter is not None:
            recipe["segmenter"] = self.segmenter
        else:
            recipe["augmentation"] = AUGMENTATION
        recipe["final_loss"] = final_loss
        return recipe


@dataclass(frozen=True)
class TrainedSegmenter:
    """A written weights file, its hash, the data it was trained on and the recorded recipe."""

    path: Path
    sha256: str
    data: SegmentationData
    recipe: dict[str, Any]


def replay_recipe(
    name: str, arch: FCN8sArch, *, steps: int | None = None, seed: int | None = None
) -> SegmenterTraining:
    """The run that trained the shipped segmenter `name` (of the registered `arch`), with
    `steps` or `seed` changed where given."""
    try:
        recipe = RECIPES[name]
    except KeyError:
        raise InvalidValueError(
            f"no training recipe for segmenter {name!r}; recipes exist for "
            f"{', '.join(sorted(RECIPES))}"
        ) from None
    options = recipe.options
    options = TrainingOptions(
        steps=options.steps if steps is None else steps,
        batch_size=options.batch_size,
        lr=options.lr,
        seed=options.seed if seed is None else seed,
    )
    return SegmenterTraining(recipe.data, arch, options, segmenter=name)


def user_arch(
    num_outputs: int, width_divisor: int | None = None, channels: tuple[int, ...] | None = None
) -> tuple[FCN8sArch, dict[str, Any]]:
    """The FCN-8s to train and how it was chosen (for the recipe): the official widths
    divided by `width_divisor`, or five block widths and the fc width (`channels`)."""
    if channels is not None:
        if width_divisor is not None:
            raise InvalidValueError("give a width divisor or channels, not both")
        if len(channels) != 6:
            raise InvalidValueError(
                "channels are six widths: the five VGG blocks and fc6/fc7, e.g. "
                f"8,16,32,64,64,128; found {len(channels)}"
            )
        arch = FCN8sArch(num_outputs, tuple(channels[:5]), channels[5])  # type: ignore[arg-type]
        return arch, {"channels": list(channels)}
    divisor = 8 if width_divisor is None else width_divisor
    return FCN8sArch.narrow(divisor, num_outputs), {"width_divisor": divisor}


def train_segmenter(
    training: SegmenterTraining,
    out: str | os.PathLike[str],
    *,
    data: SegmentationData | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> TrainedSegmenter:
    """Train the run `training` and write its weights, with the recipe, to `out`.

    `data`: the run's data already read by `training.data.read()` (the CLI reads it first, to
    report the label colours before the long part); None reads it here.
    """
    if data is None:
        data = training.data.read(progress)
    options = training.options
    batches = sampled_batches(data.images, data.labels, options.batch_size, options.seed)
    model, losses = fit_fcn8s(
        training.arch,
        batches,
        steps=options.steps,
        lr=options.lr,
        seed=options.seed,
        device=device,
        progress=progress,
    )
    tail = losses[-20:]
    recipe = training.recipe(data, sum(tail) / len(tail))
    save_trained(out, model.cpu(), recipe)
    return TrainedSegmenter(Path(out), sha256_file(out), data, recipe)


def sampled_batches(images: Tensor, labels: Tensor, batch_size: int, seed: int) -> BatchFn:
    """Seeded batches of `images` (uint8 N×3×H×W) and `labels` (N×H×W class indices, any
    integer dtype, 255 = ignore) drawn with replacement, each flipped with probability 1/2."""
    n = len(images)

    def batch(step: int) -> tuple[Tensor, Tensor]:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randint(n, (batch_size,), generator=g)
        flip = torch.rand(batch_size, generator=g) < 0.5
        x, y = images[idx].clone(), labels[idx].to(torch.int64, copy=True)
        x[flip] = x[flip].flip(-1)
        y[flip] = y[flip].flip(-1)
        return x, y

    return batch


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
            if layer.bias is not None:
                layer.bias.zero_()
    return model


def fit_fcn8s(
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
