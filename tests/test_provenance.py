"""The exact code version in provenance: the git commit in a checkout, the release otherwise."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

import p2pbench
from p2pbench.ablation import PLANS, AblationOptions, manifest_of, plan_runs, prepare_folder
from p2pbench.evaluation import RealImages, RunSpec, ScoreSpec, evaluate
from p2pbench.provenance import (
    code_version,
    describe_checkout,
    describe_code,
    package_versions,
)
from p2pbench.results import read_result

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
SOURCE_ROOT = Path(p2pbench.__file__).resolve().parent.parent


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-C", str(root), *args],
        capture_output=True,
        text=True,
    )


def _expected_code_version() -> str:
    """The code version by an independent rule: `git rev-parse` and `git diff` on the sources."""
    if shutil.which("git") is None:
        return p2pbench.__version__
    top = _git(SOURCE_ROOT, "rev-parse", "--show-toplevel")
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != SOURCE_ROOT:
        return p2pbench.__version__
    commit = _git(SOURCE_ROOT, "rev-parse", "--short", "HEAD").stdout.strip()
    dirty = _git(SOURCE_ROOT, "diff", "--quiet", "HEAD", "--").returncode != 0
    return f"{p2pbench.__version__}+g{commit}{'.dirty' if dirty else ''}"


def test_the_version_is_written_once_and_read_by_the_package_metadata() -> None:
    text = (SOURCE_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'attr = "p2pbench._version.__version__"' in text and '\nversion = "' not in text
    assert p2pbench.__version__ == "0.2.0"


def test_a_result_written_now_records_the_exact_code_version(tmp_path: Path) -> None:
    result = evaluate(
        RealImages(),
        protocol="synthcity@v1",
        score=ScoreSpec(limit=2, metrics=("fcn",)),
        run=RunSpec(progress=False),
    )
    result.write(tmp_path / "result.json")
    versions = read_result(tmp_path / "result.json").provenance["versions"]
    assert versions["code_version"] == _expected_code_version()
    assert versions["p2pbench"] == p2pbench.__version__
    if (SOURCE_ROOT / ".git").exists() and shutil.which("git"):
        head = _git(SOURCE_ROOT, "rev-parse", "--short", "HEAD").stdout.strip()
        assert f"+g{head}" in versions["code_version"]


@needs_git
def test_a_checkout_is_named_by_its_commit_and_dirty_only_for_tracked_changes(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "a repo"  # a space in the path
    repo.mkdir()
    assert _git(repo, "init", "-q").returncode == 0
    (repo / "a.txt").write_text("one\n")
    _git(repo, "add", "a.txt")
    assert _git(repo, "commit", "-q", "-m", "first").returncode == 0
    commit = _git(repo, "rev-parse", "--short", "HEAD").stdout.strip()
    assert describe_checkout(repo, "9.9") == f"9.9+g{commit}"
    (repo / "untracked.txt").write_text("new\n")  # untracked files do not change the code
    assert describe_checkout(repo, "9.9") == f"9.9+g{commit}"
    (repo / "a.txt").write_text("two\n")
    assert describe_checkout(repo, "9.9") == f"9.9+g{commit}.dirty"
    (repo / "sub").mkdir()  # a folder inside someone else's checkout is not a checkout
    assert describe_checkout(repo / "sub", "9.9") == "9.9"


def test_no_checkout_or_no_git_gives_the_plain_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert describe_checkout(tmp_path, "9.9") == "9.9"  # not a repository
    monkeypatch.setenv("PATH", str(tmp_path / "no-such-bin"))  # git cannot be found
    assert describe_checkout(SOURCE_ROOT, "9.9") == "9.9"


def test_every_provenance_carries_the_code_version() -> None:
    # results, checkpoints, generated folders, reference statistics and ablation manifests all
    # record package_versions()
    assert package_versions()["code_version"] == code_version() == _expected_code_version()


def test_a_new_code_version_does_not_change_an_ablation_plan(tmp_path: Path) -> None:
    options = AblationOptions(protocol="synthcity@v1", steps=2, ngf=4, ndf=4, sample_images=0)
    manifest = manifest_of(plan_runs(PLANS.get("receptive-field"), options), [])
    pending = prepare_folder(tmp_path / "rf", manifest, replan=False)
    other = replace(manifest, versions={**manifest.versions, "code_version": "0.2.0+gdeadbee"})
    assert prepare_folder(tmp_path / "rf", other, replan=False) == pending


def test_the_type_checking_imports_are_the_lazy_exports() -> None:
    # p2pbench/__init__.py names each export three times: `_EXPORTS` (run time), the
    # TYPE_CHECKING imports (type checkers) and `__all__`; they must agree
    import ast

    tree = ast.parse((SOURCE_ROOT / "p2pbench" / "__init__.py").read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If))
    imported = {
        a.asname or a.name: (n.module, a.name)
        for n in block.body
        if isinstance(n, ast.ImportFrom)
        for a in n.names
    }
    assert imported == p2pbench._EXPORTS
    assert sorted(p2pbench.__all__) == sorted(["__version__", *p2pbench._EXPORTS])
    for name in p2pbench._EXPORTS:
        assert getattr(p2pbench, name) is not None


def _site(tmp_path: Path, direct_url: dict | None) -> Path:
    """A site-packages folder holding p2pbench's dist-info as pip writes it."""
    info = tmp_path / "site" / "p2pbench-9.9.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.4\nName: p2pbench\nVersion: 9.9\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    return tmp_path / "site"


def test_a_wheel_pip_installed_from_git_names_the_commit_pip_recorded(tmp_path: Path) -> None:
    commit = "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678"
    url = {
        "url": "https://example.org/p2pbench.git",
        "vcs_info": {"vcs": "git", "commit_id": commit},
    }
    assert describe_code(_site(tmp_path / "git", url), "9.9") == "9.9+g1a2b3c4"
    folder = {"url": "file:///src/p2pbench", "dir_info": {}}  # `pip install .`: no commit
    assert describe_code(_site(tmp_path / "dir", folder), "9.9") == "9.9"
    assert describe_code(_site(tmp_path / "none", None), "9.9") == "9.9"
