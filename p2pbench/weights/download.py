"""Downloading one weight file so that a failure never leaves a file that looks complete.

The bytes stream into ``<target>.part`` beside the target. A transfer cut short is resumed
with an HTTP Range request, by the next attempt of the same call or by a later call; a server
that answers a Range request with the whole file (200) is read from the start again. Only when
the size and the sha256 (or the published start of it) are right is the ``.part`` file renamed
onto the target, in one step. Processes that fetch the same target at once take turns on
``<target>.lock``: the first downloads, the others find the finished file and verify it.

Nothing here is called unless the user asks for a download; `P2PBENCH_OFFLINE=1` (or
`HF_HUB_OFFLINE=1`) forbids every network request, and only ``file://`` sources still work.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

from filelock import FileLock

from p2pbench._version import __version__
from p2pbench.base import fsync_dir, sha256_file
from p2pbench.errors import BadInputError, InvalidValueError

OFFLINE_VARIABLES = ("P2PBENCH_OFFLINE", "HF_HUB_OFFLINE")
CHUNK = 1 << 20
_HTML_START = re.compile(rb"^\s*(<!doctype html|<html)", re.IGNORECASE)
_CUT = (http.client.IncompleteRead, ConnectionError, TimeoutError, socket.timeout)


class DownloadError(BadInputError, OSError):
    """A download failed; the message names the URL and what to do."""


class OfflineError(DownloadError):
    """A download was asked for while downloads are switched off."""


class ChecksumMismatchError(DownloadError):
    """The downloaded bytes are not the expected file; nothing was placed."""


def offline() -> bool:
    """Whether `P2PBENCH_OFFLINE` or `HF_HUB_OFFLINE` forbids network requests."""
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in OFFLINE_VARIABLES
    )


def fetch_url(
    url: str,
    target: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    sha256_prefix: str | None = None,
    size: int | None = None,
    timeout: float = 30.0,
    attempts: int = 3,
    progress: bool = False,
) -> str:
    """Download `url` to `target` (see the module docstring); returns the file's sha256.

    `sha256` is the full expected hash, `sha256_prefix` a published start of it, `size` the
    expected byte count; whichever are given are checked before the file is placed. A plain
    ``http://`` source is refused unless `sha256` is given. `timeout` bounds the connection and
    every read (a stalled server fails instead of hanging); `attempts` counts connections.
    """
    final = Path(target)
    if attempts < 1:
        raise InvalidValueError(f"attempts must be at least 1, found {attempts}")
    if url.startswith("http://") and sha256 is None:
        raise DownloadError(
            f"{url} is plain http:// and no full sha256 is known to check its bytes against; "
            "give the file's sha256, or use an https:// or file:// source"
        )
    if not url.startswith(("http://", "https://", "file://")):
        raise DownloadError(f"{url}: only http://, https:// and file:// sources are supported")
    if offline() and not url.startswith("file://"):
        on = next(v for v in OFFLINE_VARIABLES if os.environ.get(v))
        raise OfflineError(
            f"${on} forbids downloads, so {url} was not requested; unset it, or copy the file "
            f"onto this machine, into {final}"
        )
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create {final.parent}: {e.strerror}") from None
    with FileLock(str(final) + ".lock"):
        if final.is_file():
            digest = sha256_file(final)
            if _problem(final, digest, sha256, sha256_prefix, size) is None:
                return digest  # another process placed it while this one waited
        part = final.with_name(final.name + ".part")
        resumed = part.is_file() and part.stat().st_size > 0
        _transfer(url, part, size, timeout, attempts, progress)
        digest = sha256_file(part)
        problem = _problem(part, digest, sha256, sha256_prefix, size)
        if problem is not None and resumed:
            part.unlink()  # an old partial file may belong to other bytes: start over once
            _transfer(url, part, size, timeout, attempts, progress)
            digest = sha256_file(part)
            problem = _problem(part, digest, sha256, sha256_prefix, size)
        if problem is not None:
            part.unlink(missing_ok=True)
            raise ChecksumMismatchError(f"{url}: {problem}; nothing was placed at {final}")
        with open(part, "rb") as f:
            os.fsync(f.fileno())
        os.replace(part, final)
        fsync_dir(final.parent)
        return digest


def _problem(
    path: Path, digest: str, sha256: str | None, prefix: str | None, size: int | None
) -> str | None:
    """Why the file at `path` is not the expected one, or None."""
    got = path.stat().st_size
    if size is not None and got != size:
        return f"{got:,} bytes where {size:,} were expected"
    if sha256 is not None and digest != sha256.lower():
        return f"its sha256 is {digest}, not the expected {sha256.lower()}"
    if prefix is not None and not digest.startswith(prefix.lower()):
        return f"its sha256 is {digest}, which does not start with the published {prefix}"
    with open(path, "rb") as f:
        if _HTML_START.match(f.read(512)):
            return _html_message()
    return None


def _html_message() -> str:
    return (
        "the server sent an HTML page, not the file (a login, quota or confirmation page, "
        "as Google Drive sends for large files); download it in a browser and place it by hand"
    )


def _transfer(
    url: str, part: Path, size: int | None, timeout: float, attempts: int, progress: bool
) -> None:
    """Fill `part` with the whole body of `url`, resuming what it already holds."""
    for attempt in range(1, attempts + 1):
        have = part.stat().st_size if part.is_file() else 0
        headers = {"User-Agent": f"p2pbench/{__version__}"}
        if have and not url.startswith("file://"):
            headers["Range"] = f"bytes={have}-"
        try:
            response = urllib.request.urlopen(
                urllib.request.Request(url, headers=headers), timeout=timeout
            )
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:
                part.unlink()  # the partial file is not a prefix the server knows: restart
                continue
            raise DownloadError(
                f"{url}: HTTP {e.code} {e.reason}; the file has moved or the address is wrong: "
                "try another source (P2PBENCH_WEIGHTS_MIRROR) or download it by hand"
            ) from None
        except urllib.error.URLError as e:
            reason = e.reason if isinstance(e.reason, str) else str(e.reason or e)
            raise DownloadError(
                f"{url}: cannot connect ({reason}); check the network or proxy settings "
                "(HTTPS_PROXY), or fetch the file elsewhere and place it by hand"
            ) from None
        except _CUT as e:
            raise DownloadError(
                f"{url}: no answer within {timeout:g} s ({type(e).__name__}); try again later "
                "or with a longer timeout"
            ) from None
        with response:
            if response.headers.get_content_type() == "text/html" and not url.startswith("file://"):
                raise DownloadError(f"{url}: {_html_message()}")
            status = getattr(response, "status", None) or 200
            if have and status == 206 and _range_start(response) == have:
                mode, expected_rest = "ab", _length(response)
            else:
                mode, expected_rest, have = "wb", _length(response), 0  # whole file again
            if size is not None and expected_rest is not None and have + expected_rest != size:
                raise DownloadError(
                    f"{url}: the server announces {have + expected_rest:,} bytes where "
                    f"{size:,} are expected; it serves another file"
                )
            try:
                _stream(response, part, mode, have, expected_rest, progress, url)
            except _CUT as e:
                got = part.stat().st_size if part.is_file() else 0
                if attempt == attempts:
                    why = (
                        f"no data for {timeout:g} s"
                        if isinstance(e, (TimeoutError, socket.timeout))
                        else type(e).__name__
                    )
                    raise DownloadError(
                        f"{url}: the transfer stopped after {got:,} bytes ({why}); run the "
                        f"same command again to resume from {part}"
                    ) from None
                continue
        return


def _stream(
    response: http.client.HTTPResponse,
    part: Path,
    mode: str,
    have: int,
    rest: int | None,
    progress: bool,
    url: str,
) -> None:
    """Append (or write) the response body to `part`; a short body raises IncompleteRead."""
    bar = None
    if progress:
        from tqdm import tqdm

        total = None if rest is None else have + rest
        bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=part.name[:-5])
    got = 0
    try:
        with open(part, mode) as f:
            while chunk := response.read(CHUNK):
                f.write(chunk)
                got += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
            f.flush()
            os.fsync(f.fileno())
    finally:
        if bar is not None:
            bar.close()
    if rest is not None and got < rest:
        raise http.client.IncompleteRead(b"", rest - got)


def _length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value is not None and value.isdigit() else None


def _range_start(response: http.client.HTTPResponse) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None
