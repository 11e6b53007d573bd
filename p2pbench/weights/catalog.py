"""The catalog of weight files: one entry per file p2pbench can use, the only place that names
a file's name, URLs, size and hash. Users add entries (a private segmenter, an internal mirror)
with a JSON manifest named by `$P2PBENCH_WEIGHTS_MANIFEST`:

    {"weights": [{"name": "my-seg", "url": "https://...", "sha256": "<64 hex>",
                  "filename": "my-seg.pth"}]}

``filename`` is optional (default: the URL's last part); ``urls`` (a list) may replace ``url``,
and ``size``, ``used_by`` and ``licence`` may be given. Every key is checked: an unknown key, a
malformed hash, a file name with a folder in it or a duplicate name is an error naming the entry.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from p2pbench.base import p2pbench_home
from p2pbench.errors import BadInputError
from p2pbench.registry import Registry

MANIFEST_VARIABLE = "P2PBENCH_WEIGHTS_MANIFEST"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class WeightsManifestError(BadInputError, ValueError):
    """A user's weights manifest is malformed; the message names the entry and the key."""


@dataclass(frozen=True)
class WeightFile:
    """One weight file: what uses it, where it comes from and how it is recognised."""

    name: str
    used_by: str
    filename: str  # under $P2PBENCH_HOME/weights/
    urls: tuple[str, ...]
    sha256: str | None = None  # the full published hash, where one is known
    sha256_prefix: str | None = None  # the start of the hash an official file name carries
    size: int | None = None  # bytes, where known
    licence: str = ""
    env: str | None = None  # the variable that may name a local copy
    hub_files: tuple[str, ...] = ()  # names in $TORCH_HOME/hub/checkpoints (read-only)
    hf_repo: str | None = None  # Hugging Face cache (read-only)
    hf_files: tuple[str, ...] = ()
    convert: str | None = None  # what is done once after the download (the FCN conversion)
    origin: str = "built-in"  # or the manifest file that added it

    def hash_note(self) -> str:
        """How this file's bytes are checked, in words."""
        if self.sha256:
            return f"sha256 {self.sha256}"
        if self.sha256_prefix:
            return f"sha256 {self.sha256_prefix}... (only this prefix is published)"
        return "no official hash published"


def weights_dir() -> Path:
    """Where `p2pbench weights fetch` places files: `$P2PBENCH_HOME/weights`."""
    return p2pbench_home() / "weights"


_TV = "https://download.pytorch.org/models/"
_DINOV2 = "https://dl.fbaipublicfiles.com/dinov2/"
_HF = "https://huggingface.co/"

BUILTIN: tuple[WeightFile, ...] = (
    WeightFile(
        name="inception-v3-fid",
        used_by="FID, IS, KID (encoder inception-v3)",
        filename="weights-inception-2015-12-05-6726825d.pth",
        # torch-fidelity's and pytorch-fid's copies: both hold the same 566-key state dict
        urls=(
            "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
            "weights-inception-2015-12-05-6726825d.pth",
            "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
            "pt_inception-2015-12-05-6726825d.pth",
        ),
        sha256_prefix="6726825d",
        licence="Apache-2.0 (TensorFlow's 2015-12-05 InceptionV3, converted to PyTorch)",
        env="P2PBENCH_INCEPTION_WEIGHTS",
        hub_files=(
            "weights-inception-2015-12-05-6726825d.pth",
            "pt_inception-2015-12-05-6726825d.pth",
        ),
    ),
    *(
        WeightFile(
            name=f"dinov2-vit{size}14",
            used_by=f"FD_DINOv2{'' if size == 'l' else ' with --dinov2 dinov2-vitb14'}, "
            f"PRDC with --prdc-encoder dinov2-vit{size}14",
            filename=f"dinov2_vit{size}14_pretrain.pth",
            urls=(f"{_DINOV2}dinov2_vit{size}14/dinov2_vit{size}14_pretrain.pth",),
            licence="Apache-2.0 (facebookresearch/dinov2)",
            env=f"P2PBENCH_DINOV2_VIT{size.upper()}14_WEIGHTS",
            hub_files=(f"dinov2_vit{size}14_pretrain.pth",),
        )
        for size in ("l", "b")
    ),
    WeightFile(
        name="clip-vitl14-336",
        used_by="CMMD (encoder clip-vitl14-336)",
        filename="clip-vit-large-patch14-336.safetensors",
        urls=(f"{_HF}openai/clip-vit-large-patch14-336/resolve/main/model.safetensors",),
        licence="MIT (openai/CLIP)",
        env="P2PBENCH_CLIP_VITL14_336_WEIGHTS",
        hf_repo="openai/clip-vit-large-patch14-336",
        hf_files=("model.safetensors", "pytorch_model.bin"),
    ),
    WeightFile(
        name="vgg16",
        used_by="precision/recall/density/coverage (encoder vgg16-fc2); LPIPS with net vgg",
        filename="vgg16-397923af.pth",
        urls=(f"{_TV}vgg16-397923af.pth",),
        sha256_prefix="397923af",
        licence="BSD-3-Clause (torchvision)",
        env="P2PBENCH_VGG16_WEIGHTS",
        hub_files=("vgg16-397923af.pth",),
    ),
    WeightFile(
        name="alexnet",
        used_by="LPIPS (net alex, the default)",
        filename="alexnet-owt-7be5be79.pth",
        urls=(f"{_TV}alexnet-owt-7be5be79.pth",),
        sha256_prefix="7be5be79",
        licence="BSD-3-Clause (torchvision)",
        hub_files=("alexnet-owt-7be5be79.pth",),
    ),
    WeightFile(
        name="squeezenet1_1",
        used_by="LPIPS (net squeeze)",
        filename="squeezenet1_1-b8a52dc0.pth",
        urls=(f"{_TV}squeezenet1_1-b8a52dc0.pth",),
        sha256_prefix="b8a52dc0",
        licence="BSD-3-Clause (torchvision)",
        hub_files=("squeezenet1_1-b8a52dc0.pth",),
    ),
    WeightFile(
        name="fcn8s-cityscapes",
        used_by="FCN-score (per-pixel accuracy, per-class accuracy, class IoU)",
        filename="fcn-8s-cityscapes.caffemodel",
        urls=(
            "http://efrosgans.eecs.berkeley.edu/pix2pix_extra/fcn-8s-cityscapes.caffemodel",
            "http://people.eecs.berkeley.edu/~tinghuiz/projects/pix2pix/fcn-8s-cityscapes/"
            "fcn-8s-cityscapes.caffemodel",
        ),
        size=537_896_724,
        licence="BSD (the pix2pix authors' Caffe model)",
        env="P2PBENCH_FCN_WEIGHTS",
        convert="fcn8s-caffemodel",
    ),
)


