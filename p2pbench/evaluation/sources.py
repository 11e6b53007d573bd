"""Where the scored images come from, as a typed union, and the streams that produce them.

Sources (what a user names): `GeneratorFile` (a p2pbench or PyTorch-port checkpoint),
`GeneratorModule` (an `nn.Module` in memory), `ImageFolder` (PNGs written elsewhere, with
their naming rule) and `RealImages` (the real photos: the paper's Ground-truth row).

`open_source` turns one into an `ImageStream` that maps a batch of samples to uint8
N×3×H×W RGB at the protocol's image size, with the single rounding rule of
`p2pbench.data.quantize_uint8`: a generator scored in memory and its outputs written by
`p2pbench generate` and read back score identically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from typing import Protocol as TypingProtocol

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import nn

from p2pbench.compute import to_memory_format
from p2pbench.data import Batch, PairedDataset, quantize_uint8
from p2pbench.distributed import warn
from p2pbench.errors import (
    BadInputError,
    FileAccessError,
    InvalidTypeError,
    InvalidValueError,
    PathNotFoundError,
)
from p2pbench.protocols import Protocol
from reference_models import TEST_TIME_MODES, generator_size, read_generator, translate
from reference_models.layers import BatchNorm2d, SampleDropout

NAMINGS = ("auto", "sample-id", "original", "port")


class MissingImagesError(BadInputError, FileNotFoundError):
    """The image folder does not hold exactly the expected images; the message lists them."""


@dataclass(frozen=True)
class GeneratorFile:
    """A generator checkpoint: p2pbench's own, or the PyTorch port's `*_net_G.pth`."""

    path: str
    dropout: bool | None = None  # port U-Net files do not record it: default on (recorded)


@dataclass(frozen=True, eq=False)
class GeneratorModule:
    """A generator in memory (mid-training, in a notebook). Its state_dict hash is recorded;
    its training flag, device and the global RNG state are restored after scoring.

    `paper` test-time mode needs p2pbench's layers (per-sample batch norm and seeded dropout);
    a module built otherwise is scored in `eval` mode, which is then recorded in the protocol.
    """

    module: nn.Module
    name: str = "module"
    test_time_mode: str | None = None  # None: the protocol's


@dataclass(frozen=True)
class ImageFolder:
    """PNG images written elsewhere, one per sample (see `image_names` for the namings)."""

    path: str
    naming: str = "auto"

    def __post_init__(self) -> None:
        if self.naming not in NAMINGS:
            raise InvalidValueError(f"unknown naming {self.naming!r}; valid: {', '.join(NAMINGS)}")


@dataclass(frozen=True)
class RealImages:
    """The real target photos through the same pipeline: the Ground-truth row."""


Source = GeneratorFile | GeneratorModule | ImageFolder | RealImages


def as_source(value: Source | nn.Module | str | os.PathLike[str] | None) -> Source:
    """A source from what a user hands over: a source, a module, a checkpoint file or an image
    folder (by what exists on disk), or None for the real images."""
    if isinstance(value, (GeneratorFile, GeneratorModule, ImageFolder, RealImages)):
        return value
    if value is None:
        return RealImages()
    if isinstance(value, nn.Module):
        return GeneratorModule(value)
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        if path.is_dir():
            return ImageFolder(str(path))
        if path.is_file():
            return GeneratorFile(str(path))
        raise PathNotFoundError(f"{path} is neither a generator checkpoint nor a folder of images")
    raise InvalidTypeError(
        f"cannot score a {type(value).__name__}: give a checkpoint path, an image folder, an "
        "nn.Module, or a p2pbench.evaluation source"
    )


class ImageStream(TypingProtocol):
    """An opened source: uint8 images per batch, what it is, and what it lacks."""

    missing: list[str]

    def images(self, batch: Batch) -> torch.Tensor: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def source_kind(source: Source) -> str:
    """`generator`, `images` or `real`: what the result's `source.kind` says."""
    if isinstance(source, (GeneratorFile, GeneratorModule)):
        return "generator"
    return "images" if isinstance(source, ImageFolder) else "real"


