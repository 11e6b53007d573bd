"""Reading a results folder for the report: its results, the ablation files, what is skipped."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2pbench.errors import BadInputError
from p2pbench.records import (
    MANIFEST_FORMAT,
    SUMMARY_FORMAT,
    AblationManifest,
    AblationSummary,
    RecordError,
)
from p2pbench.results import Result, ResultError, read_result


class ReportError(BadInputError, ValueError):
    """The folder cannot be reported on (missing, or holding no result)."""


@dataclass
class Folder:
    """What a folder holds: its results, the ablation files, and what could not be used.

    `problems` collects, while the page is assembled, every file that is missing or changed and
    every unreadable log line, so that the page lists them.
    """

    root: Path
    results: list[Result]
    skipped: list[tuple[str, str]]  # (path relative to root, why)
    plan: AblationManifest | None = None
    summary: AblationSummary | None = None
    summary_error: str | None = None  # why summary.json could not be read
    problems: list[str] = field(default_factory=list)

    def rel(self, path: str | os.PathLike[str]) -> str:
        """`path` relative to the folder when it lies inside, else as given."""
        for p, root in (
            (Path(path).absolute(), self.root.absolute()),
            (Path(path).resolve(), self.root.resolve()),
        ):
            if p.is_relative_to(root):
                return p.relative_to(root).as_posix()
        return str(path)


def scan(folder: str | os.PathLike[str]) -> Folder:
    """Every result under `folder`; the ablation plan and summary at its root, if any."""
    root = Path(folder)
    if not root.is_dir():
        raise ReportError(f"{folder}: no such folder")
    found = Folder(root=root, results=[], skipped=[])
    for path in sorted(root.rglob("*.json")):
        if not path.is_file():
            continue
        rel = found.rel(path)
        try:
            found.results.append(read_result(path))
            continue
        except ResultError as err:
            why = str(err).removeprefix(f"{path}: ").removeprefix(f"{path} ")
        data = _json_object(path)
        kind = data.get("format") if data is not None else None
        if kind == MANIFEST_FORMAT and path.parent == root:
            try:
                found.plan = AblationManifest.from_dict(data, where=rel)
            except RecordError as err:
                found.skipped.append((rel, f"unreadable ablation plan: {err}"))
        elif kind == SUMMARY_FORMAT and path.parent == root:
            try:
                found.summary = AblationSummary.from_dict(data, where=rel)
            except RecordError as err:
                found.summary_error = str(err)
        elif kind in (MANIFEST_FORMAT, SUMMARY_FORMAT):
            found.skipped.append(
                (rel, f"{kind} file of a sub-folder: report on {found.rel(path.parent)} itself")
            )
        elif path.name == "config.json" and (path.parent / "checkpoint.pt").is_file():
            continue  # a training run's configuration, beside its checkpoint: known, not a result
        else:
            found.skipped.append((rel, why))
    if found.plan is None and (found.summary is not None or found.summary_error is not None):
        found.skipped.append(("summary.json", "ablation summary without plan.json: not used"))
        found.summary = found.summary_error = None
    if not found.results:
        listing = "; ".join(f"{p} ({why})" for p, why in found.skipped[:5])
        raise ReportError(
            f"{folder} holds no p2pbench result (*.json written by `p2pbench eval --out` or "
            f"`p2pbench ablate`)" + (f"; skipped: {listing}" if listing else "")
        )
    return found


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None
