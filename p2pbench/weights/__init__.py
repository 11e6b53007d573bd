"""Weight files: downloading one safely (`download`). The registry of every file p2pbench can
use and the `p2pbench weights` commands build on it."""

from p2pbench.weights.download import (
    ChecksumMismatchError,
    DownloadError,
    OfflineError,
    fetch_url,
    offline,
)

__all__ = ["ChecksumMismatchError", "DownloadError", "OfflineError", "fetch_url", "offline"]