def test_time_mode(source: Source, protocol: Protocol) -> str:
    """The mode a source's generator runs in: the protocol's unless a module asks otherwise."""
    if isinstance(source, GeneratorModule) and source.test_time_mode is not None:
        if source.test_time_mode not in TEST_TIME_MODES:
            raise InvalidValueError(
                f"unknown test-time mode {source.test_time_mode!r}; valid: "
                f"{', '.join(TEST_TIME_MODES)}"
            )
        return source.test_time_mode
    return protocol.test_time_mode


def protocol_for(source: Source, protocol: Protocol) -> Protocol:
    """`protocol`, with the test-time mode a module asks for (recorded: its digest changes)."""
    mode = test_time_mode(source, protocol)
    if mode == protocol.test_time_mode:
        return protocol
    return dataclasses.replace(protocol, test_time_mode=mode)


def open_source(
    source: Source,
    protocol: Protocol,
    dataset: PairedDataset,
    ids: Sequence[str],
    *,
    seed: int,
    device: torch.device,
    allow_missing: bool = False,
    channels_last: bool = False,
) -> ImageStream:
    """The stream of `source` on `ids`; an image folder is checked up front (`missing`).
    A generator runs on channels-last inputs with `channels_last` (the same numbers)."""
    if isinstance(source, RealImages):
        return RealPhotos(protocol.real_resize)
    if isinstance(source, ImageFolder):
        folder = Path(source.path)
        naming = detect_naming(protocol, folder) if source.naming == "auto" else source.naming
        names = image_names(protocol, dataset, ids, naming)
        every = image_names(protocol, dataset, list(dataset.sample_ids), naming)
        unscored = frozenset(every.values()) - frozenset(names.values())
        stream = FolderImages(folder, names, protocol.image_size, naming, source.path, [], unscored)
        stream.check(allow_missing)
        return stream
    if isinstance(source, GeneratorFile):
        loaded = read_generator(source.path, dropout=source.dropout)
        _check_size(loaded.name, protocol, source.path)
        description = {
            "kind": "generator",
            "name": loaded.name,
            "format": loaded.source_format,
            "sha256": loaded.sha256,
            "config": asdict(loaded.config),
            "notes": list(loaded.notes),
            "test_time_mode": protocol.test_time_mode,
            **({"run": loaded.run, "step": loaded.step} if loaded.run else {}),
            "path": source.path,
        }
        return GeneratedImages(
            loaded.module, protocol.test_time_mode, seed, device, description, channels_last
        )
    if isinstance(source, GeneratorModule):
        mode = test_time_mode(source, protocol)
        if mode == "paper":
            require_paper_layers(source.module)
        description = {
            "kind": "generator",
            "name": source.name,
            "format": "module",
            "sha256": state_dict_sha256(source.module),
            "class": type(source.module).__qualname__,
            "test_time_mode": mode,
        }
        return GeneratedImages(source.module, mode, seed, device, description, channels_last)
    raise InvalidTypeError(f"unknown source {source!r}")


def _check_size(name: str, protocol: Protocol, path: str) -> None:
    size = generator_size(name)
    if name.startswith(("unet", "encdec")) and size != protocol.image_size:
        raise InvalidValueError(
            f"{path} holds {name}, built for {size}×{size} images, but protocol "
            f"{protocol.key} feeds {protocol.image_size}×{protocol.image_size}"
        )


def require_paper_layers(module: nn.Module) -> None:
    """Refuse `paper` mode for a module whose batch norm or dropout is not p2pbench's own:
    per-sample statistics and dropout seeded per sample id need p2pbench's layers."""
    foreign = [
        f"{name or '<root>'} ({type(m).__name__})"
        for name, m in module.named_modules()
        if (isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, BatchNorm2d))
        or (isinstance(m, nn.modules.dropout._DropoutNd) and not isinstance(m, SampleDropout))
    ]
    if foreign:
        raise InvalidValueError(
            "paper test-time mode (per-sample batch norm, dropout seeded per sample id) needs "
            "p2pbench's layers (reference_models.layers), and this module has "
            f"{len(foreign)} other(s): {', '.join(foreign[:5])}. Build it with "
            "reference_models.build_generator, or score it with test_time_mode='eval' "
            "(recorded in the result's protocol)"
        )


