"""pix2pix generators: U-Net, encoder-decoder and ResNet, in a registry keyed by name.

Names carry the architecture: `unet256` is a U-Net for 256×256 images with log2(256) = 8
down-sampling levels, `encdec128` the same encoder-decoder without skip connections, `resnet9` /
`resnet6` the ResNet generator with 9 / 6 residual blocks. Module attribute names and nesting
follow the PyTorch pix2pix port, so its `latest_net_G.pth` state_dicts load key for key.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from p2pbench.errors import InvalidValueError
from p2pbench.registry import Registry, config_from_options
from reference_models.init import init_paper_weights
from reference_models.layers import NORMS, SampleDropout, conv_bias, make_norm

DropoutLayers = Literal["paper", "port"]
DROPOUT_LAYERS: tuple[str, ...] = ("paper", "port")


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture options shared by every generator.

    `dropout_layers` (U-Net and encoder-decoder only) says where the three dropout(0.5) layers
    sit: "paper" after decoder layers 1-3 as in the paper and its Lua code, "port" after decoder
    layers 2-4 as in the PyTorch port. The choice adds no parameters, so it cannot be read from
    a checkpoint.

    `bottleneck_norm` (U-Net and encoder-decoder) adds a norm layer after the innermost
    down-convolution, as in the networks behind the paper's tables: the Lua code had it until
    commit b479b6b removed it, after the tables were made. On the 1×1 bottleneck a batch norm
    in training mode at batch 1 outputs its bias alone (the bottleneck is zeroed): faithful to
    the paper's runs, not a network anyone should train today.
    """

    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64
    norm: str = "batch"
    dropout: bool = True
    dropout_layers: DropoutLayers = "paper"
    bottleneck_norm: bool = False

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise InvalidValueError(f"unknown norm {self.norm!r}; valid: {', '.join(NORMS)}")
        if self.dropout_layers not in DROPOUT_LAYERS:
            raise InvalidValueError(
                f"dropout_layers must be 'paper' or 'port', got {self.dropout_layers!r}"
            )
        for name in ("in_channels", "out_channels", "ngf"):
            if getattr(self, name) < 1:
                raise InvalidValueError(f"{name} must be positive, got {getattr(self, name)}")

    @classmethod
    def from_options(cls, options: dict[str, object]) -> GeneratorConfig:
        return config_from_options(cls, options, "generator")


