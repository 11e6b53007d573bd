"""Recognising checkpoints of the PyTorch pix2pix port (junyanz/pytorch-CycleGAN-and-pix2pix).

The port saves `latest_net_G.pth` as a bare state_dict. Our modules use the port's attribute
names, so the file loads into them unchanged once the architecture is known. It is recognised by
building every candidate architecture on the meta device (no memory, no compute) and comparing
key names and tensor shapes with the file's.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from typing import Any

import torch

from reference_models.errors import CheckpointError
from reference_models.generators import UNET_SIZES, GeneratorConfig, build_generator

PORT_NORMS = ("batch", "instance")


def identify_port_generator(
    state: dict[str, Any],
    *,
    path: str | os.PathLike[str] = "<state_dict>",
    dropout: bool | None = None,
) -> tuple[str, GeneratorConfig, tuple[str, ...]]:
    """Name and config of the registered generator whose state_dict matches `state` exactly.

    Raises `CheckpointError` naming the closest architecture and the keys that differ.
    """
    shapes = _shapes(state, path)
    best: tuple[int, str, GeneratorConfig, dict[str, tuple[int, ...]]] | None = None
    for name, config in _candidates(shapes):
        expected = _expected_shapes(name, config)
        if expected == shapes:
            notes: tuple[str, ...] = ()
            if name.startswith("unet"):
                config = dataclasses.replace(config, dropout=True if dropout is None else dropout)
                notes = (
                    f"dropout={'on' if config.dropout else 'off'}"
                    + (
                        " (assumed: the port's pix2pix default; its U-Net files do not record it)"
                        if dropout is None
                        else " (given)"
                    ),
                    "dropout after decoder layers 2-4 (the port's placement)",
                )
            elif dropout is not None and dropout != config.dropout:
                raise CheckpointError(
                    f"{path}: the ResNet weights were trained with dropout "
                    f"{'on' if config.dropout else 'off'}; it cannot be changed to {dropout}"
                )
            return name, config, notes
        distance = len(set(expected) ^ set(shapes)) + sum(
            expected[k] != shapes[k] for k in set(expected) & set(shapes)
        )
        if best is None or distance < best[0]:
            best = (distance, name, config, expected)
    raise CheckpointError(_mismatch_message(path, shapes, best))


def _shapes(state: dict[str, Any], path: str | os.PathLike[str]) -> dict[str, tuple[int, ...]]:
    if not state:
        raise CheckpointError(f"{path} holds an empty dict, not a generator state_dict")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f"{path} is neither a p2pbench checkpoint nor a bare state_dict: entries "
            f"{bad[:5]} are not tensors"
        )
    return {k: tuple(v.shape) for k, v in state.items()}


def _candidates(shapes: dict[str, tuple[int, ...]]) -> Iterator[tuple[str, GeneratorConfig]]:
    """Architectures worth trying, with channel counts read off the first and last layers.

    Where those layers are missing (a damaged file), the port's defaults (3 → 3, 64 filters) are
    tried so that the error can still name the closest architecture.
    """
    first = shapes.get("model.model.0.weight", (64, 3))
    last = shapes.get("model.model.3.weight", (64, 3))
    ngf, in_c, out_c = first[0], first[1], last[1]
    for size in UNET_SIZES:
        for norm in PORT_NORMS:
            yield f"unet{size}", GeneratorConfig(in_c, out_c, ngf, norm, True, "port")
    first = shapes.get("model.1.weight", (64, 3))
    convs = [k for k, s in shapes.items() if len(s) == 4 and s[-1] == 7 and k.count(".") == 2]
    out_c = shapes[max(convs, key=lambda k: int(k.split(".")[1]))][0] if convs else 3
    ngf, in_c = first[0], first[1]
    for blocks in (9, 6):
        for norm in PORT_NORMS:
            for dropout in (False, True):
                yield f"resnet{blocks}", GeneratorConfig(in_c, out_c, ngf, norm, dropout)


def _expected_shapes(name: str, config: GeneratorConfig) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        module = build_generator(name, **dataclasses.asdict(config))
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _mismatch_message(
    path: str | os.PathLike[str],
    shapes: dict[str, tuple[int, ...]],
    best: tuple[int, str, GeneratorConfig, dict[str, tuple[int, ...]]] | None,
) -> str:
    head = (
        f"{path} ({len(shapes)} tensors, first key {next(iter(shapes))!r}) fits no known "
        f"generator (p2pbench checkpoints and the PyTorch port's unet_32..unet_256 and "
        f"resnet_6/9blocks with batch or instance norm are recognised)"
    )
    assert best is not None  # _candidates always yields
    _, name, config, expected = best
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    wrong = sorted(
        f"{k}: file {shapes[k]} vs expected {expected[k]}"
        for k in set(expected) & set(shapes)
        if expected[k] != shapes[k]
    )
    parts = [
        f"{head}. Closest: {name} (norm={config.norm}, ngf={config.ngf}, dropout={config.dropout})"
    ]
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if items:
            shown = ", ".join(items[:6]) + (
                f", ... ({len(items)} in all)" if len(items) > 6 else ""
            )
            parts.append(f"{label}: {shown}")
    return "; ".join(parts)