def state_dict_sha256(module: nn.Module) -> str:
    """sha256 over the module's state_dict: names, dtypes, shapes and bytes, in key order."""
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


@dataclass
class GeneratedImages:
    """Outputs of a generator in a test-time mode, dropout seeded per (seed, sample id)."""

    module: nn.Module
    mode: str
    seed: int
    device: torch.device
    description: dict[str, Any]
    channels_last: bool = False
    missing: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        first = next(self.module.parameters(), None)
        self._home = first.device if first is not None else None
        self.module.to(self.device)

    def images(self, batch: Batch) -> torch.Tensor:
        out = translate(
            self.module,
            to_memory_format(batch.input.to(self.device), self.channels_last),
            mode=self.mode,
            sample_ids=batch.sample_ids,
            seed=self.seed,
        )
        finite = torch.isfinite(out).flatten(1).all(1)
        if not bool(finite.all()):
            bad = [sid for sid, ok in zip(batch.sample_ids, finite.tolist(), strict=True) if not ok]
            raise InvalidValueError(
                f"the generator produced NaN or infinite values for sample(s) {', '.join(bad)}; "
                "its weights are likely broken (a diverged run?): score an earlier checkpoint"
            )
        return quantize_uint8(out).cpu()

    def describe(self) -> dict[str, Any]:
        return dict(self.description)

    def close(self) -> None:
        if self._home is not None:
            self.module.to(self._home)


@dataclass
class RealPhotos:
    """The real target photos."""

    resize: str
    missing: list[str] = field(default_factory=list)

    def images(self, batch: Batch) -> torch.Tensor:
        return quantize_uint8(batch.target)

    def describe(self) -> dict[str, Any]:
        return {"kind": "real", "resize": self.resize}

    def close(self) -> None:
        pass


