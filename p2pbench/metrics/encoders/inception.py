"""InceptionV3's pool3 features as a `FeatureEncoder` (FID's network, its modes, its weights)."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

from p2pbench.metrics.encoders.registry import EncoderInfo, describe_encoder
from p2pbench.metrics.encoders.weights import EncoderWeightsError
from p2pbench.metrics.inception import InceptionExtractor
from p2pbench.metrics.inception_weights import InceptionWeightsError, load_inception_weights


class InceptionEncoder:
    """pool3 (2048-d) of the FID InceptionV3, in float64."""

    def __init__(self, info: EncoderInfo, extractor: InceptionExtractor) -> None:
        self.info, self.extractor, self.mode = info, extractor, extractor.mode

    def __call__(self, images: Tensor) -> Tensor:
        return self.extractor(images).pool3

    def describe(self) -> dict[str, Any]:
        return describe_encoder(self, self.extractor.weights)


def build(
    info: EncoderInfo,
    mode: str,
    weights: str | os.PathLike[str] | None,
    device: torch.device,
    *,
    channels_last: bool = False,
) -> InceptionEncoder:
    try:
        loaded = load_inception_weights(weights)
    except InceptionWeightsError as e:
        raise EncoderWeightsError(str(e)) from None
    return InceptionEncoder(
        info, InceptionExtractor(loaded, mode, device, channels_last=channels_last)
    )
