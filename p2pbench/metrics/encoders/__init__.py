"""Feature encoders (InceptionV3, DINOv2, CLIP, VGG16) behind the feature-space metrics."""

from p2pbench.metrics.encoders.registry import (
    ENCODERS,
    EncoderInfo,
    FeatureEncoder,
    build_encoder,
    describe_encoder,
    encoder_info,
    missing_packages,
    try_build_encoder,
)
from p2pbench.metrics.encoders.weights import (
    EncoderWeightsError,
    EncoderWeightsNotFound,
    LoadedWeights,
    UnsafeWeightsError,
    WeightsChecksumError,
    WeightsSpec,
    find_weights,
    hub_checkpoints_dir,
    load_weights,
)

__all__ = [
    "ENCODERS",
    "EncoderInfo",
    "EncoderWeightsError",
    "EncoderWeightsNotFound",
    "FeatureEncoder",
    "LoadedWeights",
    "UnsafeWeightsError",
    "WeightsChecksumError",
    "WeightsSpec",
    "build_encoder",
    "describe_encoder",
    "encoder_info",
    "find_weights",
    "hub_checkpoints_dir",
    "load_weights",
    "missing_packages",
    "try_build_encoder",
]
