"""What every result and checkpoint records about where it came from."""

from __future__ import annotations

import platform
import sys

import numpy as np
import PIL
import torch

import p2pbench


def package_versions() -> dict[str, str]:
    """Versions of p2pbench, Python and the libraries that change numbers."""
    versions = {
        "p2pbench": p2pbench.__version__,
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "pillow": PIL.__version__,
    }
    for name in ("torchvision", "torchmetrics", "torch_fidelity"):
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except ImportError:
                continue
        versions[name] = str(getattr(module, "__version__", "unknown"))
    return versions
