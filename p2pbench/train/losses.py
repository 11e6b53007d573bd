"""The pix2pix objectives: the adversarial loss (vanilla or least squares) and λ·L1."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from p2pbench.errors import InvalidValueError


def gan_loss(logits: torch.Tensor, real: bool, mode: str) -> torch.Tensor:
    """Loss of discriminator outputs against the label real/fake, averaged over patches.

    vanilla: binary cross-entropy on logits (non-saturating when the generator uses real=True);
    lsgan: mean squared error to 1 (real) or 0 (fake).
    """
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, target)
    if mode == "lsgan":
        return F.mse_loss(logits, target)
    raise InvalidValueError(f"unknown GAN mode {mode!r}; valid: vanilla, lsgan")


def l1_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per pixel and channel."""
    return (output - target).abs().mean()
