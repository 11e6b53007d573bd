"""Devices named by users (`--device cpu`, `cuda`, `cuda:1`, `mps`), checked before any work."""

from __future__ import annotations

import torch

from p2pbench.errors import InvalidValueError


def check_device(name: str) -> torch.device:
    """The device `name`; an unknown name or one this machine lacks is a ValueError that says
    what exists."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as e:
        raise InvalidValueError(
            f"unknown device {name!r} ({e}); use cpu, cuda, cuda:N or mps"
        ) from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InvalidValueError(
                f"device {name!r}: no CUDA GPU is available here (torch {torch.__version__}, "
                f"CUDA build {torch.version.cuda or 'none'}); use --device cpu"
            )
        if device.index is not None and device.index >= count:
            raise InvalidValueError(
                f"device {name!r}: this machine has {count} CUDA GPU(s), cuda:0 … cuda:{count - 1}"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidValueError(
            f"device {name!r}: Apple's MPS is not available here; use --device cpu"
        )
    elif device.type not in ("cpu", "cuda", "mps"):
        raise InvalidValueError(f"device {name!r}: p2pbench runs on cpu, cuda or mps")
    return device
