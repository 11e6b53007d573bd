"""The segmenters behind FCN-score, by name, with their weights pinned.

- `fcn8s-synthcity128`: a narrow FCN-8s trained on synthcity version 2 photos at 128×128 (the
  `synthcity@v2` protocol); `fcn8s-synthcity64`: the same family on version 1 at 64×64
  (`synthcity@v1`). Both ship in the package (fcn/weights/), pinned by sha256, and
  `p2pbench fcn train --segmenter NAME` reproduces them from their entry in
  `p2pbench.train.segmenter.RECIPES` (the recipe is also stored inside the file). Their
  training scenes come from data seed 1, the protocols' val scenes from seed 0: no scored scene
  is ever seen in training.
- `fcn8s-cityscapes`: the pix2pix authors' Caffe FCN-8s; users provide the caffemodel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import fcn
from fcn.fcn8s import FCN8sArch
from fcn.weights import find_official_weights, load_fcn8s, read_converted
from p2pbench.base import sha256_file
from p2pbench.data import SYNTHCITY_CLASSES
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
