"""Finding and safely reading an encoder's weights (InceptionV3's included): nothing is
downloaded, nothing unpickled.

Lookup order, for an encoder whose `WeightsSpec` names them:

1. an explicit path (``--encoder-weights NAME=PATH``, InceptionV3's ``--inception-weights``, or
   `path=` in the API);
2. the environment variable of the spec (e.g. ``$P2PBENCH_DINOV2_VITL14_WEIGHTS``);
3. the torch hub cache ``$TORCH_HOME/hub/checkpoints/<file>`` under the names the reference
   code downloads to;
4. the Hugging Face cache ``$HF_HOME/hub/models--<org>--<name>/snapshots/*/<file>``.

``.safetensors`` files are read with safetensors; ``.pth``/``.pt``/``.bin`` files with
``torch.load(weights_only=True)`` (tensors and plain containers only). A file whose name carries
the start of its sha256 (torch hub's ``name-<hex>.pth`` convention) is checked against it, and
a spec's published sha256 (or, for InceptionV3, its published prefix), where one is known,
against the whole file, before anything is read. Every failure is an `EncoderWeightsError`
(a `p2pbench.errors.BadInputError`) whose message says where p2pbench looked and where to get
the file.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from p2pbench.base import load_tensors, sha256_file
from p2pbench.errors import BadInputError
from p2pbench.weights.caches import hf_repo_dir, hf_snapshot_file, hub_checkpoints_dir
from p2pbench.weights.catalog import WeightFile, weights_dir
from p2pbench.weights.store import read_pins

HASHED_NAME = re.compile(r"-([0-9a-f]{8,64})\.(pth|pt)$")


class EncoderWeightsError(BadInputError, RuntimeError):
    """An encoder's weights cannot be used; the message says why and how to fix it."""


class EncoderWeightsNotFound(EncoderWeightsError, FileNotFoundError):
    """No weights where p2pbench looks; the message lists every place and where to get them."""


class WeightsChecksumError(EncoderWeightsError):
    """A file's sha256 is not the one its name carries (or the published one)."""


class UnsafeWeightsError(EncoderWeightsError):
    """A file holds pickled objects beyond tensors; it is refused, not unpickled."""


@dataclass(frozen=True)
class WeightsSpec:
    """Where an encoder's official weights live and how they are recognised."""

    env: str  # environment variable holding a path
    hub_files: tuple[str, ...] = ()  # names in $TORCH_HOME/hub/checkpoints
    hf_repo: str | None = None  # "openai/clip-vit-large-patch14-336"
    hf_files: tuple[str, ...] = ()  # names inside the Hugging Face snapshot
    urls: tuple[str, ...] = ()  # where the user downloads them (shown, never fetched)
    sha256: tuple[str, ...] = ()  # published full hashes, where known
    sha256_prefix: str | None = None  # a published start of the hash, where only that is known
    option: str | None = None  # the command-line option taking a path; None: --encoder-weights
    needs: str | None = None  # what needs which weights (the not-found message's first words)
    flat: bool = False  # the file is the state dict itself, not {"state_dict": ...}
    filename: str | None = None  # its name under $P2PBENCH_HOME/weights (`p2pbench weights fetch`)
    fetch_name: str | None = None  # its name in the weights catalog

    @classmethod
    def of(cls, file: WeightFile, **options: Any) -> WeightsSpec:
        """The look-up spec of a catalog entry (`p2pbench.weights.catalog`), whose names, URLs
        and hashes it takes; `options` are the encoder's own (option, needs, flat)."""
        if file.env is None:
            raise ValueError(f"weight file {file.name} has no environment variable")
        return cls(
            env=file.env,
            hub_files=file.hub_files,
            hf_repo=file.hf_repo,
            hf_files=file.hf_files,
            urls=file.urls,
            sha256=(file.sha256,) if file.sha256 else (),
            sha256_prefix=file.sha256_prefix,
            filename=file.filename,
            fetch_name=file.name,
            **options,
        )

    def official(self, sha256: str) -> bool | None:
        """Whether a file of this hash is the published one; None: no hash is published."""
        if self.sha256:
            return sha256 in self.sha256
        if self.sha256_prefix is not None:
            return sha256.startswith(self.sha256_prefix)
        return None

    def passing(self, name: str, path: str = "PATH") -> str:
        """How a user passes `path` as these weights on the command line."""
        return f"{self.option} {path}" if self.option else f"--encoder-weights {name}={path}"

    def hf_cache_dir(self) -> Path | None:
        return None if self.hf_repo is None else hf_repo_dir(self.hf_repo)


@dataclass(frozen=True)
class LoadedWeights:
    """A verified state dict and where it came from."""

    path: Path
    sha256: str
    found_by: str  # "argument", "$ENV", "torch hub cache", "Hugging Face cache"
    official: bool | None  # True/False against a published hash; None: none is known
    state_dict: dict[str, Tensor] = field(repr=False)
    pinned: bool = False  # matches the hash pinned on its first fetch (`p2pbench weights`)

    def provenance(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "found_by": self.found_by,
            "official": self.official,
            **({"hash_check": "pinned locally, not official"} if self.pinned else {}),
        }


