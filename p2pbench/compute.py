"""How the networks run: memory format, precision and the TF32 policy, in one place.

Two rules:
- **Training** is fp32 by default (a reference trainer); `precision="bf16"` runs the forward
  passes and losses under autocast (weights, gradients and optimiser states stay fp32) and is
  recorded in the run's config. Channels-last is the default memory format.
- **Metric networks** (the FCN segmenter, InceptionV3, a generator under evaluation) run in fp32
  with TF32 off: PyTorch enables TF32 for cuDNN convolutions by default, which moves FCN argmax
  pixels. `exact=True` also keeps NCHW and eager `no_grad`, the path the defaults are tested
  against (features within 1e-5 relative, ≥ 99.99 % of FCN argmax pixels). The networks run
  under `inference_mode` on either path (it changes no number).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
from torch import nn

from p2pbench.errors import InvalidValueError

PRECISIONS: tuple[str, ...] = ("fp32", "bf16")


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise InvalidValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")


def compute_path(device: torch.device | str, channels_last: bool) -> dict[str, str]:
    """How a network's outputs were computed, as far as it moves their floating-point values:
    the device type, the memory format and the precision (metric networks run in fp32, TF32
    off). Part of every cache key of features and statistics, and of their provenance."""
    return {
        "device_type": torch.device(device).type,
        "memory_format": "channels_last" if channels_last else "nchw",
        "precision": "fp32",
    }


def compute_key(path: dict[str, str]) -> str:
    """A compute path as one string, e.g. `cpu/channels_last/fp32`."""
    return f"{path['device_type']}/{path['memory_format']}/{path['precision']}"


def memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


def to_memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """`x` (N×C×H×W) in channels-last, or as it is."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.ndim == 4 else x


def prepare_module(module: nn.Module, channels_last: bool) -> nn.Module:
    """`module` with its convolution weights in channels-last (in place; returned).

    Transposed convolutions keep their weights as they are: oneDNN reorders a channels-last
    deconvolution weight on every call (measured: 135 ms of copies per unet256 step on a CPU),
    while their inputs and outputs are channels-last either way.
    """
    if not channels_last:
        return module
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.data = m.weight.data.contiguous(memory_format=torch.channels_last)
    return module


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """bf16 autocast on `device` for precision "bf16"; nothing for "fp32"."""
    check_precision(precision)
    device = torch.device(device)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def fused_optimizer_supported(device: torch.device | str) -> bool:
    """Whether this torch has a fused Adam for `device` (CUDA since 2.0, CPU since 2.4)."""
    return _fused_adam(torch.device(device).type)


@functools.cache
def _fused_adam(device_type: str) -> bool:
    if device_type == "cuda":
        return True
    if device_type != "cpu":
        return False
    try:
        probe = torch.zeros(1, requires_grad=True)
        torch.optim.Adam([probe], fused=True).step()
    except (RuntimeError, TypeError):
        return False
    return True


def adam(
    params: Iterator[nn.Parameter] | list[nn.Parameter],
    *,
    lr: float,
    betas: tuple[float, float],
    device: torch.device | str,
) -> torch.optim.Adam:
    """Adam, fused where torch has a fused kernel for `device` (else its default)."""
    fused = True if fused_optimizer_supported(device) else None
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused)


@contextlib.contextmanager
def metric_math(device: torch.device | str) -> Iterator[None]:
    """An evaluation: no gradients, and on CUDA TF32 off for matmuls and cuDNN convolutions
    (the flags are restored afterwards)."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    if torch.device(device).type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.no_grad():
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


FAST_MATH: tuple[str, ...] = ("tf32", "bf16")
"""Faster math for the metric networks, each allowed only for a metric whose measured agreement
with the fp32 path passes: FCN argmax ≥ 99.99 % of pixels, FID within 1e-4 relative."""

_NOT_ON_CPU = "not measured: TF32 exists on NVIDIA GPUs only (benchmarks/gpu_check.sh measures it)"
_NEEDS_INCEPTION = (
    "not measured: needs the real InceptionV3 weights, which this project cannot ship"
)

MEASURED_AGREEMENT: dict[tuple[str, str], tuple[bool, str]] = {
    # (mode, metric group) → (passes, what was measured); measured with the command given
    ("bf16", "fcn"): (
        False,
        "99.807 % of FCN argmax pixels kept (fcn8s-synthcity128 on 64 synthcity@v2 val photos, "
        "CPU autocast; python -m benchmarks.run --only agreement), below 99.99 %",
    ),
    ("bf16", "inception"): (False, _NEEDS_INCEPTION),
    ("tf32", "fcn"): (False, _NOT_ON_CPU),
    ("tf32", "inception"): (False, _NOT_ON_CPU),
}


def check_fast_math(mode: str | None, groups: tuple[str, ...] | list[str]) -> None:
    """Refuse `mode` for every metric group that would run a network under it without a
    passing measurement (a ValueError that gives the measured figure)."""
    if mode is None:
        return
    if mode not in FAST_MATH:
        raise InvalidValueError(f"unknown fast math {mode!r}; valid: {', '.join(FAST_MATH)}")
    networks = [g for g in groups if (mode, g) in MEASURED_AGREEMENT]
    if not networks:
        raise InvalidValueError(f"--fast-math {mode} applies to the fcn and inception metrics only")
    verdicts = {g: MEASURED_AGREEMENT[(mode, g)] for g in networks}
    refused = [(g, why) for g, (passes, why) in verdicts.items() if not passes]
    if refused:
        lines = "; ".join(f"{g}: {why}" for g, why in refused)
        raise InvalidValueError(
            f"--fast-math {mode} is refused where its agreement with the exact fp32 path is not "
            f"measured to pass ({lines}); run without it"
        )
