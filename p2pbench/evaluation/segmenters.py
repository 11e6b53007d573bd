"""The segmenters behind FCN-score, by name, with their weights pinned.

- `fcn8s-synthcity128`: a narrow FCN-8s trained on synthcity version 2 photos at 128×128 (the
  `synthcity@v2` protocol); `fcn8s-synthcity64`: the same family on version 1 at 64×64
  (`synthcity@v1`). Both ship in the package (fcn/weights/), pinned by sha256, and
  `p2pbench fcn train --segmenter NAME` reproduces them from their `RECIPES` entry (the recipe
  is also stored inside the file). Their training scenes come from data seed 1, the protocols'
  val scenes from seed 0: no scored scene is ever seen in training.
- `fcn8s-cityscapes`: the pix2pix authors' Caffe FCN-8s; users provide the caffemodel.
"""

from __future__ import annotations

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
from fcn.weights import find_official_weights, load_fcn8s, read_converted
from p2pbench.base import sha256_file
from p2pbench.data import SYNTHCITY_CLASSES, build_dataset, quantize_uint8
from p2pbench.distributed import warn
from p2pbench.errors import InvalidValueError, PathNotFoundError
from p2pbench.protocols import USER_SEGMENTER_PREFIX
from p2pbench.registry import Registry

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
    trained: dict[str, Any] | None = None  # user-trained weights: the recipe in the file

    def describe(self) -> dict[str, Any]:
        described = {
            "name": self.name,
            "weights": self.weights_path,
            "sha256": self.weights_sha256,
            "architecture": self.architecture,
            "official": self.official,
        }
        return described if self.trained is None else {**described, "trained": self.trained}


SEGMENTERS: Registry[SegmenterSpec] = Registry("segmenter")

RECIPES: dict[str, dict[str, Any]] = {
    "fcn8s-synthcity64": {
        "data": "synthcity",
        "synthcity_version": 1,
        "size": 64,
        "n_train": 1000,
        "data_seed": 1,
        "steps": 600,
        "batch_size": 16,
        "lr": 1e-3,
        "seed": 0,
    },
    "fcn8s-synthcity128": {
        "data": "synthcity",
        "synthcity_version": 2,
        "size": 128,
        "n_train": 2000,
        "data_seed": 1,
        "steps": 1500,
        "batch_size": 16,
        "lr": 1e-3,
        "seed": 0,
    },
}
"""How each shipped synthcity segmenter was trained (`p2pbench fcn train` replays it)."""
SYNTHCITY64_RECIPE = RECIPES["fcn8s-synthcity64"]
SEGMENTERS.add(
    "fcn8s-synthcity128",
    SegmenterSpec(
        name="fcn8s-synthcity128",
        description="FCN-8s, widths (8,16,32,64,64)/128, 10 synthcity v2 classes, trained at "
        "128×128",
        arch=FCN8sArch(
            num_classes=len(SYNTHCITY_CLASSES), channels=(8, 16, 32, 64, 64), fc_channels=128
        ),
        shipped_file="fcn8s-synthcity128.pt",
        sha256="f9104aed74e355bb2b95352b690ce3d50181a3197f3735c584c77111065fc448",
    ),
)
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
    """The segmenter `name` in eval mode, its weights verified; `weights` overrides the file.

    `file:<sha256>` (a protocol built by `p2pbench.protocols.user_fcn_protocol`) names a
    user-trained file by its hash: `weights` must be that very file.
    """
    if name.startswith(USER_SEGMENTER_PREFIX):
        return load_user_segmenter(name, weights, device)
    spec = SEGMENTERS.get(name)
    if weights is not None:
        path = Path(weights)
    elif spec.shipped_file is not None:
        path = WEIGHTS_DIR / spec.shipped_file
        if not path.is_file():
            raise PathNotFoundError(
                f"the shipped weights of {name} are missing: {path}. Reinstall p2pbench, or "
                f"retrain them with `p2pbench fcn train --segmenter {name} --out {path}`"
            )
    else:
        path = find_official_weights()
    digest = sha256_file(path)
    if weights is None and spec.sha256 is not None and digest != spec.sha256:
        raise InvalidValueError(
            f"{path} has sha256 {digest}, but {name} is pinned to {spec.sha256}; the file was "
            "changed or corrupted: reinstall p2pbench"
        )
    module = load_fcn8s(path)
    if module.arch.num_classes != spec.arch.num_classes:
        raise InvalidValueError(
            f"{path} holds an FCN-8s with {module.arch.num_classes} output "
            f"channels, but {name} has {spec.arch.num_classes}"
        )
    official = module.arch == spec.arch and (spec.sha256 is None or digest == spec.sha256)
    if not official:
        warn(
            f"{path} is not the registered {name} weights ({module.arch}); results "
            "are recorded as such and are not comparable"
        )
    return LoadedSegmenter(
        module.to(device), name, str(path), digest, module.arch.as_dict(), official
    )


def load_user_segmenter(
    name: str, weights: str | Path | None, device: str | torch.device = "cpu"
) -> LoadedSegmenter:
    """The user-trained segmenter `file:<sha256>` from `weights`, whose sha256 must match."""
    expected = name[len(USER_SEGMENTER_PREFIX) :]
    if weights is None:
        raise InvalidValueError(
            f"this protocol's segmenter is a user-trained file with sha256 {expected}; "
            "pass it with --segmenter-weights FILE (segmenter_weights=...)"
        )
    path = Path(weights)
    if not path.is_file():
        raise PathNotFoundError(f"segmenter weights not found: {path}")
    digest = sha256_file(path)
    if digest != expected:
        raise InvalidValueError(
            f"segmenter weights {path} have sha256 {digest}, but the protocol was built from "
            f"weights with sha256 {expected}; pass the file the protocol names (or rebuild the "
            "protocol from this file)"
        )
    module = load_fcn8s(path)
    recipe = read_converted(path, mmap=True).source.get("trained", {})
    return LoadedSegmenter(
        module.to(device),
        name,
        str(path),
        digest,
        module.arch.as_dict(),
        official=False,
        trained=recipe if isinstance(recipe, dict) else None,
    )


def synthcity_batches(
    size: int,
    n: int,
    data_seed: int,
    batch_size: int,
    seed: int,
    class_train_ids: Sequence[int],
    version: int,
) -> BatchFn:
    """Seeded batches of real synthcity photos (uint8) and class-index maps, with flips."""
    data = build_dataset(
        f"synthcity@v{version}",
        "train",
        size=size,
        direction="BtoA",
        seed=data_seed,
        data_root=None,
        n=n,
    )
    lut = np.full(256, 255, dtype=np.int64)
    lut[list(class_train_ids)] = np.arange(len(class_train_ids))
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    labels = torch.empty(n, size, size, dtype=torch.int64)
    for i in range(n):
        sample = data[i]
        images[i] = quantize_uint8(sample.target)
        labels[i] = torch.from_numpy(lut[sample.label.numpy()])
    return sampled_batches(images, labels, batch_size, seed)


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
        raise InvalidValueError(f"{name} is trained on synthcity, not {recipe['data']!r}")
    batches = synthcity_batches(
        recipe["size"],
        recipe["n_train"],
        recipe["data_seed"],
        recipe["batch_size"],
        recipe["seed"],
        [c.train_id for c in SYNTHCITY_CLASSES],
        recipe["synthcity_version"],
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
        "final_loss": sum(losses[-20:]) / len(losses[-20:]),
    }
    save_trained(out, model.cpu(), provenance)
    return Path(out)
