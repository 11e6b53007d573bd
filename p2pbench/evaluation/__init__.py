"""Evaluation: what to score (`spec`), where images come from (`sources`), the metric groups
(`evaluators`), the loop that feeds them (`loop.evaluate`), and `generate`."""

from p2pbench.evaluation.generate import generate
from p2pbench.evaluation.loop import evaluate
from p2pbench.evaluation.sources import (
    GeneratorFile,
    GeneratorModule,
    ImageFolder,
    MissingImagesError,
    RealImages,
    Source,
)
from p2pbench.evaluation.spec import EncoderSpec, RunSpec, ScoreSpec

__all__ = [
    "EncoderSpec",
    "GeneratorFile",
    "GeneratorModule",
    "ImageFolder",
    "MissingImagesError",
    "RealImages",
    "RunSpec",
    "ScoreSpec",
    "Source",
    "evaluate",
    "generate",
]
