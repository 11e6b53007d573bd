"""What every result and checkpoint records about where it came from."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL
import torch

from p2pbench._version import __version__

_GIT_TIMEOUT_S = 3.0
# the source tree p2pbench runs from: a git checkout's top level when it is one
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def package_versions() -> dict[str, str]:
    """Versions of p2pbench (release, exact code), Python and the libraries behind the numbers."""
    versions = {
        "p2pbench": __version__,
        "code_version": code_version(),
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "pillow": PIL.__version__,
    }
    for name in ("torchvision", "torchmetrics", "torch_fidelity"):
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except ImportError:
                continue
        versions[name] = str(getattr(module, "__version__", "unknown"))
    return versions


@functools.cache
def code_version() -> str:
    """The exact code running, e.g. `0.2.0+g1a2b3c4`; see `describe_code`. Asked once per
    process; git failing or hanging never fails the caller."""
    return describe_code(_SOURCE_ROOT, __version__)


def describe_code(root: Path, version: str) -> str:
    """The code in `root` (where the p2pbench package lies): `version+g<commit>` from a git
    checkout (`.dirty` appended when tracked files differ from the commit) or from a package pip
    installed from a git URL (the commit it recorded); the plain `version` otherwise (a wheel
    built elsewhere, no git)."""
    described = describe_checkout(root, version)
    if described != version:
        return described
    commit = installed_commit(root)
    return f"{version}+g{commit[:7]}" if commit else version


def installed_commit(root: Path) -> str | None:
    """The git commit pip recorded (PEP 610 `direct_url.json`) when it installed the p2pbench
    found in `root` from a git URL (`pip install git+URL@REV`); None for other installs."""
    for dist in importlib.metadata.distributions(name="p2pbench", path=[str(root)]):
        try:
            info = json.loads(dist.read_text("direct_url.json") or "{}")
            commit = info["vcs_info"]["commit_id"] if "vcs_info" in info else None
        except (OSError, ValueError, TypeError, KeyError):
            continue
        if isinstance(commit, str) and commit:
            return commit
    return None


def describe_checkout(root: Path, version: str) -> str:
    """`version+g<short commit>[.dirty]` when `root` is the top level of a git checkout, else
    `version` (not a checkout, `root` only inside someone else's, git missing, slow or failing)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["LC_ALL"] = "C"

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            env=env,
            check=True,
        )
        return done.stdout

    try:
        top, commit = git("rev-parse", "--show-toplevel", "--short", "HEAD").splitlines()
        if Path(top).resolve() != root.resolve():
            return version  # e.g. a wheel installed in a virtual environment inside a repository
        dirty = git("status", "--porcelain", "--untracked-files=no").strip() != ""
    except (OSError, ValueError, subprocess.SubprocessError):
        return version
    return f"{version}+g{commit}{'.dirty' if dirty else ''}"
