"""Building blocks shared by the generators and discriminators.

Two layers carry the paper's test-time behaviour (see `reference_models.inference`):
`BatchNorm2d` can normalise each sample on its own statistics, as batch norm does at batch
size 1 in training mode, and `SampleDropout` can draw each sample's mask from that sample's own
seeded `torch.Generator`. Both keep the state_dict layout of their `torch.nn` parents, so
checkpoints of the PyTorch pix2pix port load into them unchanged.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from p2pbench.errors import InvalidValueError

Norm = Literal["batch", "instance", "none"]
NORMS: tuple[str, ...] = ("batch", "instance", "none")


class BatchNorm2d(nn.BatchNorm2d):
    """`nn.BatchNorm2d` that can normalise every sample on its own spatial statistics.

    With `per_sample_statistics` set, each sample is normalised exactly as batch norm in training
    mode normalises a batch of one (biased variance over H×W), and the running statistics are
    neither used nor updated. A sample's output then does not depend on the batch it is in.
    """

    per_sample_statistics: bool = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_sample_statistics:
            return F.instance_norm(
                x, weight=self.weight, bias=self.bias, use_input_stats=True, eps=self.eps
            )
        return super().forward(x)


class SampleDropout(nn.Dropout):
    """`nn.Dropout` whose masks can come from one seeded generator per sample.

    When `sample_generators` is set (one `torch.Generator` per sample of the batch), dropout is
    applied whatever the module's training flag, and sample i's mask is drawn from generator i,
    so it depends only on that generator's seed and on the order of the dropout layers.
    Masks are drawn in NCHW order whatever the input's memory format.
    """

    sample_generators: list[torch.Generator] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        generators = self.sample_generators
        if generators is None:
            if self.training and x.ndim == 4 and not x.is_contiguous():
                # draw the mask in NCHW order, so a run's masks (and its numbers) do not
                # depend on the memory format the network runs in
                y = super().forward(x.contiguous())
                return y.contiguous(memory_format=torch.channels_last)
            return super().forward(x)
        if len(generators) != x.shape[0]:
            raise ValueError(
                f"SampleDropout got {len(generators)} sample generators for a batch of {x.shape[0]}"
            )
        keep = 1.0 - self.p
        masks = [
            torch.rand(x.shape[1:], generator=g, device=g.device, dtype=torch.float32)
            for g in generators
        ]
        mask = (torch.stack(masks).to(x.device) < keep).to(x.dtype)
        return x * mask / keep


def make_norm(norm: str, channels: int) -> nn.Module:
    """The normalisation layer named `norm` ("batch", "instance" or "none").

    Instance norm has no affine parameters and no running statistics, as in the PyTorch port.
    """
    if norm == "batch":
        return BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "none":
        return nn.Identity()
    raise InvalidValueError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)}")


def conv_bias(norm: str) -> bool:
    """Whether convolutions of a network with this norm carry a bias.

    Follows the PyTorch port so that its checkpoints load key for key: batch norm's shift makes
    a bias redundant, so with batch norm the port drops it on every conv it builds with this rule
    (also on the unnormalised outermost and innermost U-Net down-convs).
    """
    if norm not in NORMS:
        raise InvalidValueError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)}")
    return norm != "batch"
