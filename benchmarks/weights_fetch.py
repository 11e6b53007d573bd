"""Wall time of a 100 MB weight-file fetch over a loopback HTTP server, whole and resumed.

The server is the test suite's (`tests/weights/loopback.py`, the standard library's
`http.server` in a thread). Three fetches of the same 100 MiB random file, each into an empty
folder: whole; cut at half then resumed by a second call with a Range request; and a server
that ignores Range (the second call reads everything again). Each time includes the sha256
check before the file is placed.

    python -m benchmarks.weights_fetch      # writes benchmarks/results/weights-fetch.json
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "weights"))

from loopback import Behaviour, serve  # noqa: E402

from p2pbench.weights import DownloadError, fetch_url  # noqa: E402

SIZE = 100 * (1 << 20)


def _timed(behaviour: Behaviour, sha: str, cut: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, serve(behaviour) as base:
        target = Path(tmp) / "w.pth"
        start = time.perf_counter()
        if cut:
            try:
                fetch_url(f"{base}/w.pth", target, sha256=sha, attempts=1)
            except DownloadError:
                pass
            first = time.perf_counter() - start
        fetch_url(f"{base}/w.pth", target, sha256=sha)
        total = time.perf_counter() - start
        assert hashlib.sha256(target.read_bytes()).hexdigest() == sha
    out = {"total_s": round(total, 3), "requests": len(behaviour.requests)}
    if cut:
        out["cut_call_s"] = round(first, 3)
    return out


def main() -> None:
    body = os.urandom(SIZE)
    sha = hashlib.sha256(body).hexdigest()
    results = {
        "bytes": SIZE,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "whole": _timed(Behaviour(body=body), sha, cut=False),
        "cut_at_half_then_resumed": _timed(Behaviour(body=body, cut_after=SIZE // 2), sha, True),
        "range_ignored_restart": _timed(
            Behaviour(body=body, cut_after=SIZE // 2, honour_range=False), sha, True
        ),
    }
    out = ROOT / "benchmarks" / "results" / "weights-fetch.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
