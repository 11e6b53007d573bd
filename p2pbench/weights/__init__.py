"""Weight files: the catalog of every file p2pbench can use (`catalog`, the only place that
names a file's URLs and hashes; users add entries with `$P2PBENCH_WEIGHTS_MANIFEST`) and the
safe downloader (`download`)."""

from p2pbench.weights.catalog import (
    BUILTIN,
    MANIFEST_VARIABLE,
    WeightFile,
    WeightsManifestError,
    builtin,
    catalog,
    read_manifest,
    weights_dir,
)
from p2pbench.weights.download import (
    ChecksumMismatchError,
    DownloadError,
    OfflineError,
    fetch_url,
    offline,
)

__all__ = [
    "BUILTIN",
    "MANIFEST_VARIABLE",
    "ChecksumMismatchError",
    "DownloadError",
    "OfflineError",
    "WeightFile",
    "WeightsManifestError",
    "builtin",
    "catalog",
    "fetch_url",
    "offline",
    "read_manifest",
    "weights_dir",
]