class UnetBlock(nn.Module):
    """One level of the U-Net: down-sample, the inner levels, up-sample, skip concatenation.

    The output is [input, decoded] along channels (the port's order; the Lua code used
    [decoded, input]) except at the outermost level, which returns the decoded image alone.
    """

    def __init__(
        self,
        outer: int,
        inner: int,
        *,
        in_channels: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        norm: str = "batch",
        dropout: bool = False,
        skip: bool = True,
        bottleneck_norm: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        self.skip = skip
        innermost = submodule is None
        bias = conv_bias(norm)
        down_in = outer if in_channels is None else in_channels
        up_in = inner if innermost or not skip else inner * 2
        down = nn.Conv2d(down_in, inner, 4, stride=2, padding=1, bias=bias)
        if outermost:
            assert submodule is not None, "the outermost block wraps the others"
            up = nn.ConvTranspose2d(up_in, outer, 4, stride=2, padding=1)
            layers: list[nn.Module] = [down, submodule, nn.ReLU(), up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(up_in, outer, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(), up, make_norm(norm, outer)]
            if bottleneck_norm:  # the paper-era network (see GeneratorConfig)
                layers.insert(2, make_norm(norm, inner))
        else:
            assert submodule is not None  # not innermost
            up = nn.ConvTranspose2d(up_in, outer, 4, stride=2, padding=1, bias=bias)
            layers = [
                nn.LeakyReLU(0.2),
                down,
                make_norm(norm, inner),
                submodule,
                nn.ReLU(),
                up,
                make_norm(norm, outer),
            ]
        if dropout:
            layers.append(SampleDropout(0.5))  # last, so parameter indices do not move
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        if self.outermost or not self.skip:
            return y
        return torch.cat([x, y], dim=1)


class UnetGenerator(nn.Module):
    """U-Net (or, with `skip=False`, encoder-decoder) with `depth` stride-2 levels.

    Encoder C64-C128-C256-C512-C512...; the innermost and outermost down-convs have no norm; the
    input must be 2**depth pixels on a side, so the bottleneck is 1×1.
    """

    def __init__(self, depth: int, config: GeneratorConfig, *, skip: bool = True) -> None:
        super().__init__()
        if depth < 5:
            raise InvalidValueError(f"a U-Net needs at least 5 levels (32 px), got {depth}")
        c = config
        ngf = c.ngf
        # decoder layer k (1 = innermost) carries dropout in these positions
        dropout_at = {1, 2, 3} if c.dropout_layers == "paper" else {2, 3, 4}
        n_wide = depth - 4  # levels whose decoder layer outputs ngf*8 channels
        block: nn.Module | None = None
        for k in range(1, n_wide + 1):
            block = UnetBlock(
                ngf * 8,
                ngf * 8,
                submodule=block,
                norm=c.norm,
                skip=skip,
                dropout=c.dropout and k in dropout_at,
                bottleneck_norm=c.bottleneck_norm and k == 1,
            )
        for outer, inner in ((ngf * 4, ngf * 8), (ngf * 2, ngf * 4), (ngf, ngf * 2)):
            block = UnetBlock(outer, inner, submodule=block, norm=c.norm, skip=skip)
        self.model = UnetBlock(
            c.out_channels,
            ngf,
            in_channels=c.in_channels,
            submodule=block,
            outermost=True,
            norm=c.norm,
            skip=skip,
        )
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = 2**self.depth
        if x.shape[-2:] != (size, size):
            raise InvalidValueError(
                f"this U-Net takes {size}×{size} images, got {tuple(x.shape[-2:])}; "
                f"resize the input or pick unet{x.shape[-1]}"
            )
        return self.model(x)


class ResnetBlock(nn.Module):
    """Residual block: reflect-pad, conv 3×3, norm, ReLU, [dropout], reflect-pad, conv, norm."""

    def __init__(self, dim: int, norm: str, dropout: bool) -> None:
        super().__init__()
        bias = conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=bias),
            make_norm(norm, dim),
            nn.ReLU(),
        ]
        if dropout:
            layers.append(SampleDropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """ResNet generator: c7s1-64, d128, d256, `n_blocks` residual blocks, u128, u64, c7s1-out.

    Works at any size divisible by 4.
    """

    def __init__(self, n_blocks: int, config: GeneratorConfig) -> None:
        super().__init__()
        c = config
        bias = conv_bias(c.norm)
        ngf = c.ngf
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(c.in_channels, ngf, 7, bias=bias),
            make_norm(c.norm, ngf),
            nn.ReLU(),
        ]
        for mult in (1, 2):
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                make_norm(c.norm, ngf * mult * 2),
                nn.ReLU(),
            ]
        layers += [ResnetBlock(ngf * 4, c.norm, c.dropout) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [
                nn.ConvTranspose2d(
                    ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=bias
                ),
                make_norm(c.norm, ngf * mult // 2),
                nn.ReLU(),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, c.out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise InvalidValueError(
                f"the ResNet generator needs sides divisible by 4, got {tuple(x.shape[-2:])}"
            )
        return self.model(x)


@dataclass(frozen=True)
class GeneratorEntry:
    """A registered generator: its name, the image size it is built for, and its builder."""

    name: str
    family: str
    size: int
    build: Callable[[GeneratorConfig], nn.Module]


GENERATORS: Registry[GeneratorEntry] = Registry("generator")
UNET_SIZES: tuple[int, ...] = (32, 64, 128, 256)

for _size in UNET_SIZES:
    _depth = int(math.log2(_size))
    GENERATORS.add(
        f"unet{_size}",
        GeneratorEntry(f"unet{_size}", "unet", _size, functools.partial(UnetGenerator, _depth)),
    )
    GENERATORS.add(
        f"encdec{_size}",
        GeneratorEntry(
            f"encdec{_size}", "encdec", _size, functools.partial(UnetGenerator, _depth, skip=False)
        ),
    )
for _blocks in (9, 6):
    GENERATORS.add(
        f"resnet{_blocks}",
        GeneratorEntry(
            f"resnet{_blocks}", "resnet", 256, functools.partial(ResnetGenerator, _blocks)
        ),
    )


def build_generator(name: str, *, seed: int = 0, **options: object) -> nn.Module:
    """Build the registered generator `name` with the paper's initialisation.

    `options` are `GeneratorConfig` fields (in_channels, out_channels, ngf, norm, dropout,
    dropout_layers); `seed` seeds the N(0, 0.02) initialisation.
    """
    entry = GENERATORS.get(name)
    module = entry.build(GeneratorConfig.from_options(options))
    return init_paper_weights(module, torch.Generator().manual_seed(seed))


def generator_size(name: str) -> int:
    """The image side length the generator `name` is built for."""
    return GENERATORS.get(name).size
