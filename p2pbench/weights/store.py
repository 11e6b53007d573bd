"""Where a catalog entry's file is, whether its bytes are right, and fetching it.

A file is looked for, in order, at ``$P2PBENCH_HOME/weights/<filename>`` (where `fetch` places
it), the entry's environment variable, the torch hub cache and the Hugging Face cache; the last
three are read, never written. Its bytes are checked against the entry's published sha256, else
against the published start of it (torch hub's hash-named files), and against the full hash that
the first verified fetch recorded in ``$P2PBENCH_HOME/weights/pins.json`` ("pinned locally, not
official"). `fetch` tries `$P2PBENCH_WEIGHTS_MIRROR` (an ``https://`` base or a ``file://``
folder holding the file under its catalog file name) before the entry's own URLs.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from p2pbench.base import atomic_write_text, sha256_file
from p2pbench.errors import BadInputError
from p2pbench.registry import Registry
from p2pbench.weights.caches import hf_repo_dir, hf_snapshot_file, hub_checkpoints_dir
from p2pbench.weights.catalog import WeightFile, catalog, weights_dir
from p2pbench.weights.download import DownloadError, OfflineError, fetch_url

MIRROR_VARIABLE = "P2PBENCH_WEIGHTS_MIRROR"
PINS_FORMAT = "p2pbench-weight-pins"

CONVERTERS: Registry[Callable[[Path], Path]] = Registry("weights converter")
"""Steps run once after a fetch (`WeightFile.convert`), registered by the package that owns the
format (FCN-8s: `fcn.weights`); each takes the fetched file and returns what it made."""


class WeightsMissingError(BadInputError, FileNotFoundError):
    """A weight file is in none of the places p2pbench looks."""


@dataclass(frozen=True)
class FileState:
    """A catalog entry's file as found now."""

    entry: WeightFile
    path: Path | None  # None: missing
    found_by: str | None  # "p2pbench home", "$VAR", "torch hub cache", "Hugging Face cache"
    sha256: str | None  # None: missing, or not hashed
    check: str  # "official sha256", "official sha256 prefix", "pinned locally, not official",
    # "no hash to check", "missing", or "HASH MISMATCH: ..."

    @property
    def ok(self) -> bool:
        return self.path is not None and not self.check.startswith("HASH MISMATCH")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.entry.name,
            "used_by": self.entry.used_by,
            "path": None if self.path is None else str(self.path),
            "found_by": self.found_by,
            "sha256": self.sha256,
            "check": self.check,
            "hash": self.entry.hash_note(),
            "urls": list(self.entry.urls),
            "size": self.entry.size,
            "licence": self.entry.licence,
            "origin": self.entry.origin,
        }


def entry(name: str) -> WeightFile:
    """A catalog entry (built-in or from the user's manifest) by name."""
    entries = catalog()
    if name not in entries:
        raise WeightsMissingError(
            f"no weight file named {name!r}; `p2pbench weights list` shows them: "
            f"{', '.join(entries)}"
        )
    return entries[name]


def locate(file: WeightFile) -> tuple[Path, str] | None:
    """(path, how it was found) by the look-up order, or None."""
    own = weights_dir() / file.filename
    if own.is_file():
        return own, "p2pbench home"
    if file.env and (env := os.environ.get(file.env)) and Path(env).expanduser().is_file():
        return Path(env).expanduser(), f"${file.env}"
    hub = hub_checkpoints_dir()
    for name in file.hub_files:
        if (hub / name).is_file():
            return hub / name, "torch hub cache"
    if file.hf_repo:
        for name in file.hf_files:
            if (found := hf_snapshot_file(hf_repo_dir(file.hf_repo), name)) is not None:
                return found, "Hugging Face cache"
    return None


def pins_path() -> Path:
    return weights_dir() / "pins.json"


def read_pins() -> dict[str, dict[str, Any]]:
    """name → {"sha256", "size", "url", "pinned_at"} of the hashes pinned on first fetch."""
    path = pins_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != PINS_FORMAT or not isinstance(data.get("pins"), dict):
            raise ValueError("not a pins file")
        return dict(data["pins"])
    except (OSError, ValueError) as e:
        raise BadInputError(
            f"{path} cannot be read ({e}); it records the hashes of files fetched without an "
            "official hash: restore it, or delete it and fetch those files again"
        ) from None


