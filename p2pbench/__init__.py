"""p2pbench: evaluation and benchmarking for paired image-to-image translation (pix2pix).

The public API, imported on first use (PEP 562), so that importing a low layer such as
`p2pbench.base` never pulls in the evaluation package::

    import p2pbench
    result = p2pbench.evaluate("runs/a/checkpoint.pt", protocol="synthcity")
    result = p2pbench.evaluate(generator_module, protocol="synthcity")   # a module in memory
    print(result.metrics["class_iou"]); result.write("result.json")
"""

from __future__ import annotations

import importlib
from typing import Any

from p2pbench._version import __version__

_EXPORTS: dict[str, tuple[str, str]] = {
    "evaluate": ("p2pbench.evaluation.loop", "evaluate"),
    "generate": ("p2pbench.evaluation.generate", "generate"),
    "ScoreSpec": ("p2pbench.evaluation.spec", "ScoreSpec"),
    "RunSpec": ("p2pbench.evaluation.spec", "RunSpec"),
    "EncoderSpec": ("p2pbench.evaluation.spec", "EncoderSpec"),
    "GeneratorFile": ("p2pbench.evaluation.sources", "GeneratorFile"),
    "GeneratorModule": ("p2pbench.evaluation.sources", "GeneratorModule"),
    "ImageFolder": ("p2pbench.evaluation.sources", "ImageFolder"),
    "RealImages": ("p2pbench.evaluation.sources", "RealImages"),
    "Result": ("p2pbench.results", "Result"),
    "read_result": ("p2pbench.results", "read_result"),
    "Protocol": ("p2pbench.protocols", "Protocol"),
    "get_protocol": ("p2pbench.protocols", "get_protocol"),
    "resolve_protocol": ("p2pbench.protocols", "resolve"),
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'p2pbench' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
