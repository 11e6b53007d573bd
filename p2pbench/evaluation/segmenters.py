"""The segmenters behind FCN-score, by name, with their weights pinned.

- `fcn8s-synthcity64`: a narrow FCN-8s trained on synthcity photos at 64×64, shipped in the
  package (fcn/weights/) and pinned by sha256; `p2pbench fcn train` reproduces it (the recipe is
  stored inside the file and in SYNTHCITY64_RECIPE).
- `fcn8s-cityscapes`: the pix2pix authors' Caffe FCN-8s; users provide the caffemodel.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

import fcn
from fcn.fcn8s import FCN8sArch
from fcn.train import BatchFn, save_trained, train_segmenter
from fcn.weights import find_official_weights, load_fcn8s
from p2pbench.base import sha256_file
from p2pbench.data import SYNTHCITY_CLASSES, SYNTHCITY_VERSION, build_dataset, quantize_uint8
from reference_models import Registry

WEIGHTS_DIR = Path(fcn.__file__).resolve().parent / "weights"  # package data of fcn


@dataclass(frozen=True)
class SegmenterSpec:
    """A registered segmenter: its architecture and where its weights come from."""

    name: str
    description: str
    arch: FCN8sArch
    shipped_file: str | None = None  # in fcn/weights/
    sha256: str | None = None  # pinned hash of the shipped file


@dataclass(frozen=True)
class LoadedSegmenter:
    module: nn.Module
    name: str
    weights_path: str
    weights_sha256: str
    architecture: dict[str, Any]
    official: bool  # the registered architecture and, where pinned, the pinned file

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "weights": self.weights_path,
            "sha256": self.weights_sha256,
            "architecture": self.architecture,
            "official": self.official,
        }


SEGMENTERS: Registry[SegmenterSpec] = Registry("segmenter")

SYNTHCITY64_RECIPE: dict[str, Any] = {
    "data": "synthcity",
    "size": 64,
    "n_train": 1000,
    "data_seed": 1,
    "steps": 600,
    "batch_size": 16,
    "lr": 1e-3,
    "seed": 0,
}
SEGMENTERS.add(
    "fcn8s-synthcity64",
    SegmenterSpec(
        name="fcn8s-synthcity64",
        description="FCN-8s, widths (8,16,32,64,64)/128, 10 synthcity classes, trained at 64×64",
        arch=FCN8sArch(
            num_classes=len(SYNTHCITY_CLASSES), channels=(8, 16, 32, 64, 64), fc_channels=128
        ),
        shipped_file="fcn8s-synthcity64.pt",
        sha256="ba7b9547313cf79f0a856873d391d80020ff2c535803a0582e33767b2635cd07",
    ),
)
SEGMENTERS.add(
    "fcn8s-cityscapes",
    SegmenterSpec(
        name="fcn8s-cityscapes",
        description="the pix2pix authors' Caffe FCN-8s (fcn-8s-cityscapes.caffemodel)",
        arch=FCN8sArch(),
    ),
)


def load_segmenter(
    name: str, weights: str | Path | None = None, device: str | torch.device = "cpu"
) -> LoadedSegmenter:
    """The segmenter `name` in eval mode, its weights verified; `weights` overrides the file."""
    spec = SEGMENTERS.get(name)
    if weights is not None:
        path = Path(weights)
    elif spec.shipped_file is not None:
        path = WEIGHTS_DIR / spec.shipped_file
        if not path.is_file():
            raise FileNotFoundError(
                f"the shipped weights of {name} are missing: {path}. Reinstall p2pbench, or "
                f"retrain them with `p2pbench fcn train --out {path}`"
            )
    else:
        path = find_official_weights()
    digest = sha256_file(path)
    if weights is None and spec.sha256 is not None and digest != spec.sha256:
        raise ValueError(
            f"{path} has sha256 {digest}, but {name} is pinned to {spec.sha256}; the file was "
            "changed or corrupted: reinstall p2pbench"
        )
    module = load_fcn8s(path)
    if module.arch.num_classes != spec.arch.num_classes:
        raise ValueError(
            f"{path} holds an FCN-8s with {module.arch.num_classes} output "
            f"channels, but {name} has {spec.arch.num_classes}"
        )
    official = module.arch == spec.arch and (spec.sha256 is None or digest == spec.sha256)
    if not official:
        print(
            f"warning: {path} is not the registered {name} weights ({module.arch}); results "
            "are recorded as such and are not comparable",
            file=sys.stderr,
        )
    return LoadedSegmenter(
        module.to(device), name, str(path), digest, module.arch.as_dict(), official
    )


def synthcity_batches(
    size: int, n: int, data_seed: int, batch_size: int, seed: int, class_train_ids: Sequence[int]
) -> BatchFn:
    """Seeded batches of real synthcity photos (uint8) and class-index maps, with flips."""
    data = build_dataset(
        "synthcity", "train", size=size, direction="BtoA", seed=data_seed, data_root=None, n=n
    )
    lut = np.full(256, 255, dtype=np.int64)
    lut[list(class_train_ids)] = np.arange(len(class_train_ids))
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    labels = torch.empty(n, size, size, dtype=torch.int64)
    for i in range(n):
        sample = data[i]
        images[i] = quantize_uint8(sample.target)
        labels[i] = torch.from_numpy(lut[sample.label.numpy()])

    def batch(step: int) -> tuple[Tensor, Tensor]:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randint(n, (batch_size,), generator=g)
        flip = torch.rand(batch_size, generator=g) < 0.5
        x, y = images[idx].clone(), labels[idx].clone()
        x[flip] = x[flip].flip(-1)
        y[flip] = y[flip].flip(-1)
        return x, y

    return batch


def train_synthcity_segmenter(
    name: str,
    recipe: dict[str, Any],
    out: str | Path,
    *,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """Train the registered synthcity segmenter `name` by `recipe` and write it to `out`."""
    spec = SEGMENTERS.get(name)
    if recipe["data"] != "synthcity":
        raise ValueError(f"{name} is trained on synthcity, not {recipe['data']!r}")
    batches = synthcity_batches(
        recipe["size"],
        recipe["n_train"],
        recipe["data_seed"],
        recipe["batch_size"],
        recipe["seed"],
        [c.train_id for c in SYNTHCITY_CLASSES],
    )
    model, losses = train_segmenter(
        spec.arch,
        batches,
        steps=recipe["steps"],
        lr=recipe["lr"],
        seed=recipe["seed"],
        device=device,
        progress=progress,
    )
    provenance = {
        **recipe,
        "segmenter": name,
        "synthcity_version": SYNTHCITY_VERSION,
        "final_loss": sum(losses[-20:]) / len(losses[-20:]),
    }
    save_trained(out, model.cpu(), provenance)
    return Path(out)
