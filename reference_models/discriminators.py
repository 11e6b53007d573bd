"""PatchGAN discriminators (1×1 PixelGAN, 16×16, 70×70, 286×286) and their receptive field.

`patchN` classifies every N×N patch of its input as real or fake. A PatchGAN with n stride-2
4×4 convolutions followed by two stride-1 4×4 convolutions sees r(n) = 9·2ⁿ − 2 pixels:
n = 1 → 16, n = 3 → 70, n = 5 → 286. `patch1` (PixelGAN) uses 1×1 convolutions only.
Conditional discriminators see the input and output images concatenated (6 channels for RGB);
unconditional ones see the output alone (`in_channels=3`). Attribute names follow the PyTorch
port (`model` for the PatchGAN, `net` for the PixelGAN) so its `*_net_D.pth` files load.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from p2pbench.errors import InvalidValueError
from p2pbench.registry import Registry, config_from_options
from reference_models.init import init_paper_weights
from reference_models.layers import NORMS, conv_bias, make_norm


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Architecture options shared by every discriminator."""

    in_channels: int = 6
    ndf: int = 64
    norm: str = "batch"

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise InvalidValueError(f"unknown norm {self.norm!r}; valid: {', '.join(NORMS)}")
        if self.in_channels < 1 or self.ndf < 1:
            raise InvalidValueError("in_channels and ndf must be positive")

    @classmethod
    def from_options(cls, options: dict[str, object]) -> DiscriminatorConfig:
        return config_from_options(cls, options, "discriminator")


class PatchDiscriminator(nn.Module):
    """PatchGAN with `n_strided` stride-2 4×4 convs, then two stride-1 4×4 convs (last → 1)."""

    def __init__(self, n_strided: int, config: DiscriminatorConfig) -> None:
        super().__init__()
        c = config
        bias = conv_bias(c.norm)
        layers: list[nn.Module] = [
            nn.Conv2d(c.in_channels, c.ndf, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        width = c.ndf
        for n in range(1, n_strided + 1):
            stride = 2 if n < n_strided else 1
            out = c.ndf * min(2**n, 8)
            layers += [
                nn.Conv2d(width, out, 4, stride=stride, padding=1, bias=bias),
                make_norm(c.norm, out),
                nn.LeakyReLU(0.2),
            ]
            width = out
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        self.min_size = 3 * 2**n_strided  # output side = size / 2**n - 2 must be at least 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_size(x, self.min_size)
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """1×1 PixelGAN: judges every pixel on its own (receptive field 1)."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        c = config
        bias = conv_bias(c.norm)
        self.net = nn.Sequential(
            nn.Conv2d(c.in_channels, c.ndf, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c.ndf, c.ndf * 2, 1, bias=bias),
            make_norm(c.norm, c.ndf * 2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c.ndf * 2, 1, 1, bias=bias),
        )
        self.min_size = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _check_size(x: torch.Tensor, min_size: int) -> None:
    if min(x.shape[-2:]) < min_size:
        raise InvalidValueError(
            f"this discriminator needs images of at least {min_size}×{min_size}, "
            f"got {tuple(x.shape[-2:])}; use a smaller patch size"
        )


@dataclass(frozen=True)
class DiscriminatorEntry:
    """A registered discriminator: name, nominal receptive field, smallest image, builder."""

    name: str
    receptive_field: int
    min_size: int
    build: Callable[[DiscriminatorConfig], nn.Module]


DISCRIMINATORS: Registry[DiscriminatorEntry] = Registry("discriminator")
DISCRIMINATORS.add("patch1", DiscriminatorEntry("patch1", 1, 1, PixelDiscriminator))
for _n, _rf in ((1, 16), (3, 70), (5, 286)):
    DISCRIMINATORS.add(
        f"patch{_rf}",
        DiscriminatorEntry(
            f"patch{_rf}", _rf, 3 * 2**_n, functools.partial(PatchDiscriminator, _n)
        ),
    )


def build_discriminator(name: str, *, seed: int = 0, **options: object) -> nn.Module:
    """Build the registered discriminator `name` with the paper's initialisation.

    `options` are `DiscriminatorConfig` fields (in_channels: 6 conditional, 3 unconditional;
    ndf; norm); `seed` seeds the initialisation.
    """
    entry = DISCRIMINATORS.get(name)
    module = entry.build(DiscriminatorConfig.from_options(options))
    return init_paper_weights(module, torch.Generator().manual_seed(seed))


def receptive_field(module: nn.Module) -> int:
    """Receptive field, in input pixels, of one output of a feed-forward conv stack.

    Walks the convolutions from the output back: r_in = (r_out − 1)·stride + kernel.
    Dilated, pooling or non-square layers are not used by these networks and are rejected.
    """
    r = 1
    for layer in reversed(list(module.modules())):
        if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            raise ValueError("receptive_field does not handle pooling layers")
        if isinstance(layer, nn.Conv2d):
            (k, k2), (s, s2), (d, d2) = layer.kernel_size, layer.stride, layer.dilation
            if k != k2 or s != s2 or d != 1 or d2 != 1:
                raise ValueError(f"receptive_field handles square, undilated convs only: {layer}")
            r = (r - 1) * s + k
    return r
