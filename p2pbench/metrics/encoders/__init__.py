"""Feature encoders (InceptionV3, DINOv2, CLIP, VGG16) behind the feature-space metrics."""

from p2pbench.metrics.encoders.registry import (
    ENCODERS,
    EncoderInfo,
    FeatureEncoder,
    build_encoder,
    describe_encoder,
    encoder_info,
    try_build_encoder,
)
from p2pbench.metrics.encoders.weights import (
    EncoderWeightsError,
    EncoderWeightsNotFound,
    LoadedWeights,
    WeightsSpec,
    load_weights,
)

__all__ = [
    "ENCODERS",
    "EncoderInfo",
    "EncoderWeightsError",
    "EncoderWeightsNotFound",
    "FeatureEncoder",
    "LoadedWeights",
    "WeightsSpec",
    "build_encoder",
    "describe_encoder",
    "encoder_info",
    "load_weights",
    "try_build_encoder",
]
