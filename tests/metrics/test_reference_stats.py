"""Reference statistics: the content-keyed cache, pytorch-fid .npz files, folders of images."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image

from p2pbench.metrics.frechet import stats_from_features
from p2pbench.metrics.generative import GenerativeMetrics
from p2pbench.metrics.image_stats import compute_stats, fid_between
from p2pbench.metrics.reference_stats import (
    ReferenceStats,
    StaleStatsWarning,
    StatsFileError,
    StatsKey,
    cached_stats,
    export_npz,
    find_cached,
    image_digest,
    import_npz,
    load_stats,
    lookup_cached,
    reference_digest,
    save_stats,
    stats_path,
)

HAS_PYTORCH_FID = importlib.util.find_spec("pytorch_fid") is not None
N = 16  # conftest.N_IMAGES: images in `fake` and in `real`


def _key(weights_sha: str, n: int = N, content: str = "c" * 64) -> StatsKey:
    return StatsKey(content, "synthcity@v1:abc", "tf", weights_sha, n)


def test_reference_cached_once_and_reused(ours, extractor, fake, settings, tmp_path) -> None:
    key = _key(extractor.weights.sha256)
    calls = []

    def compute():
        calls.append(1)
        return ours.real_stats({"split": "val"})

    stats, hit = cached_stats(key, compute, home=tmp_path)
    assert not hit and calls == [1]
    path = stats_path(key, home=tmp_path)
    assert path.parent == tmp_path / "stats" and path.name == f"{key.digest()}.pt"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # nothing half-written left
    raw = torch.load(path, weights_only=True)  # plain tensors and containers only
    assert raw["n"] == N and raw["sum_outer"].dtype == torch.float64
    again, hit = cached_stats(key, compute, home=tmp_path)
    assert hit and calls == [1]
    assert torch.equal(again.outer, stats.outer) and torch.equal(again.features, stats.features)
    with pytest.raises(StatsFileError, match="not for"):
        load_stats(path, _key("0" * 64))
    cached = GenerativeMetrics(extractor, again, **settings)
    cached.update(fake, range(N))
    assert cached.compute() == pytest.approx(ours.compute(), rel=1e-12)
    assert cached.describe()["reference"]["kind"] == "statistics file"


def test_content_digest_is_of_the_uint8_images_in_order(make_images) -> None:
    images = make_images(4, (8, 6), seed=0)
    digest = reference_digest([images])
    assert digest == reference_digest([images[:1], *images[1:]])  # batches or single images
    assert digest == reference_digest(list(images))
    changed = images.clone()
    changed[2, 0, 0, 0] ^= 1  # one bit of one pixel
    assert reference_digest([changed]) != digest
    assert reference_digest([images[[1, 0, 2, 3]]]) != digest  # sample order counts
    same_bytes = images[0].reshape(3, 6, 8)  # the same bytes on another grid
    assert image_digest(same_bytes) != image_digest(images[0])
    with pytest.raises(ValueError, match="expected a uint8 3×H×W image, found torch.float32"):
        image_digest(images[0].float())


def test_key_is_content_protocol_mode_weights_count_and_compute_path() -> None:
    key = _key("w" * 64)
    assert set(key.as_dict()) == {
        "content_sha256",
        "protocol",
        "mode",
        "weights_sha256",
        "n_images",
        "compute",
    }
    variants = [
        _key("w" * 64, content="d" * 64),
        _key("w" * 64, n=N + 1),
        _key("v" * 64),
        StatsKey(key.content_sha256, "synthcity@v1:abd", "tf", key.weights_sha256, N),
        StatsKey(key.content_sha256, key.protocol, "clean", key.weights_sha256, N),
        StatsKey(*list(key.as_dict().values())[:-1], compute="cpu/channels_last/fp32"),
    ]
    assert len({key.digest(), *(v.digest() for v in variants)}) == 1 + len(variants)
    assert _key("w" * 64).digest() == key.digest()


def _stats(n: int = N, d: int = 4, features: bool = True) -> ReferenceStats:
    f = torch.arange(n * d, dtype=torch.float64).reshape(n, d) / (n * d)
    return ReferenceStats(n, f.sum(0), f.T @ f, f if features else None, {"test": True})


def test_stale_entries_are_reported_and_recomputed(tmp_path) -> None:
    key, other = _key("w" * 64), _key("w" * 64, content="d" * 64)
    assert lookup_cached(key, tmp_path).stats is None  # a plain miss: no warning
    save_stats(_stats(), stats_path(key, tmp_path), key)
    found = lookup_cached(key, tmp_path, need_features=True)
    assert found.stale is None and found.stats is not None and found.stats.n == N

    save_stats(_stats(), stats_path(other, tmp_path), key)  # another key's file under its name
    with pytest.warns(StaleStatsWarning, match="stale reference statistics .*not for"):
        assert find_cached(other, tmp_path) is None
    calls = []

    def compute() -> ReferenceStats:
        calls.append(1)
        return _stats()

    with pytest.warns(StaleStatsWarning):
        stats, hit = cached_stats(other, compute, home=tmp_path)
    assert not hit and calls == [1]
    assert load_stats(stats_path(other, tmp_path), other).n == N  # overwritten with its own key
    assert cached_stats(other, compute, home=tmp_path)[1] and calls == [1]

    path = stats_path(key, tmp_path)
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with pytest.warns(StaleStatsWarning, match="cannot read"):
        found = lookup_cached(key, tmp_path)
    assert found.stats is None and "cannot read" in (found.stale or "")


@pytest.mark.parametrize(
    ("stats", "need_features", "reason"),
    [
        (_stats(n=N - 1), False, f"covers {N - 1} images, the key says {N}"),
        (_stats(features=False), True, "holds no features"),
        (
            ReferenceStats(N, torch.zeros(4), torch.zeros(4, 4), torch.zeros(N - 2, 4), {}),
            False,
            f"expected features of shape \\({N}, 4\\) for n = {N}, found \\({N - 2}, 4\\)",
        ),
        (
            ReferenceStats(N, torch.zeros(4), torch.zeros(3, 3), None, {}),
            False,
            "expected sum \\(d,\\) and sum_outer \\(d, d\\)",
        ),
    ],
)
def test_inconsistent_entries_are_stale(tmp_path, stats, need_features, reason) -> None:
    key = _key("w" * 64)
    save_stats(stats, stats_path(key, tmp_path), key)
    with pytest.warns(StaleStatsWarning, match=reason):
        assert lookup_cached(key, tmp_path, need_features=need_features).stats is None


def test_npz_round_trip(ours, extractor, fake, feats, settings, tmp_path) -> None:
    stats = ours.real_stats()
    path = tmp_path / "real.npz"
    export_npz(stats, path)
    with np.load(path) as f:
        np.testing.assert_allclose(
            f["sigma"], np.cov(feats[1].pool3.numpy(), rowvar=False), rtol=1e-10, atol=1e-13
        )
        assert f["mu"].dtype == np.float64
    imported = import_npz(path)
    g = stats.gaussian()
    assert torch.equal(imported.mu, g.mu) and torch.equal(imported.sigma, g.sigma)
    assert imported.n is None
    from_npz = GenerativeMetrics(extractor, imported, **settings)
    from_npz.update(fake, range(N))
    values = from_npz.compute()
    assert values["fid"] == pytest.approx(ours.compute()["fid"], rel=1e-10)
    assert values["kid_mean"]["available"] is False and "features" in values["kid_mean"]["reason"]


@pytest.mark.skipif(not HAS_PYTORCH_FID, reason="pytorch-fid not installed (optional reference)")
@pytest.mark.filterwarnings("ignore:The `disp` argument:DeprecationWarning")
def test_npz_files_give_pytorch_fids_value(tmp_path) -> None:
    from pytorch_fid.fid_score import calculate_frechet_distance

    g = torch.Generator().manual_seed(0)
    a, b = (
        torch.rand(40, 64, generator=g, dtype=torch.float64),
        torch.rand(30, 64, generator=g, dtype=torch.float64),
    )
    export_npz(stats_from_features(a), tmp_path / "a.npz")
    export_npz(stats_from_features(b), tmp_path / "b.npz")
    with np.load(tmp_path / "a.npz") as x, np.load(tmp_path / "b.npz") as y:
        expected = calculate_frechet_distance(x["mu"], x["sigma"], y["mu"], y["sigma"])
    ours = fid_between(tmp_path / "a.npz", tmp_path / "b.npz")  # no network needed
    assert ours["fid"] == pytest.approx(expected, rel=1e-6)
    assert [i["kind"] for i in ours["inputs"]] == ["npz", "npz"]


def test_bad_npz_files(tmp_path) -> None:
    np.savez(tmp_path / "x.npz", mean=np.zeros(3))
    with pytest.raises(StatsFileError, match="'mu' and 'sigma'"):
        import_npz(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", mu=np.zeros(3), sigma=np.zeros((2, 2)))
    with pytest.raises(StatsFileError, match="mu of shape"):
        import_npz(tmp_path / "y.npz")


def test_folders_npz_and_in_memory_agree(extractor, real, ours, tmp_path) -> None:
    (tmp_path / "real").mkdir()
    for i, im in enumerate(real):
        Image.fromarray(im.permute(1, 2, 0).numpy()).save(tmp_path / "real" / f"{i:03d}.png")
    from_folder = compute_stats(tmp_path / "real", extractor=extractor, batch_size=N)
    assert torch.equal(from_folder.features, ours.kid.features(real=True))  # PNG is lossless
    assert from_folder.provenance["mode"] == "tf" and from_folder.n == N
    export_npz(ours.fid._stats("fake"), tmp_path / "fake.npz")
    expected = ours.compute()["fid"]
    mixed = fid_between(
        tmp_path / "fake.npz", tmp_path / "real", "tf", extractor.weights, batch_size=N
    )
    assert mixed["fid"] == pytest.approx(expected, rel=1e-10)
    assert [i["kind"] for i in mixed["inputs"]] == ["npz", "folder"]
    assert mixed["inputs"][1]["inception"]["mode"] == "tf"
    save_stats(from_folder, tmp_path / "real.pt")
    assert fid_between(tmp_path / "fake.npz", tmp_path / "real.pt")["fid"] == pytest.approx(
        expected, rel=1e-10
    )
    with pytest.raises(ValueError, match="mode 'tf', not 'clean'"):
        fid_between(tmp_path / "fake.npz", tmp_path / "real.pt", mode="clean")
    with pytest.raises(ValueError, match="expected an image folder"):
        fid_between(tmp_path / "fake.npz", tmp_path / "nothing.txt")
