"""What every layer needs from the file system: the cache home, atomic writes of files and
folders, content hashes, and the one reader of p2pbench's versioned `.pt` files.

Versioned files (checkpoints, converted FCN-8s weights, FID reference statistics) are plain
dicts of tensors and containers with a `format` marker and a `version`; they are read with
`torch.load(..., weights_only=True)`, so nothing in them is ever unpickled as code.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import pickle
import re
import secrets
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from p2pbench.errors import FileAccessError, P2PBenchError, PathExistsError, PathNotFoundError


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
    removed (or left with a `.tmp` suffix that no reader mistakes for a finished file). An
    `OSError` of the writing itself (no permission, disk full) is a `FileAccessError`.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    except OSError as e:
        raise _write_error(final, e) from e
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
    try:
        yield tmp_path
        try:
            with open(tmp_path, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp_path, final)
        except OSError as e:
            raise _write_error(final, e) from e
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _write_error(path: Path, error: OSError) -> FileAccessError:
    """`error` of the operating system, met while writing `path`: the user's to fix."""
    return FileAccessError(f"cannot write {path}: {error}; check the location and free space")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def check_new_output_dir(path: str | os.PathLike[str], overwrite: bool) -> None:
    """Refuse `path` as a folder to create: a file, or (without `overwrite`) a non-empty folder.

    A missing path or an empty folder is accepted. Call it before any work, so that a job never
    runs for nothing.
    """
    p = Path(path)
    if p.is_symlink():
        raise PathExistsError(
            f"{p} is a symbolic link; expected a folder to create. Give the folder it points "
            f"to ({p.resolve()}) or choose another folder"
        )
    if p.exists() and not p.is_dir():
        raise PathExistsError(
            f"{p} exists and is not a folder; expected a folder to create. Remove the file "
            "or choose another folder"
        )
    if p.is_dir() and not overwrite and any(p.iterdir()):
        raise PathExistsError(
            f"{p} already exists and is not empty; pass --overwrite to replace it, or choose "
            "another folder"
        )


def temp_dir_beside(path: str | os.PathLike[str], suffix: str = ".tmp") -> Path:
    """Create and return a new hidden folder `.<name>.<random><suffix>` beside `path`.

    Unlike `tempfile.mkdtemp` (mode 0o700) it is created with the umask's permissions, as the
    folder it becomes.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _write_error(final, e) from e
    for _ in range(100):
        tmp = final.parent / f".{final.name}.{secrets.token_hex(4)}{suffix}"
        try:
            tmp.mkdir()
        except FileExistsError:
            continue
        except OSError as e:
            raise _write_error(final, e) from e
        return tmp
    raise PathExistsError(f"cannot create a temporary folder beside {final}: every name is taken")


def move_into_place(
    tmp: str | os.PathLike[str], path: str | os.PathLike[str], *, overwrite: bool
) -> None:
    """Make the finished folder `tmp` (from `temp_dir_beside(path)`) become `path`.

    Its files are flushed to disk first. A missing `path` or an empty folder is replaced in one
    rename. An existing folder (only with `overwrite`) is swapped with `tmp` in one step where
    the file system can (Linux `renameat2`), else renamed aside just before `tmp` is renamed in;
    the old folder is then deleted. If this fails, `tmp` is removed and `path` keeps its old
    content.
    """
    tmp, final = Path(tmp), Path(path)
    try:
        _fsync_tree(tmp)
        try:
            os.rename(tmp, final)  # a missing path, or an empty folder
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not final.is_dir():
                raise
            if not overwrite:
                raise PathExistsError(
                    f"{final} appeared and is not empty while it was being written; pass "
                    "--overwrite to replace it, or choose another folder"
                ) from None
            if _exchange(tmp, final):
                old = tmp  # now holds the old content
            else:
                old = temp_dir_beside(final, ".old")
                os.replace(final, old)  # onto the empty `old`
                try:
                    os.rename(tmp, final)
                except BaseException:
                    os.rename(old, final)  # put the old content back
                    raise
            fsync_dir(final.parent)
            shutil.rmtree(old, ignore_errors=True)  # `path` is complete; at worst a leftover
            return
        fsync_dir(final.parent)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, P2PBenchError):
            raise
        raise _write_error(final, e) from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def atomic_dir(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a new temporary folder beside `path`; on success it becomes `path` in one rename.

    The target is checked before the body runs (`check_new_output_dir`): a file, or a non-empty
    folder without `overwrite`, is refused. If the body raises, the temporary folder is removed
    and `path` is untouched; if the process dies, `path` is untouched and a hidden
    `.<name>.<random>.tmp` folder may remain. With `overwrite`, an existing folder is replaced
    only once the new one is complete (`move_into_place`).
    """
    final = Path(path)
    check_new_output_dir(final, overwrite)
    tmp = temp_dir_beside(final)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    move_into_place(tmp, final, overwrite=overwrite)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Flush every file and folder under `root` (and `root`) to disk."""
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(Path(folder))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux `renameat2(RENAME_EXCHANGE)`); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # no such libc function
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # kernel or file system lacks it
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes (a missing or unreadable file is the user's to fix)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
    except FileNotFoundError as e:
        raise PathNotFoundError(f"{path} not found: give the path of an existing file") from e
    except OSError as e:
        raise FileAccessError(f"cannot read {path}: {e}") from e
    return h.hexdigest()


def files_sha256(root: str | os.PathLike[str], paths: Iterable[Path]) -> str:
    """sha256 identifying a set of files under `root` by their relative paths and contents.

    For each file in the order of its relative POSIX path: `<relative path>\\0<sha256 of its
    bytes>\\n`, all hashed together. Moving the folder keeps the hash; renaming or editing
    any file changes it.
    """
    base = Path(root)
    rels = sorted((Path(p).relative_to(base).as_posix(), Path(p)) for p in paths)
    h = hashlib.sha256()
    for rel, path in rels:
        h.update(f"{rel}\0{sha256_file(path)}\n".encode())
    return h.hexdigest()


def load_tensors(
    path: str | os.PathLike[str],
    error: type[Exception],
    *,
    mmap: bool = False,
    unsafe_error: type[Exception] | None = None,
) -> Any:
    """`torch.load(path, weights_only=True)`; every failure becomes `error` with the reason.

    A file holding pickled Python objects other than tensors and plain containers is refused
    as `unsafe_error` (default: `error`), since unpickling can run arbitrary code; the message
    says how to re-save it.
    """
    p = Path(path)
    if not p.is_file():
        raise error(f"file not found: {p}")
    try:
        with open(p, "rb") as f:
            first = f.read(1)
    except OSError as e:
        raise error(f"cannot read {p}: {e}") from e
    if not zipfile.is_zipfile(p) and first != b"\x80":  # torch.save: a zip; legacy: a pickle
        raise error(
            f"cannot read {p} as a PyTorch file: it is neither a torch.save archive nor "
            "a legacy torch file"
        )
    try:
        return torch.load(p, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()  # torch colours its message
        detail = text.splitlines()[0] if text else type(e).__name__
        raise (unsafe_error or error)(
            f"{p} holds Python objects other than tensors and plain containers, so it is not "
            "loaded (unpickling can run arbitrary code). Re-save its tensors alone, e.g. "
            f"torch.save(model.state_dict(), path). Detail: {detail}"
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