def pin(file: WeightFile, sha256: str, size: int, url: str) -> None:
    """Record the hash of a file that has no official one (never replaces an existing pin)."""
    with FileLock(str(pins_path()) + ".lock"):
        pins = read_pins()
        if file.name in pins:
            return
        pins[file.name] = {
            "sha256": sha256,
            "size": size,
            "url": url,
            "pinned_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        text = json.dumps({"format": PINS_FORMAT, "version": 1, "pins": pins}, indent=2)
        atomic_write_text(pins_path(), text + "\n")


def judge(file: WeightFile, sha256: str, size: int) -> str:
    """How the bytes of hash `sha256` and `size` compare with what is known of `file`."""
    if file.size is not None and size != file.size:
        return f"HASH MISMATCH: {size:,} bytes, the official file has {file.size:,}"
    if file.sha256:
        if sha256 == file.sha256:
            return "official sha256"
        return f"HASH MISMATCH: sha256 {sha256}, official {file.sha256}"
    pinned = read_pins().get(file.name)
    if file.sha256_prefix and not sha256.startswith(file.sha256_prefix):
        return f"HASH MISMATCH: sha256 {sha256} does not start with {file.sha256_prefix}"
    if pinned is not None:
        if sha256 == pinned["sha256"]:
            return (
                "official sha256 prefix" if file.sha256_prefix else "pinned locally, not official"
            )
        return f"HASH MISMATCH: sha256 {sha256}, pinned on first fetch as {pinned['sha256']}"
    return "official sha256 prefix" if file.sha256_prefix else "no hash to check"


def state(file: WeightFile, *, hash_files: bool = True) -> FileState:
    """Where `file` is and (with `hash_files`) whether its bytes are right."""
    found = locate(file)
    if found is None:
        return FileState(file, None, None, None, "missing")
    path, found_by = found
    if not hash_files:
        return FileState(file, path, found_by, None, "not checked")
    digest = sha256_file(path)
    return FileState(file, path, found_by, digest, judge(file, digest, path.stat().st_size))


def fetch(
    file: WeightFile,
    *,
    sha256: str | None = None,
    timeout: float = 30.0,
    progress: bool = False,
) -> FileState:
    """Make `file` present and verified; downloads only when it is missing or wrong.

    `sha256` is a full hash the user vouches for (it allows a plain http:// source for a file
    with no official hash). A download that fails from every source raises `DownloadError`
    listing each one; nothing that looks complete is left behind.
    """
    current = state(file)
    if current.ok and (sha256 is None or current.sha256 == sha256.lower()):
        return _converted(current)  # present and right, wherever it was found
    expected = (sha256 or "").lower() or file.sha256 or read_pins().get(file.name, {}).get("sha256")
    target = weights_dir() / file.filename
    failures = []
    for url in _sources(file):
        try:
            digest = fetch_url(
                url,
                target,
                sha256=expected,
                sha256_prefix=file.sha256_prefix,
                size=file.size,
                timeout=timeout,
                progress=progress,
            )
        except OfflineError:
            raise
        except DownloadError as e:
            failures.append(str(e))
            continue
        if not file.sha256:
            pin(file, digest, target.stat().st_size, url)
        return _converted(state(file))
    raise DownloadError(
        f"{file.name} could not be fetched from any source:\n"
        + "".join(f"  - {line}\n" for line in failures)
        + (
            "Pass --sha256 with a hash you trust, set P2PBENCH_WEIGHTS_MIRROR to an https:// "
            "or file:// copy, or download "
            if any(u.startswith("http://") for u in file.urls) and not file.sha256
            else "Download "
        )
        + f"{file.filename} by hand and place it at {target}"
        + (f" or set ${file.env}" if file.env else "")
        + "."
    )


def _sources(file: WeightFile) -> list[str]:
    mirror = os.environ.get(MIRROR_VARIABLE, "").strip()
    if mirror and not mirror.startswith(("https://", "file://")):
        raise BadInputError(
            f"${MIRROR_VARIABLE}={mirror}: a mirror must be an https:// base URL or a file:// "
            "folder"
        )
    return ([f"{mirror.rstrip('/')}/{file.filename}"] if mirror else []) + list(file.urls)


def _converted(current: FileState) -> FileState:
    """Run the entry's conversion step once the file is present (e.g. caffemodel → .pt)."""
    if current.entry.convert and current.path is not None:
        CONVERTERS.get(current.entry.convert)(current.path)
    return current
