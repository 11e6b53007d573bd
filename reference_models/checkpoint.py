"""p2pbench's checkpoint format: tensors and plain values only, config inside.

A checkpoint is a `torch.save` of a plain dict, so it loads with `weights_only=True` (no Python
object is ever unpickled):

    {"format": "p2pbench-checkpoint", "version": 1,
     "generator": {"name": "unet256", "options": {...GeneratorConfig...}, "state_dict": {...}},
     ...trainer sections ("discriminator", "optimizers", "step", "rng", "run") when written
        by the trainer}

`load_generator` reads these and the PyTorch port's bare `latest_net_G.pth` state_dicts.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from p2pbench.base import atomic_path, load_tensors, sha256_file
from reference_models.errors import CheckpointError
from reference_models.generators import GeneratorConfig, build_generator
from reference_models.port import identify_port_generator

CHECKPOINT_FORMAT = "p2pbench-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class LoadedGenerator:
    """A generator loaded from a file, with what is needed to record its provenance."""

    module: nn.Module
    name: str
    config: GeneratorConfig
    source_format: str  # "p2pbench" or "pytorch-port"
    sha256: str
    notes: tuple[str, ...] = ()
    run: dict[str, Any] | None = None  # the trainer's run config, when a trainer wrote the file
    step: int | None = None  # the trainer's step count, when a trainer wrote the file


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint file with `weights_only=True`, with errors that say what went wrong."""
    p = Path(path)
    data = load_tensors(p, CheckpointError)
    if not isinstance(data, dict):
        raise CheckpointError(f"{p} holds a {type(data).__name__}, expected a dict")
    return data


def is_p2pbench_checkpoint(data: dict[str, Any]) -> bool:
    return data.get("format") == CHECKPOINT_FORMAT


def generator_section(name: str, config: GeneratorConfig, module: nn.Module) -> dict[str, Any]:
    """The "generator" entry of a checkpoint."""
    return {"name": name, "options": dataclasses.asdict(config), "state_dict": module.state_dict()}


def save_checkpoint(path: str | os.PathLike[str], sections: dict[str, Any]) -> None:
    """Write a p2pbench checkpoint atomically: a crash never leaves a half-written file."""
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **sections}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def save_generator(
    path: str | os.PathLike[str], module: nn.Module, name: str, config: GeneratorConfig
) -> None:
    """Save a generator alone (weights and architecture) in p2pbench's format."""
    save_checkpoint(path, {"generator": generator_section(name, config, module)})


def read_generator(
    path: str | os.PathLike[str],
    *,
    dropout: bool | None = None,
) -> LoadedGenerator:
    """Load a generator from a p2pbench checkpoint or a PyTorch-port `*_net_G.pth` file.

    `dropout` matters only for port U-Net files, whose keys are the same with and without
    dropout; it defaults to the port's pix2pix default (on), and the choice is recorded.
    """
    data = read_checkpoint(path)
    digest = sha256_file(path)
    if is_p2pbench_checkpoint(data):
        version = data.get("version")
        if version != CHECKPOINT_VERSION:
            raise CheckpointError(
                f"{path} is p2pbench checkpoint version {version}; this p2pbench reads "
                f"version {CHECKPOINT_VERSION}"
            )
        if "generator" not in data:
            raise CheckpointError(f"{path} is a p2pbench checkpoint without a generator")
        section = data["generator"]
        options = dict(section["options"])
        if dropout is not None:
            options["dropout"] = dropout
        config = GeneratorConfig.from_options(options)
        module = build_generator(section["name"], **dataclasses.asdict(config))
        _load_state(module, section["state_dict"], path)
        return LoadedGenerator(
            module,
            section["name"],
            config,
            "p2pbench",
            digest,
            run=data.get("run"),
            step=data.get("step"),
        )

    state = data
    name, config, notes = identify_port_generator(state, path=path, dropout=dropout)
    module = build_generator(name, **dataclasses.asdict(config))
    _load_state(module, _strip_module_prefix(state), path)
    return LoadedGenerator(module, name, config, "pytorch-port", digest, notes)


def load_generator(
    path: str | os.PathLike[str], *, dropout: bool | None = None
) -> tuple[nn.Module, str]:
    """Load a generator file; returns `(module, registry name)`. See `read_generator`."""
    loaded = read_generator(path, dropout=dropout)
    return loaded.module, loaded.name


def _strip_module_prefix(state: dict[str, Any]) -> dict[str, Any]:
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return state


def _load_state(module: nn.Module, state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(
            f"{path}: weights do not fit the recorded architecture: {e}"
        ) from None
