"""What every layer needs from the file system: the cache home, atomic writes, content hashes,
and the one reader of p2pbench's versioned `.pt` files.

Versioned files (checkpoints, converted FCN-8s weights, FID reference statistics) are plain
dicts of tensors and containers with a `format` marker and a `version`; they are read with
`torch.load(..., weights_only=True)`, so nothing in them is ever unpickled as code.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch


def p2pbench_home() -> Path:
    """`$P2PBENCH_HOME`, else `$XDG_CACHE_HOME/p2pbench`, else `~/.cache/p2pbench`."""
    if home := os.environ.get("P2PBENCH_HOME"):
        return Path(home).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "p2pbench"


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    If the body raises (or the process dies), `path` is untouched and the temporary file is
    removed (or left with a `.tmp` suffix that no reader mistakes for a finished file).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, final)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def load_tensors(
    path: str | os.PathLike[str], error: type[Exception], *, mmap: bool = False
) -> Any:
    """`torch.load(path, weights_only=True)`; every failure becomes `error` with the reason.

    A file holding pickled Python objects other than tensors and plain containers is refused
    (unpickling can run arbitrary code); the message says how to re-save it.
    """
    p = Path(path)
    if not p.is_file():
        raise error(f"file not found: {p}")
    with open(p, "rb") as f:
        first = f.read(1)
    if not zipfile.is_zipfile(p) and first != b"\x80":  # torch.save: a zip; legacy: a pickle
        raise error(
            f"cannot read {p} as a PyTorch file: it is neither a torch.save archive nor "
            "a legacy torch file"
        )
    try:
        return torch.load(p, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()  # torch colours its message
        first = text.splitlines()[0] if text else type(e).__name__
        raise error(
            f"{p} holds Python objects other than tensors and plain containers, so it is not "
            "loaded (unpickling can run arbitrary code). Re-save its tensors alone, e.g. "
            f"torch.save(model.state_dict(), path). Detail: {first}"
        ) from None
    except Exception as e:  # truncated, or not a torch file at all
        raise error(f"cannot read {p} as a PyTorch file: {e}") from None


def read_versioned(
    path: str | os.PathLike[str],
    file_format: str,
    version: int,
    error: type[Exception],
    *,
    remedy: str,
    mmap: bool = False,
) -> dict[str, Any]:
    """A p2pbench `.pt` file of `file_format` at `version`, read safely; else `error`.

    `remedy` ends the message of a wrong format or version: what the user should do.
    """
    data = load_tensors(path, error, mmap=mmap)
    found = data.get("format") if isinstance(data, dict) else type(data).__name__
    if found != file_format:
        raise error(f"{path}: expected a {file_format!r} file, found {found!r}; {remedy}")
    if data.get("version") != version:
        raise error(
            f"{path}: {file_format} version {data.get('version')!r}; this p2pbench reads "
            f"version {version}; {remedy}"
        )
    return data
