"""The other tools' weight caches, read (never written) as fall-back places: torch hub's
``checkpoints`` folder and the Hugging Face hub cache."""

from __future__ import annotations

import os
from pathlib import Path


def hub_checkpoints_dir() -> Path:
    """Where torch hub (and torch-fidelity, pytorch-fid, torchmetrics) keep downloaded weights."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def hf_repo_dir(repo: str) -> Path:
    """A Hugging Face model repository's folder in the hub cache (``$HF_HUB_CACHE``, else
    ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``)."""
    home = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")), "hub"
    )
    return Path(home) / ("models--" + repo.replace("/", "--"))


def hf_snapshot_file(repo_dir: Path, file: str) -> Path | None:
    """`file` in the snapshot that ``refs/main`` names (what ``from_pretrained`` loads), else in
    the most recently modified snapshot holding it."""
    ref = repo_dir / "refs" / "main"
    if ref.is_file() and (repo_dir / "snapshots" / ref.read_text().strip() / file).is_file():
        return repo_dir / "snapshots" / ref.read_text().strip() / file
    found = sorted(repo_dir.glob(f"snapshots/*/{file}"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None