def _builtin_registry() -> Registry[WeightFile]:
    registry: Registry[WeightFile] = Registry("weight file")
    for entry in BUILTIN:
        registry.add(entry.name, entry)
    return registry


BUILTIN_WEIGHTS = _builtin_registry()


def builtin(name: str) -> WeightFile:
    """A built-in entry by name (an unknown name lists the valid ones)."""
    return BUILTIN_WEIGHTS.get(name)


def catalog() -> dict[str, WeightFile]:
    """Every entry: the built-in ones, then those of `$P2PBENCH_WEIGHTS_MANIFEST` if set."""
    entries = {e.name: e for e in BUILTIN}
    if manifest := os.environ.get(MANIFEST_VARIABLE):
        for entry in read_manifest(manifest):
            entries[entry.name] = entry
    return entries


_KEYS = {"name", "url", "urls", "sha256", "filename", "size", "used_by", "licence"}


def read_manifest(path: str | os.PathLike[str]) -> list[WeightFile]:
    """The entries of a user's weights manifest, each key validated (see the module docstring)."""
    p = Path(path).expanduser()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsManifestError(
            f"${MANIFEST_VARIABLE}={path}: no such file; fix the path or unset the variable"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsManifestError(f"{p}: not a readable JSON file ({e})") from None
    if (
        not isinstance(data, dict)
        or set(data) != {"weights"}
        or not isinstance(data["weights"], list)
    ):
        raise WeightsManifestError(
            f'{p}: expected {{"weights": [{{"name": ..., "url": ..., "sha256": ...}}, ...]}}'
        )
    entries: list[WeightFile] = []
    for i, raw in enumerate(data["weights"]):
        entries.append(_manifest_entry(p, i, raw, {e.name for e in entries}))
    return entries


def _manifest_entry(p: Path, i: int, raw: Any, seen: set[str]) -> WeightFile:
    where = f"{p}: weights[{i}]"
    if not isinstance(raw, dict):
        raise WeightsManifestError(f"{where}: expected an object, found {type(raw).__name__}")
    if unknown := sorted(set(raw) - _KEYS):
        raise WeightsManifestError(
            f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(_KEYS))}"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise WeightsManifestError(
            f"{where}: 'name' must be lower-case letters, digits, '.', '_' or '-', found {name!r}"
        )
    where = f"{p}: entry {name!r}"
    if name in BUILTIN_WEIGHTS:
        raise WeightsManifestError(
            f"{where}: a built-in weight file has this name; choose another name (to serve a "
            "built-in file from your own server, set P2PBENCH_WEIGHTS_MIRROR)"
        )
    if name in seen:
        raise WeightsManifestError(f"{where}: the name appears twice")
    if ("url" in raw) == ("urls" in raw):
        raise WeightsManifestError(f"{where}: give exactly one of 'url' or 'urls'")
    urls = [raw["url"]] if "url" in raw else raw["urls"]
    if (
        not isinstance(urls, list)
        or not urls
        or not all(
            isinstance(u, str) and u.startswith(("http://", "https://", "file://")) for u in urls
        )
    ):
        raise WeightsManifestError(
            f"{where}: each URL must be a string starting with https://, http:// or file://"
        )
    sha = raw.get("sha256")
    if not isinstance(sha, str) or not _SHA256.match(sha.lower()):
        raise WeightsManifestError(
            f"{where}: 'sha256' must be the file's full sha256 (64 hex digits), found {sha!r}"
        )
    filename = raw.get("filename", urls[0].rstrip("/").rsplit("/", 1)[-1])
    if (
        not isinstance(filename, str)
        or filename in ("", ".", "..")
        or re.search(r"[/\\]", filename)
    ):
        raise WeightsManifestError(
            f"{where}: 'filename' must be a plain file name without folders, found {filename!r}"
        )
    size = raw.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise WeightsManifestError(f"{where}: 'size' must be a positive byte count, found {size!r}")
    for key in ("used_by", "licence"):
        if not isinstance(raw.get(key, ""), str):
            raise WeightsManifestError(f"{where}: {key!r} must be a string")
    return WeightFile(
        name=name,
        used_by=raw.get("used_by", "added by the user's manifest"),
        filename=filename,
        urls=tuple(urls),
        sha256=sha.lower(),
        size=size,
        licence=raw.get("licence", ""),
        origin=str(p),
    )