@dataclass
class FolderImages:
    """PNG images generated elsewhere, one per sample, named by `names[sample_id]`."""

    folder: Path
    names: dict[str, str]
    size: int
    naming: str
    path_text: str  # the folder as the user gave it (recorded)
    missing: list[str] = field(default_factory=list)
    unscored: frozenset[str] = frozenset()  # names of the split's samples left out by --limit

    def check(self, allow_missing: bool) -> list[str]:
        """Check every expected image up front; records the ids missing (allowed) or raises."""
        if not self.folder.is_dir():
            raise MissingImagesError(f"image folder not found: {self.folder}")
        present = {p.name for p in self.folder.iterdir() if p.suffix.lower() == ".png"}
        if self.naming == "port":  # the port also writes <n>_real_A.png and <n>_real_B.png
            present = {name for name in present if name.endswith("_fake_B.png")}
        expected = set(self.names.values())
        missing_ids = [i for i, name in self.names.items() if name not in present]
        extra = sorted(present - expected - self.unscored)  # the limit's others are expected
        problems = []
        for name in self.names.values():
            if name in present:
                problem = _check_png(self.folder / name, self.size)
                if problem:
                    problems.append(f"{name}: {problem}")
        if problems:
            raise MissingImagesError(
                f"{len(problems)} unreadable or wrongly sized image(s) in {self.folder} "
                f"(expected {self.size}×{self.size} RGB PNGs): {_listing(problems)}"
            )
        if missing_ids or extra:
            message = (
                f"expected {len(self.names)} images named like {next(iter(expected))} "
                f"({self.naming} naming) in {self.folder}; "
                f"missing {len(missing_ids)}: {_listing([self.names[i] for i in missing_ids])}; "
                f"unexpected {len(extra)}: {_listing(extra)}"
            )
            if self.naming == "port" and len(present & expected) == 50:
                message += (
                    " (the PyTorch port's test script writes 50 images unless given --num_test 500)"
                )
            if not allow_missing:
                raise MissingImagesError(f"{message}. {self._remedy(bool(missing_ids), extra)}")
            warn(
                f"{message}; scoring the {len(self.names) - len(missing_ids)} "
                "present (--allow-missing, recorded)"
            )
        self.missing = missing_ids
        return missing_ids

    def _remedy(self, missing: bool, extra: list[str]) -> str:
        """What to do about missing or unexpected images, given whether a limit was applied."""
        steps = []
        if extra:
            steps.append(
                "The unexpected files are not images of this split's samples under this naming: "
                "move them out of the folder, or choose the naming that fits (--naming)."
            )
        if missing and self.unscored:
            n = len(self.names)
            steps.append(
                f"--limit {n} scores the first {n} samples of the split, and the missing ones are "
                f"among them: generate them (e.g. `p2pbench generate --limit {n}`), or pass "
                "--allow-missing to score what is there (recorded in the result)."
            )
        elif missing:
            steps.append(
                "Generate all of them (e.g. `p2pbench generate`), or pass --limit N to score the "
                "first N, or --allow-missing to score what is there (recorded in the result)."
            )
        return " ".join(steps)

    def images(self, batch: Batch) -> torch.Tensor:
        arrays = []
        for sid in batch.sample_ids:
            path = self.folder / self.names[sid]
            try:
                with Image.open(path) as im:
                    arrays.append(np.asarray(im, dtype=np.uint8))
            except (OSError, Image.DecompressionBombError) as e:
                raise FileAccessError(f"cannot read image {path}: {e}") from e
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()

    def describe(self) -> dict[str, Any]:
        return {"kind": "images", "path": self.path_text, "naming": self.naming}

    def close(self) -> None:
        pass


def image_names(
    protocol: Protocol, dataset: PairedDataset, ids: Sequence[str], naming: str
) -> dict[str, str]:
    """File name of each sample's generated image under a naming scheme.

    sample-id: `<id>.png` (synthcity, and what `p2pbench generate` writes elsewhere);
    original: `<city>_<seq>_<frame>_leftImg8bit.png`, what the pix2pix FCN-score script reads;
    port: `<n>_fake_B.png`, the PyTorch port's test output, n = the frame's index in
    `sorted(glob(gtFine/<split>/*/*_color.png))`.
    """
    if naming == "sample-id":
        return {sid: f"{sid}.png" for sid in ids}
    if protocol.dataset != "cityscapes":
        raise InvalidValueError(
            f"naming {naming!r} applies to Cityscapes; {protocol.dataset} images "
            "are named <sample id>.png"
        )
    if naming == "original":
        return {sid: f"{sid}_leftImg8bit.png" for sid in ids}
    if naming == "port":
        index = dataset.frame_index  # type: ignore[attr-defined]
        return {sid: f"{index[sid]}_fake_B.png" for sid in ids}
    raise InvalidValueError(f"unknown naming {naming!r}; valid: {', '.join(NAMINGS)}")


def detect_naming(protocol: Protocol, folder: Path) -> str:
    """The naming of an image folder: the port's `*_fake_B.png`, else the original script's."""
    if protocol.dataset != "cityscapes":
        return "sample-id"
    if folder.is_dir() and any(folder.glob("*_fake_B.png")):
        return "port"
    return "original"


def _check_png(path: Path, size: int) -> str | None:
    try:
        with Image.open(path) as im:
            if im.format != "PNG":
                return f"{im.format} file, expected PNG (JPEG shifts the numbers)"
            if im.size != (size, size):
                return f"{im.size[0]}×{im.size[1]} px"
            if im.mode != "RGB":
                return f"mode {im.mode}, expected RGB"
            im.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        return f"unreadable ({e})"
    return None


def _listing(items: list[str], limit: int = 10) -> str:
    if not items:
        return "none"
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")
