"""Embedding files in the page: PNG data URIs, each referenced file checked against its sha256."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

from PIL import Image as PILImage

from p2pbench.records import FileRef
from p2pbench.reporting.report.folder import Folder
from p2pbench.reporting.report.views import Embedded, Figure, Image, Missing
from p2pbench.results import Result

THUMBNAIL = 256  # longest side of an embedded sample image, in pixels


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure(png: bytes, caption: str) -> Figure:
    """A chart's PNG with its caption (also its alt text)."""
    return Figure(Image(data_uri(png), caption, "chart"), caption)


def embed_file(folder: Folder, result: Result, ref: FileRef | None, alt: str) -> Embedded:
    """The image of a file a result references, checked against its sha256 and required to lie
    inside the folder; else a placeholder (and the problem listed in `folder.problems`)."""
    base = Path(result.path).parent if result.path else folder.root
    shown = ref.path if ref is not None else "(no path recorded)"
    try:
        if ref is None:
            raise ValueError("the result records no path for it")
        path = (base / ref.path).resolve()
        shown = folder.rel(path)
        if not path.is_relative_to(folder.root.resolve()):
            raise ValueError("it lies outside the reported folder")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise ValueError("its sha256 differs from the one recorded")
        png = as_png(data)
    except (OSError, ValueError, PILImage.DecompressionBombError) as err:
        why = "file not found" if isinstance(err, FileNotFoundError) else str(err)
        folder.problems.append(f"missing/changed: {shown} ({why})")
        return Missing(f"missing/changed: {shown}", why)
    return Image(data_uri(png), alt)


def as_png(data: bytes) -> bytes:
    """An image file re-encoded as PNG, at most THUMBNAIL pixels a side, without metadata."""
    try:
        with PILImage.open(io.BytesIO(data)) as opened:
            opened.load()
            alpha = "A" in opened.getbands() or "transparency" in opened.info
            im = opened.convert("RGBA" if alpha else "L" if opened.mode in ("1", "L") else "RGB")
    except (OSError, SyntaxError) as err:
        raise ValueError(f"not a readable image ({err})") from None
    im.info = {}  # no text chunks or profiles carried over
    im.thumbnail((THUMBNAIL, THUMBNAIL))
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def file_sha(path: str | None) -> str:
    """The sha256 of the file at `path` ("unreadable" when it cannot be read)."""
    try:
        return hashlib.sha256(Path(path or "").read_bytes()).hexdigest()
    except OSError:
        return "unreadable"
