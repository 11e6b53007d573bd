"""Every registered network builds, runs forward and backward, and has the paper's shape."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reference_models import (
    DISCRIMINATORS,
    GENERATORS,
    UnknownNameError,
    build_discriminator,
    build_generator,
    generator_size,
    receptive_field,
)
from reference_models.layers import SampleDropout

# Parameter counts of the PyTorch port's networks (3 → 3 channels, 64 filters), FACTS §3.
PORT_PARAMETER_COUNTS = [
    ("generator", "unet256", {"norm": "batch"}, 54_413_955),
    ("generator", "unet128", {"norm": "batch"}, 41_828_995),
    ("generator", "resnet9", {"norm": "instance"}, 11_378_179),
    ("discriminator", "patch70", {"norm": "batch", "in_channels": 6}, 2_768_705),
    ("discriminator", "patch16", {"norm": "batch", "in_channels": 6}, 139_585),
    ("discriminator", "patch286", {"norm": "batch", "in_channels": 6}, 11_159_361),
    ("discriminator", "patch1", {"norm": "batch", "in_channels": 6}, 9_024),
]


def _check_backward(module: nn.Module, x: torch.Tensor) -> None:
    module.train()
    y = module(x)
    assert torch.isfinite(y).all()
    (y.float() ** 2).mean().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None, f"no gradient reached {name}"
        assert torch.isfinite(p.grad).all(), f"non-finite gradient in {name}"
        assert p.grad.abs().sum() > 0, f"zero gradient on {name}"


@pytest.mark.parametrize("name", GENERATORS.names())
@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_generator_forward_backward(name: str, norm: str) -> None:
    torch.manual_seed(0)
    size = generator_size(name)
    g = build_generator(name, ngf=4, norm=norm)
    x = torch.rand(2, 3, size, size) * 2 - 1
    out = g(x)
    assert out.shape == (2, 3, size, size)
    assert out.abs().max() <= 1.0  # tanh output
    _check_backward(g, x)


@pytest.mark.parametrize("name", DISCRIMINATORS.names())
@pytest.mark.parametrize("in_channels", [6, 3])
def test_discriminator_forward_backward(name: str, in_channels: int) -> None:
    entry = DISCRIMINATORS.get(name)
    size = max(32, 1 << (entry.min_size - 1).bit_length())  # smallest power of two it scores
    d = build_discriminator(name, ndf=4, in_channels=in_channels)
    x = torch.rand(2, in_channels, size, size)
    _check_backward(d, x)


def test_discriminator_minimum_size_is_enforced() -> None:
    d = build_discriminator("patch286", ndf=2)
    assert DISCRIMINATORS.get("patch286").min_size > 64
    with pytest.raises(ValueError, match="at least 96"):
        d(torch.zeros(1, 6, 64, 64))
    assert d(torch.zeros(1, 6, 96, 96)).shape[-1] == 1


def _footprint(d: nn.Module, size: int) -> tuple[int, int, bool]:
    """Measured receptive field: extent of the input gradient of one central output."""
    with torch.no_grad():
        for m in d.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.abs_().add_(1e-3)
                if m.bias is not None:
                    m.bias.zero_()
    x = torch.ones(1, d_in_channels(d), size, size, requires_grad=True)
    y = d(x)
    h, w = y.shape[-2:]
    y[0, 0, h // 2, w // 2].backward()
    nz = x.grad[0].abs().sum(0) > 0
    rows = nz.any(1).nonzero().flatten()
    cols = nz.any(0).nonzero().flatten()
    inside = rows.min() > 0 and cols.min() > 0 and rows.max() < size - 1 and cols.max() < size - 1
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1), bool(inside)


def d_in_channels(d: nn.Module) -> int:
    return next(m for m in d.modules() if isinstance(m, nn.Conv2d)).in_channels


@pytest.mark.parametrize("name", DISCRIMINATORS.names())
def test_receptive_field_matches_name_and_gradient_footprint(name: str) -> None:
    nominal = DISCRIMINATORS.get(name).receptive_field
    assert int(name.removeprefix("patch")) == nominal
    d = build_discriminator(name, ndf=2, norm="none")
    assert receptive_field(d) == nominal
    size = 2 * nominal + 64
    height, width, inside = _footprint(d, size)
    assert inside, "footprint touches the border: the measurement would be clipped"
    assert (height, width) == (nominal, nominal)


def test_receptive_field_formula() -> None:
    # r(n) = 9·2ⁿ − 2 for n stride-2 convs followed by two stride-1 convs, FACTS §3
    for n, name in ((1, "patch16"), (3, "patch70"), (5, "patch286")):
        assert receptive_field(build_discriminator(name, ndf=1)) == 9 * 2**n - 2


@pytest.mark.parametrize("kind, name, options, expected", PORT_PARAMETER_COUNTS)
def test_parameter_counts_equal_the_port(
    kind: str, name: str, options: dict, expected: int
) -> None:
    with torch.device("meta"):
        build = build_generator if kind == "generator" else build_discriminator
        module = build(name, **options)
    assert sum(p.numel() for p in module.parameters()) == expected


def test_unet_dropout_placement() -> None:
    def dropout_levels(g: nn.Module) -> list[int]:
        levels, block, level = [], g.model, 8
        while block is not None:
            layers = list(block.model)
            if any(isinstance(m, SampleDropout) for m in layers):
                levels.append(level)
            inner = [m for m in layers if m.__class__.__name__ == "UnetBlock"]
            block = inner[0] if inner else None
            level -= 1
        return levels  # level 1 = innermost; decoder layer k sits at level k

    with torch.device("meta"):
        paper = build_generator("unet256", dropout_layers="paper")
        port = build_generator("unet256", dropout_layers="port")
        off = build_generator("unet256", dropout=False)
    assert sorted(dropout_levels(paper)) == [1, 2, 3]
    assert sorted(dropout_levels(port)) == [2, 3, 4]
    assert dropout_levels(off) == []
    assert paper.state_dict().keys() == port.state_dict().keys() == off.state_dict().keys()


def test_encoder_decoder_has_no_skips() -> None:
    g = build_generator("encdec32", ngf=4)
    u = build_generator("unet32", ngf=4)
    assert sum(p.numel() for p in g.parameters()) < sum(p.numel() for p in u.parameters())
    assert g(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    assert all(not b.skip for b in g.modules() if b.__class__.__name__ == "UnetBlock")


def test_wrong_input_size_is_a_clear_error() -> None:
    g = build_generator("unet64", ngf=2)
    with pytest.raises(ValueError, match="64×64"):
        g(torch.zeros(1, 3, 32, 32))


def test_unknown_names_and_options_are_listed() -> None:
    with pytest.raises(UnknownNameError, match="unet256"):
        build_generator("unet999")
    with pytest.raises(UnknownNameError, match="patch70"):
        build_discriminator("patch71")
    with pytest.raises(TypeError, match="ngf"):
        build_generator("unet32", filters=8)
    with pytest.raises(ValueError, match="instance"):
        build_generator("unet32", norm="group")


def test_paper_init_is_seeded() -> None:
    a = build_generator("unet32", ngf=4, seed=1).state_dict()
    b = build_generator("unet32", ngf=4, seed=1).state_dict()
    c = build_generator("unet32", ngf=4, seed=2).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["model.model.0.weight"], c["model.model.0.weight"])
    w = build_generator("unet256", seed=0).state_dict()
    conv = torch.cat([v.flatten() for k, v in w.items() if v.ndim == 4])
    bn = torch.cat([v for k, v in w.items() if k.endswith("weight") and v.ndim == 1])
    assert abs(conv.std().item() - 0.02) < 2e-4 and abs(conv.mean().item()) < 1e-4
    assert abs(bn.mean().item() - 1.0) < 2e-3 and abs(bn.std().item() - 0.02) < 2e-3
