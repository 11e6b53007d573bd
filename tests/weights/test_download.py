"""`fetch_url` against a real HTTP server on the loopback address (no mocks of the download
code): each test names what the download must do and checks the bytes placed (or not)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from loopback import Behaviour, serve

from p2pbench.weights import ChecksumMismatchError, DownloadError, OfflineError, fetch_url

BODY = os.urandom(3 * (1 << 20) + 12_345)  # 3 MiB and a bit: several chunks, a ragged end
SHA = hashlib.sha256(BODY).hexdigest()


def _placed(target: Path) -> list[str]:
    """Every file in the target's folder (the target, `.part`, `.lock`, temporaries)."""
    return sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".lock"))


def test_a_full_download_places_the_verified_file(tmp_path: Path) -> None:
    b = Behaviour(body=BODY)
    with serve(b) as base:
        target = tmp_path / "w.pth"
        assert fetch_url(f"{base}/w.pth", target, sha256=SHA, size=len(BODY)) == SHA
    assert target.read_bytes() == BODY
    assert _placed(target) == ["w.pth"]
    assert "Range" not in b.requests[0]


def test_a_cut_transfer_is_resumed_with_a_range_request(tmp_path: Path) -> None:
    half = len(BODY) // 2
    b = Behaviour(body=BODY, cut_after=half)
    target = tmp_path / "w.pth"
    with serve(b) as base:
        with pytest.raises(DownloadError, match="resume"):
            fetch_url(f"{base}/w.pth", target, sha256=SHA, attempts=1)
        assert not target.exists()  # nothing that looks complete
        assert (tmp_path / "w.pth.part").stat().st_size == half
        fetch_url(f"{base}/w.pth", target, sha256=SHA)
    assert target.read_bytes() == BODY
    assert b.requests[1]["Range"] == f"bytes={half}-"
    assert _placed(target) == ["w.pth"]


def test_a_cut_is_resumed_within_one_call(tmp_path: Path) -> None:
    b = Behaviour(body=BODY, cut_after=1000)
    with serve(b) as base:
        fetch_url(f"{base}/w.pth", tmp_path / "w.pth", sha256=SHA, attempts=2)
    assert (tmp_path / "w.pth").read_bytes() == BODY
    assert [r.get("Range") for r in b.requests] == [None, "bytes=1000-"]


def test_a_server_that_ignores_range_is_read_from_the_start(tmp_path: Path) -> None:
    b = Behaviour(body=BODY, cut_after=len(BODY) // 3, honour_range=False)
    with serve(b) as base:
        fetch_url(f"{base}/w.pth", tmp_path / "w.pth", sha256=SHA, attempts=2)
    assert (tmp_path / "w.pth").read_bytes() == BODY  # not the first third twice
    assert b.requests[1]["Range"] == f"bytes={len(BODY) // 3}-"


def test_wrong_bytes_place_nothing(tmp_path: Path) -> None:
    with serve(Behaviour(body=BODY[:-1] + b"x")) as base:
        with pytest.raises(ChecksumMismatchError, match="nothing was placed"):
            fetch_url(f"{base}/w.pth", tmp_path / "w.pth", sha256=SHA)
    assert _placed(tmp_path / "w.pth") == []


def test_a_wrong_prefix_or_size_places_nothing(tmp_path: Path) -> None:
    with serve(Behaviour(body=BODY)) as base:
        with pytest.raises(ChecksumMismatchError, match="does not start with"):
            fetch_url(f"{base}/w", tmp_path / "w", sha256=SHA, sha256_prefix="00000000")
        with pytest.raises(DownloadError, match="announces"):
            fetch_url(f"{base}/w", tmp_path / "w", sha256=SHA, size=len(BODY) + 1)
    assert _placed(tmp_path / "w") == []


def test_a_404_is_one_clear_line(tmp_path: Path) -> None:
    with serve(Behaviour(status=404)) as base:
        with pytest.raises(DownloadError) as e:
            fetch_url(f"{base}/gone.pth", tmp_path / "w", sha256=SHA)
    assert f"{base}/gone.pth: HTTP 404" in str(e.value) and "\n" not in str(e.value)
    assert _placed(tmp_path / "w") == []


@pytest.mark.parametrize("content_type", ["text/html", "application/octet-stream"])
def test_an_html_page_is_not_taken_for_the_file(tmp_path: Path, content_type: str) -> None:
    page = b"<!DOCTYPE html><html><body>Google Drive can't scan this file</body></html>"
    with serve(Behaviour(body=page, content_type=content_type)) as base:
        with pytest.raises(DownloadError, match="HTML page"):
            fetch_url(f"{base}/w", tmp_path / "w", sha256=hashlib.sha256(page).hexdigest())
    assert _placed(tmp_path / "w") == []


def test_a_stalled_server_times_out(tmp_path: Path) -> None:
    with serve(Behaviour(body=BODY, stall_s=5.0)) as base:
        with pytest.raises(DownloadError, match="no data for 0.5 s"):
            fetch_url(f"{base}/w", tmp_path / "w", sha256=SHA, timeout=0.5, attempts=1)
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("variable", ["P2PBENCH_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_mode_sends_no_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "1")
    b = Behaviour(body=BODY)
    with serve(b) as base:
        with pytest.raises(OfflineError, match=f"\\${variable} forbids downloads"):
            fetch_url(f"{base}/w", tmp_path / "w", sha256=SHA)
    assert b.requests == []
    assert _placed(tmp_path / "w") == []


def test_plain_http_without_a_full_hash_is_refused_before_any_request(tmp_path: Path) -> None:
    b = Behaviour(body=BODY)
    with serve(b) as base:
        with pytest.raises(DownloadError, match="plain http:// and no full sha256"):
            fetch_url(f"{base}/w", tmp_path / "w", sha256_prefix=SHA[:8])
    assert b.requests == []


def test_a_file_url_is_copied_and_checked(tmp_path: Path) -> None:
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "w").write_bytes(BODY)
    url = (tmp_path / "mirror" / "w").as_uri()
    assert fetch_url(url, tmp_path / "out" / "w") == SHA
    assert (tmp_path / "out" / "w").read_bytes() == BODY


def test_two_processes_fetching_at_once_download_once_and_both_verify(tmp_path: Path) -> None:
    b = Behaviour(body=BODY, chunk_delay_s=0.01)  # ~0.5 s per transfer: the two overlap
    target = tmp_path / "w.pth"
    code = (
        "import sys; from p2pbench.weights import fetch_url; "
        "print(fetch_url(sys.argv[1], sys.argv[2], sha256=sys.argv[3]))"
    )
    with serve(b) as base:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, f"{base}/w.pth", str(target), SHA],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs == [SHA, SHA]  # both verified the placed file
    assert len(b.requests) == 1  # one download
    assert target.read_bytes() == BODY
