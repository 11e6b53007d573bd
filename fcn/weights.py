"""Finding, converting and loading the FCN-8s weights behind FCN-score.

The pix2pix authors' Caffe weights are converted once into a safe file (a `torch.save` of plain
values and tensors, loadable with `weights_only=True`), cached by the source file's sha256:

    $P2PBENCH_HOME/fcn/<sha256 of the caffemodel>.pt
    {"format": "p2pbench-fcn8s-weights", "version": 1, "architecture": {...FCN8sArch...},
     "source": {"file_name", "bytes", "sha256", "net_name", "layer_format", "official"},
     "state_dict": {...}}

P2PBENCH_HOME defaults to `$XDG_CACHE_HOME/p2pbench`, else `~/.cache/p2pbench`. The official
file's sha256 is not published, so it is recognised by its byte size and its blob shapes, and
the observed sha256 is recorded in the converted file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fcn.caffemodel import CaffeModelError, fcn8s_state_dict, read_caffemodel
from fcn.fcn8s import OFFICIAL_ARCH, FCN8s, FCN8sArch
from p2pbench.base import atomic_path, p2pbench_home, read_versioned, sha256_file
from p2pbench.errors import BadInputError, PathNotFoundError
from p2pbench.weights.catalog import builtin, weights_dir
from p2pbench.weights.store import CONVERTERS

WEIGHTS_FORMAT = "p2pbench-fcn8s-weights"
WEIGHTS_VERSION = 1
_OFFICIAL = builtin("fcn8s-cityscapes")
OFFICIAL_FILE_NAME = _OFFICIAL.filename
assert _OFFICIAL.size is not None  # the catalog knows the official file's size
OFFICIAL_BYTES: int = _OFFICIAL.size
OFFICIAL_URLS = _OFFICIAL.urls
ENV_WEIGHTS = "P2PBENCH_FCN_WEIGHTS"


class FCNWeightsNotFound(BadInputError, FileNotFoundError):
    """No FCN-8s weights where p2pbench looks; the message lists the places and the fix."""


@dataclass(frozen=True)
class ConvertedWeights:
    architecture: FCN8sArch
    state_dict: dict[str, torch.Tensor]
    source: dict[str, Any]  # provenance of the caffemodel it came from
    path: Path


def fcn_cache_dir(home: Path | None = None) -> Path:
    return (home or p2pbench_home()) / "fcn"


def convert_caffemodel(
    path: str | os.PathLike[str],
    *,
    architecture: FCN8sArch = OFFICIAL_ARCH,
    home: Path | None = None,
    check_size: bool = True,
) -> Path:
    """Convert a caffemodel once; returns the cached `<sha256>.pt` (reused if already there).

    For the official architecture the byte size must be OFFICIAL_BYTES unless `check_size` is
    False (a different FCN-8s caffemodel, e.g. re-saved); every blob shape is always checked.
    """
    src = Path(path)
    if not src.is_file():
        raise PathNotFoundError(f"caffemodel not found: {src}")
    size = src.stat().st_size
    official_size = size == OFFICIAL_BYTES
    if check_size and architecture == OFFICIAL_ARCH and not official_size:
        raise CaffeModelError(
            f"{src} has {size:,} bytes; the official {OFFICIAL_FILE_NAME} has {OFFICIAL_BYTES:,}."
            f" A smaller file is usually an interrupted download: fetch it again from "
            f"{OFFICIAL_URLS[0]}. To convert a different FCN-8s caffemodel on purpose, pass "
            f"check_size=False (`p2pbench fcn convert --any-size`); its shapes are still "
            f"checked."
        )
    sha = sha256_file(src)
    target = fcn_cache_dir(home) / f"{sha}.pt"
    if target.is_file():
        try:
            if read_converted(target, mmap=True).architecture == architecture:
                return target
        except (CaffeModelError, ValueError):
            pass  # unreadable or another architecture: convert again
    net = read_caffemodel(src)
    state = fcn8s_state_dict(net, architecture)
    payload = {
        "format": WEIGHTS_FORMAT,
        "version": WEIGHTS_VERSION,
        "architecture": architecture.as_dict(),
        "source": {
            "file_name": src.name,
            "bytes": size,
            "sha256": sha,
            "net_name": net.name,
            "layer_format": net.layer_format,
            "official": architecture == OFFICIAL_ARCH and official_size,
        },
        "state_dict": state,
    }
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)
    return target


def read_converted(path: str | os.PathLike[str], *, mmap: bool = False) -> ConvertedWeights:
    """Read a converted weights file with `weights_only=True`, checking its format marker."""
    p = Path(path)
    data = read_versioned(
        p,
        WEIGHTS_FORMAT,
        WEIGHTS_VERSION,
        CaffeModelError,
        remedy="convert a caffemodel with `p2pbench fcn convert FILE`",
        mmap=mmap,
    )
    arch = FCN8sArch.from_dict(data["architecture"])
    return ConvertedWeights(arch, data["state_dict"], data["source"], p)


def load_fcn8s(path: str | os.PathLike[str] | None = None, *, home: Path | None = None) -> FCN8s:
    """An FCN8s in eval mode with weights from `path` (.pt converted, or a .caffemodel, which
    is converted and cached first), or from `find_official_weights()` when `path` is None."""
    p = Path(path) if path is not None else find_official_weights(home)
    if p.suffix == ".caffemodel":
        p = convert_caffemodel(p, home=home)
    weights = read_converted(p)
    with torch.device("meta"):
        model = FCN8s.from_arch(weights.architecture)
    model.load_state_dict(weights.state_dict, strict=True, assign=True)
    return model.eval()


def find_official_weights(home: Path | None = None) -> Path:
    """The official FCN-8s weights: converted (.pt) or the caffemodel itself.

    Looks, in order, at `$P2PBENCH_FCN_WEIGHTS`, converted official weights in the cache
    directory, `<cache>/fcn-8s-cityscapes.caffemodel`, and `./fcn-8s-cityscapes.caffemodel`.
    """
    cache = fcn_cache_dir(home)
    if env := os.environ.get(ENV_WEIGHTS):
        if Path(env).is_file():
            return Path(env)
        raise FCNWeightsNotFound(
            f"${ENV_WEIGHTS} is set to {env}, which is not a file; point "
            f"it at a converted .pt or at {OFFICIAL_FILE_NAME}, or unset it"
        )
    looked = [f"${ENV_WEIGHTS}: not set"]
    converted = []
    for candidate in sorted(cache.glob("*.pt")) if cache.is_dir() else []:
        try:
            if read_converted(candidate, mmap=True).source.get("official"):
                converted.append(candidate)
        except (CaffeModelError, ValueError, KeyError):
            continue
    if converted:
        return max(converted, key=lambda c: c.stat().st_mtime)
    looked.append(
        f"{cache}/<sha256>.pt: no converted official weights"
        + ("" if cache.is_dir() else " (directory does not exist)")
    )
    places = [cache / OFFICIAL_FILE_NAME, Path.cwd() / OFFICIAL_FILE_NAME]
    if home is None:
        places.insert(1, weights_dir() / OFFICIAL_FILE_NAME)  # where `weights fetch` puts it
    for candidate in places:
        if candidate.is_file():
            return candidate
        looked.append(f"{candidate}: not found")
    raise FCNWeightsNotFound(
        "FCN-score needs the pix2pix authors' Cityscapes FCN-8s weights "
        f"({OFFICIAL_FILE_NAME}, {OFFICIAL_BYTES:,} bytes). Looked in:\n"
        + "".join(f"  - {line}\n" for line in looked)
        + "Download it from\n  "
        + "\n  ".join(OFFICIAL_URLS)
        + " (older address)\n"
        + f"then convert it once (no Caffe needed):\n  p2pbench fcn convert {OFFICIAL_FILE_NAME}\n"
        + "(`p2pbench weights fetch fcn8s-cityscapes --sha256 HEX` downloads and converts it)\n"
        + f"or set ${ENV_WEIGHTS} to the caffemodel or a converted .pt file."
    )


CONVERTERS.add("fcn8s-caffemodel", lambda path: convert_caffemodel(path))
"""`p2pbench weights fetch fcn8s-cityscapes` converts the caffemodel once, as `fcn convert`."""
