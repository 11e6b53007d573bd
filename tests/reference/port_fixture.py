"""Deterministic weights, inputs and output summaries for the PyTorch-port golden tests.

Shared by ``make_port_goldens.py`` (which runs the port's own network code) and
``tests/test_port.py`` (which runs ours). Depends on neither network implementation.

Fill rules (``FILL_RULES``), each tensor drawn from a ``torch.Generator`` seeded with
``zlib.crc32(key)``, so a value depends only on its key and shape, never on key order:

- conv / transposed-conv weights (4-D): ``N(0, 0.02) * k`` with ``k = 50 / sqrt(fan_in)``, i.e.
  std ``1 / sqrt(fan_in)``; ``fan_in = numel / shape[0]`` as ``torch.nn.init`` computes it.
  The port's own std 0.02 (k = 1) makes eval-mode outputs vanish (PixelGAN std ~6e-4, U-Net
  ~0.03); a constant k = 2 saturates the Tanh of eval-mode generators (ResNet: 99.9% at ±1).
  With k = 50 / sqrt(fan_in) every golden output has rms 0.17-0.77; at most 1% of eval-mode
  generator outputs (13% in train-mode U-Nets) lie beyond ±0.99.
- other biases: ``N(0, 0.05)``.
- batch-norm ``weight`` ``N(1, 0.02)``, ``bias`` ``N(0, 0.05)``, ``running_mean`` ``N(0, 0.1)``,
  ``running_var`` ``U(0.5, 1.5)``, ``num_batches_tracked`` 0 (int64 scalar). A 1-D weight or
  bias is a batch-norm parameter when its sibling ``running_mean`` key exists.
"""

from __future__ import annotations

import zlib

import torch

FILL_RULES = (
    "port_fixture.fill_state_dict v1: Generator seeded crc32(key); 4-D weight "
    "N(0,0.02)*50/sqrt(fan_in); bias N(0,0.05); BN weight N(1,0.02), bias N(0,0.05), "
    "running_mean N(0,0.1), running_var U(0.5,1.5), num_batches_tracked 0"
)
INPUT_RULES = "port_fixture.fixed_input v1: 2*rand-1 from a Generator seeded `seed`"
SUMMARY_RULES = (
    "port_fixture.summarise v1: float64 sum, sum|x|, sum x^2; values at 16 flat positions "
    "from torch.randint(numel) with a Generator seeded 1234"
)
SUMMARY_SEED = 1234
N_PROBES = 16


def _fill_one(key: str, shape: list[int], bn_prefixes: set[str]) -> torch.Tensor:
    """One tensor of the fixture state_dict (see the module docstring for the rules)."""
    g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    prefix, _, leaf = key.rpartition(".")
    size = torch.Size(shape)
    is_bn = prefix in bn_prefixes and len(shape) == 1
    if leaf == "num_batches_tracked":
        return torch.zeros((), dtype=torch.int64)
    if leaf == "running_mean":
        return torch.randn(size, generator=g) * 0.1
    if leaf == "running_var":
        return torch.rand(size, generator=g) + 0.5
    if leaf == "weight" and is_bn:
        return torch.randn(size, generator=g) * 0.02 + 1.0
    if leaf == "bias" and len(shape) == 1:
        return torch.randn(size, generator=g) * 0.05
    if leaf == "weight" and len(shape) == 4:
        fan_in = size.numel() // shape[0]
        k = 50.0 / fan_in**0.5
        return torch.randn(size, generator=g) * (0.02 * k)
    raise ValueError(f"no fill rule for {key!r} with shape {shape}")


def fill_state_dict(keys_and_shapes: list[tuple[str, list[int]]]) -> dict[str, torch.Tensor]:
    """Deterministic state_dict for the given (key, shape) list, in the given key order."""
    bn_prefixes = {k.rpartition(".")[0] for k, _ in keys_and_shapes if k.endswith(".running_mean")}
    return {k: _fill_one(k, list(s), bn_prefixes) for k, s in keys_and_shapes}


def fixed_input(shape: tuple[int, ...] | list[int], seed: int = 0) -> torch.Tensor:
    """Float32 tensor uniform in [-1, 1) from a Generator seeded with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(tuple(shape), generator=g) * 2.0 - 1.0


def summarise(t: torch.Tensor) -> dict[str, object]:
    """Float64 sum, sum |x|, sum x² and the values at 16 seeded flat positions."""
    flat = t.detach().reshape(-1).to(torch.float64)
    g = torch.Generator().manual_seed(SUMMARY_SEED)
    pos = torch.randint(0, flat.numel(), (N_PROBES,), generator=g)
    return {
        "shape": list(t.shape),
        "sum": flat.sum().item(),
        "sum_abs": flat.abs().sum().item(),
        "sum_sq": flat.square().sum().item(),
        "positions": pos.tolist(),
        "values": flat[pos].tolist(),
    }


def state_dict_checksum(sd: dict[str, torch.Tensor]) -> float:
    """Float64 sum of every value, to detect a change in the fixture's random streams."""
    return float(sum(v.to(torch.float64).sum().item() for v in sd.values()))


# FACTS.md section 3: parameter counts of the port's networks (3->3 G, 6-channel D, 64 filters),
# keyed by the golden case ids of make_port_goldens.py.
FACTS_PARAMS: dict[str, int] = {
    "G_unet_256_batch": 54_413_955,
    "G_unet_256_batch_dropout": 54_413_955,
    "G_unet_128_batch_dropout": 41_828_995,
    "G_resnet_9blocks_instance": 11_378_179,
    "D_basic_batch": 2_768_705,
    "D_n_layers_1_batch": 139_585,
    "D_n_layers_5_batch": 11_159_361,
    "D_pixel_batch": 9_024,
}