def find_weights(
    name: str, spec: WeightsSpec, path: str | os.PathLike[str] | None = None
) -> tuple[Path, str]:
    """(file, how it was found) by the lookup order; `EncoderWeightsNotFound` if none."""
    if path is not None:
        if Path(path).expanduser().is_file():
            return Path(path).expanduser(), "argument"
        raise EncoderWeightsNotFound(
            _not_found(name, spec, [f"{spec.passing(name, str(path))}: not a file"])
        )
    if env := os.environ.get(spec.env):
        if Path(env).expanduser().is_file():
            return Path(env).expanduser(), f"${spec.env}"
        raise EncoderWeightsNotFound(_not_found(name, spec, [f"${spec.env}={env}: not a file"]))
    given = spec.option or f"--encoder-weights {name}=PATH"
    looked = [f"{given}: not given", f"${spec.env}: not set"]
    if spec.filename is not None:
        if (fetched := weights_dir() / spec.filename).is_file():
            return fetched, "p2pbench home"
        looked.append(f"{fetched}: not found")
    hub = hub_checkpoints_dir()
    for file in spec.hub_files:
        if (hub / file).is_file():
            return hub / file, "torch hub cache"
        looked.append(f"{hub / file}: not found")
    if (hf := spec.hf_cache_dir()) is not None:
        for file in spec.hf_files:
            if (found := hf_snapshot_file(hf, file)) is not None:
                return found, "Hugging Face cache"
            looked.append(f"{hf}/snapshots/*/{file}: not found")
    raise EncoderWeightsNotFound(_not_found(name, spec, looked))


def _not_found(name: str, spec: WeightsSpec, looked: list[str]) -> str:
    what = spec.needs or f"encoder {name} needs its weights"
    if spec.needs and spec.hub_files:
        what += f" ({' or '.join(spec.hub_files)})"
    get = "\n  ".join(spec.urls) or "(see the encoder's documentation)"
    how = (
        "Download either file (no other is accepted as official):"
        if len(spec.urls) > 1 and (spec.sha256 or spec.sha256_prefix)
        else "Download them from:"
    )
    cache = " (or the Hugging Face cache)" if spec.hf_repo else ""
    return (
        f"{what}. Looked in:\n"
        + "".join(f"  - {line}\n" for line in looked)
        + (f"Run `p2pbench weights fetch {spec.fetch_name}`, or d" if spec.fetch_name else "D")
        + f"{how[1:]}\n  {get}\ninto {hub_checkpoints_dir()}/{cache}, or pass "
        f"{spec.passing(name)}, or set ${spec.env}."
    )


def read_state_dict(path: Path, spec: WeightsSpec | None = None) -> dict[str, Tensor]:
    """A state dict from a safetensors or PyTorch file, never unpickling code."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as e:
            raise EncoderWeightsError(f"cannot read {path} as a safetensors file: {e}") from None
    if _is_torchscript(path):
        raise UnsafeWeightsError(
            f"{path} is a TorchScript archive (like OpenAI's ViT-L-14-336px.pt): it holds code "
            "and cannot be read safely. Use the plain weights instead (for CLIP, Hugging Face's "
            "openai/clip-vit-large-patch14-336 model.safetensors)."
        )
    data = load_tensors(path, EncoderWeightsError, unsafe_error=UnsafeWeightsError)
    flat = spec is not None and spec.flat
    if not flat and isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in data.items()
    ):
        raise EncoderWeightsError(
            f"{path}: expected a {'flat ' if flat else ''}state_dict (parameter name → tensor), "
            f"found {type(data).__name__}; save the network with "
            "torch.save(model.state_dict(), path)"
        )
    return data


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive: a zip holding compiled code (``code/``, ``constants.pkl``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    """A file's sha256, computed once per (path, size, modification time)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(path)
    return _SHA_CACHE[key]


def load_weights(
    name: str, spec: WeightsSpec, path: str | os.PathLike[str] | None = None
) -> LoadedWeights:
    """Find, hash-check and read an encoder's weights (see the module docstring)."""
    file, found_by = find_weights(name, spec, path)
    digest = _sha256(file)
    if (m := HASHED_NAME.search(file.name)) and not digest.startswith(m.group(1)):
        again = f"download it again from {spec.urls[0]}" if spec.urls else "download it again"
        raise WeightsChecksumError(
            f"{file}: its name says sha256 {m.group(1)}..., its bytes hash to {digest}. The file "
            f"is truncated, corrupt or not the weights its name claims; {again}. To use other "
            "weights on purpose, rename the file so that it carries no hash (e.g. "
            f"{name}-custom{file.suffix}) and pass it with {spec.passing(name)}."
        )
    official = spec.official(digest)
    if official is False and found_by != "argument" and found_by != f"${spec.env}":
        raise WeightsChecksumError(
            f"{file} in the {found_by} has sha256 {digest}, not the published "
            f"{' or '.join(spec.sha256) or f'{spec.sha256_prefix}...'}: download it again"
        )
    pinned = False
    if official is None and spec.fetch_name is not None:
        pin = read_pins().get(spec.fetch_name)
        if pin is not None and found_by == "p2pbench home":
            if pin["sha256"] != digest:
                raise WeightsChecksumError(
                    f"{file} has sha256 {digest}, not the {pin['sha256']} pinned when it was "
                    f"first fetched: it changed; run `p2pbench weights fetch {spec.fetch_name}` "
                    "again after deleting it"
                )
            pinned = True
    return LoadedWeights(
        file, digest, found_by, official, read_state_dict(file, spec), pinned=pinned
    )
