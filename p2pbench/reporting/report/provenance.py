"""The report's provenance section: each protocol once, and per result where it came from."""

from __future__ import annotations

import json
import shlex
from typing import Any

from p2pbench.reporting.report.embed import file_sha
from p2pbench.reporting.report.folder import Folder
from p2pbench.reporting.report.shapes import referenced_files
from p2pbench.reporting.report.views import Definitions, Provenance, ResultProvenance

EXCERPT = 400  # characters of a long value shown
_SEGMENTER_KEYS = ("name", "sha256", "weights", "path")


def provenance(folder: Folder, labels: dict[int, str]) -> Provenance:
    """The protocols the results use and, per result (named by `labels`, by `id`), its file,
    source, data, segmenter, seed, device, versions, command and referenced files."""
    protocols: dict[tuple[str, str], dict[str, Any]] = {}
    for r in folder.results:
        protocols.setdefault((r.protocol_key, r.protocol_digest), r.protocol)
    protocol_items = []
    for (key, digest), p in protocols.items():
        protocol_items.append(
            definitions(
                {
                    "key": key,
                    "description": p.get("description"),
                    "digest (sha256)": digest,
                    "paper-comparable": p.get("paper_comparable"),
                    "dataset / split used": f"{p.get('dataset')} / "
                    f"{p.get('split_used', p.get('split'))}",
                    "segmenter": p.get("segmenter"),
                }
            )
        )
    results = []
    for r in folder.results:
        prov = r.provenance
        segmenter, versions = prov.get("segmenter"), prov.get("versions")
        segmenter = segmenter if isinstance(segmenter, dict) else {}
        versions = versions if isinstance(versions, dict) else {}
        command = prov.get("command")
        rows = {
            "file": folder.rel(r.path or "?"),
            "file sha256": file_sha(r.path),
            "protocol": r.protocol_key,
            "task / images": f"{r.task} / {r.n_images}",
            **{f"source {k}": v for k, v in r.source.items()},
            "data sha256": prov.get("data_sha256"),
            "segmenter": " ".join(f"{k}={v}" for k, v in segmenter.items() if k in _SEGMENTER_KEYS),
            "seed": prov.get("seed"),
            "device": prov.get("device"),
            "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
            "command": shlex.join(map(str, command)) if isinstance(command, list) else command,
            "created": prov.get("created"),
        }
        for name, ref in referenced_files(r):
            rows[f"{name} sha256"] = ref.sha256
        results.append(
            ResultProvenance(labels.get(id(r), "?"), folder.rel(r.path or "?"), definitions(rows))
        )
    return Provenance(tuple(protocol_items), tuple(results))


def definitions(rows: dict[str, Any]) -> Definitions:
    """(term, text) pairs: empty values left out, others as text (JSON unless a string), a long
    text cut to EXCERPT characters."""
    items = []
    for key, value in rows.items():
        if value is None or value == "":
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > EXCERPT:
            text = text[:EXCERPT] + f"… ({len(text)} characters)"
        items.append((str(key), text))
    return tuple(items)
