"""Write the encoder goldens: each reference implementation's own preprocessing, network and
metric code, run outside this repository at a recorded commit, on fixed images and seeded
random weights (real weights cannot be downloaded where the tests run).

    python tests/reference/make_encoder_goldens.py --sources /tmp/encoder-refs [--only dinov2]

`--sources` receives one checkout per reference repository, at the commit its golden module
records (``COMMITS``/``REPOS`` in ``encoder_goldens/{dinov2,clip,prdc}.py``): cloned from GitHub,
or extracted from local bare mirrors with ``--mirrors DIR`` (``DIR/<owner>+<name>/repo``).
A checkout already there is used when its ``.commit`` marker names the recorded commit.

- ``dinov2`` → dinov2.{npz,json}: the dinov2 hub code, dgm-eval, EDM2, torch-fidelity 0.4.0;
- ``clip`` → clip.{npz,json}: sayakpaul/cmmd-pytorch (the CMMD PyTorch port);
- ``prdc`` → prdc.{npz,json}: torch-fidelity 0.4.0 (VGG16 fc2, precision/recall), clovaai prdc.

prdc's reference needs scikit-learn: point ``$P2PBENCH_REFERENCE_PYTHON`` at an interpreter that
has it (see ``encoder_goldens/prdc.py``). The tests (``tests/metrics/encoders/``) rebuild the
same seeded weights and compare p2pbench's encoders and metrics with these files.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from encoder_goldens.common import GOLDENS  # noqa: E402

MODULES = ("dinov2", "clip", "prdc")


def checkout(sources: Path, name: str, repo: str, commit: str, mirrors: Path | None) -> Path:
    """`sources/name` at `commit`: reused if its marker says so, else made from a mirror or
    a clone."""
    repo = repo.removeprefix("https://github.com/")
    dest = sources / name
    marker = dest / ".commit"
    if marker.is_file() and marker.read_text().strip() == commit:
        return dest
    if dest.exists():
        raise SystemExit(f"{dest} exists but is not {repo} at {commit}: remove it first")
    if mirrors is not None:
        git_dir = mirrors / repo.replace("/", "+") / "repo"
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "src.tar"
            with open(archive, "wb") as f:
                subprocess.run(
                    [
                        "git",
                        f"--git-dir={git_dir}",
                        "archive",
                        commit,
                        "--",
                        ".",
                        ":(exclude)notebooks",
                    ],
                    stdout=f,
                    check=True,
                )
            dest.mkdir(parents=True)
            with tarfile.open(archive) as tar:
                tar.extractall(dest, filter="data")
    else:
        subprocess.run(["git", "clone", "-q", f"https://github.com/{repo}", str(dest)], check=True)
        subprocess.run(["git", "-C", str(dest), "checkout", "-q", commit], check=True)
    marker.write_text(commit + "\n")
    return dest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=Path, required=True, help="folder for the checkouts")
    parser.add_argument("--mirrors", type=Path, default=None, help="local bare mirrors")
    parser.add_argument("--only", default=",".join(MODULES), help="golden modules to run")
    parser.add_argument("--out", type=Path, default=GOLDENS)
    args = parser.parse_args(argv)
    for name in args.only.split(","):
        if name not in MODULES:
            parser.error(f"unknown golden module {name!r}; valid: {', '.join(MODULES)}")
        module = importlib.import_module(f"encoder_goldens.{name}")
        for repo_name, repo in module.REPOS.items():
            checkout(args.sources, repo_name, repo, module.COMMITS[repo_name], args.mirrors)
        module.make(args.sources, args.out)
        print(f"{name}: written to {args.out}")


if __name__ == "__main__":
    main()
