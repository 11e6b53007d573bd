"""Finding and safely reading the InceptionV3 (TF 2015-12-05) weights behind FID, IS and KID.

Lookup order: an explicit path (``--inception-weights``), ``$P2PBENCH_INCEPTION_WEIGHTS``, then
the torch hub cache ``$TORCH_HOME/hub/checkpoints/`` (default ``~/.cache/torch/hub/...``) under
torch-fidelity's and pytorch-fid's file names; both files hold the same 566-key state_dict.
Nothing is downloaded. A file named like ``*inception-2015-12-05-<hex>.pth`` carries the start
of its sha256 (torch hub's convention), checked before anything reads it. Every file is read
with ``torch.load(weights_only=True)``: tensors and plain containers only, never pickled code.
"""

from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from p2pbench.base import sha256_file
from p2pbench.errors import BadInputError

OFFICIAL_SHA256_PREFIX = "6726825d"
TORCH_FIDELITY_NAME = "weights-inception-2015-12-05-6726825d.pth"
PYTORCH_FID_NAME = "pt_inception-2015-12-05-6726825d.pth"
OFFICIAL_NAMES = (TORCH_FIDELITY_NAME, PYTORCH_FID_NAME)
OFFICIAL_URLS = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + TORCH_FIDELITY_NAME,
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + PYTORCH_FID_NAME,
)
ENV_WEIGHTS = "P2PBENCH_INCEPTION_WEIGHTS"
NUM_KEYS = 566
HASHED_NAME = re.compile(r"inception-2015-12-05-([0-9a-f]{8,64})\.pth$")


class InceptionWeightsError(BadInputError, RuntimeError):
    """The InceptionV3 weights cannot be used; the message says why and how to fix it."""


class InceptionWeightsNotFound(InceptionWeightsError, FileNotFoundError):
    """No weights where p2pbench looks; the message lists every place and where to get them."""


class InceptionChecksumError(InceptionWeightsError):
    """A file's sha256 does not start with the hash its name carries."""


class UnsafeWeightsError(InceptionWeightsError):
    """A file holds pickled objects beyond tensors; it is refused, not unpickled."""


@dataclass(frozen=True)
class InceptionWeights:
    """A verified state_dict and where it came from."""

    path: Path
    sha256: str
    found_by: str  # "argument", "$P2PBENCH_INCEPTION_WEIGHTS" or "torch hub cache"
    state_dict: dict[str, Tensor] = field(repr=False)

    @property
    def official(self) -> bool:
        return self.sha256.startswith(OFFICIAL_SHA256_PREFIX)

    def provenance(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "found_by": self.found_by,
            "official": self.official,
        }


def hub_checkpoints_dir() -> Path:
    """Where torch hub (and torch-fidelity, pytorch-fid, torchmetrics) keep downloaded weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_inception_weights(path: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """(file, how it was found) by the lookup order above; `InceptionWeightsNotFound` if none."""
    if path is not None:
        if Path(path).is_file():
            return Path(path), "argument"
        raise InceptionWeightsNotFound(_not_found([f"--inception-weights {path}: not a file"]))
    if env := os.environ.get(ENV_WEIGHTS):
        if Path(env).is_file():
            return Path(env), f"${ENV_WEIGHTS}"
        raise InceptionWeightsNotFound(_not_found([f"${ENV_WEIGHTS}={env}: not a file"]))
    looked = ["--inception-weights: not given", f"${ENV_WEIGHTS}: not set"]
    hub = hub_checkpoints_dir()
    for name in OFFICIAL_NAMES:
        if (hub / name).is_file():
            return hub / name, "torch hub cache"
        looked.append(f"{hub / name}: not found")
    raise InceptionWeightsNotFound(_not_found(looked))


def _not_found(looked: list[str]) -> str:
    return (
        "FID, IS and KID need the TF 2015-12-05 InceptionV3 weights ("
        + " or ".join(OFFICIAL_NAMES)
        + "). Looked in:\n"
        + "".join(f"  - {line}\n" for line in looked)
        + "Download either file (no other is accepted as official):\n  "
        + "\n  ".join(OFFICIAL_URLS)
        + f"\ninto {hub_checkpoints_dir()}/, or pass --inception-weights PATH, or set "
        f"${ENV_WEIGHTS}."
    )


def verify_name_hash(path: Path, sha256: str) -> None:
    """Check the hash a `*inception-2015-12-05-<hex>.pth` name carries against the bytes."""
    if (m := HASHED_NAME.search(path.name)) and not sha256.startswith(m.group(1)):
        raise InceptionChecksumError(
            f"{path}: its name says sha256 {m.group(1)}..., its bytes hash to {sha256}. The file "
            f"is truncated, corrupt or not the weights its name claims; download it again from "
            f"{OFFICIAL_URLS[0]}. To use other weights on purpose, rename the file so that it "
            f"carries no hash (e.g. inception-custom.pth) and pass it with --inception-weights."
        )


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """Load with ``weights_only=True`` and check it is a flat 566-entry name → tensor dict."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UnsafeWeightsError(
            f"{path} holds pickled Python objects, not only tensors (torch.load with "
            f"weights_only=True refused it: {first}). p2pbench never unpickles code from a "
            f"weights file; save a plain state_dict instead: torch.save(model.state_dict(), path)"
        ) from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise InceptionWeightsError(f"{path} is not a readable torch file: {e}") from e
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in data.items()
    ):
        raise InceptionWeightsError(
            f"{path}: expected a flat state_dict (parameter name → tensor), found "
            f"{type(data).__name__}; save the network with torch.save(model.state_dict(), path)"
        )
    if len(data) != NUM_KEYS:
        raise InceptionWeightsError(
            f"{path}: expected the {NUM_KEYS} state_dict entries of the FID InceptionV3 "
            f"(torch-fidelity / pytorch-fid layout), found {len(data)}"
        )
    return data


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(path)
    return _SHA_CACHE[key]


def load_inception_weights(path: str | os.PathLike[str] | None = None) -> InceptionWeights:
    """Find, hash-check and safely read the weights (see the module docstring for the order)."""
    found, how = find_inception_weights(path)
    sha = _sha256(found)
    verify_name_hash(found, sha)
    return InceptionWeights(found, sha, how, read_state_dict(found))
