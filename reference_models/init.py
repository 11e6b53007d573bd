"""The paper's weight initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""

from __future__ import annotations

import torch
from torch import nn

INIT_STD = 0.02


@torch.no_grad()
def init_paper_weights(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Initialise every conv and batch-norm layer of `module` in place, reproducibly.

    Conv and transposed-conv weights ~ N(0, 0.02), their biases 0; batch-norm weights
    ~ N(1, 0.02), biases 0. Layers are visited in `named_modules()` order, so the result depends
    only on the architecture and the generator's seed.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            _normal_(layer.weight, 0.0, INIT_STD, generator)
            if layer.bias is not None:
                layer.bias.zero_()
        elif isinstance(layer, nn.BatchNorm2d):
            _normal_(layer.weight, 1.0, INIT_STD, generator)
            layer.bias.zero_()
    return module


def _normal_(t: torch.Tensor, mean: float, std: float, generator: torch.Generator) -> None:
    if t.device.type == "meta":
        return
    values = torch.randn(t.shape, generator=generator, dtype=torch.float32) * std + mean
    t.copy_(values.to(t.dtype))
