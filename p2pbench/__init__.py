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
from typing import TYPE_CHECKING, Any

from p2pbench._version import __version__

if TYPE_CHECKING:  # the real types for type checkers; at run time `__getattr__` imports them
    from p2pbench.evaluation.generate import generate as generate
    from p2pbench.evaluation.loop import evaluate as evaluate
    from p2pbench.evaluation.sources import GeneratorFile as GeneratorFile
    from p2pbench.evaluation.sources import GeneratorModule as GeneratorModule
    from p2pbench.evaluation.sources import ImageFolder as ImageFolder
    from p2pbench.evaluation.sources import RealImages as RealImages
    from p2pbench.evaluation.spec import EncoderSpec as EncoderSpec
    from p2pbench.evaluation.spec import RunSpec as RunSpec
    from p2pbench.evaluation.spec import ScoreSpec as ScoreSpec
    from p2pbench.protocols import Protocol as Protocol
    from p2pbench.protocols import get_protocol as get_protocol
    from p2pbench.protocols import resolve as resolve_protocol
    from p2pbench.results import Result as Result
    from p2pbench.results import read_result as read_result

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
# written out (not `[*_EXPORTS]`) so that linters and type checkers read it; a test compares them
__all__ = [
    "__version__",
    "evaluate",
    "generate",
    "ScoreSpec",
    "RunSpec",
    "EncoderSpec",
    "GeneratorFile",
    "GeneratorModule",
    "ImageFolder",
    "RealImages",
    "Result",
    "read_result",
    "Protocol",
    "get_protocol",
    "resolve_protocol",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'p2pbench' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
