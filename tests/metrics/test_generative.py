"""FID, IS and KID against torch-fidelity; batch size, merged and gathered processes.

torch-fidelity's `calculate_metrics` runs on the same images with its own network pointed at the
same random weights (`feature_extractor_weights_path`): its features, seeds, splits and subsets
are the reference. It computes KID kernels in float32 and FID means in float32, hence the
tolerances (1e-6 FID, 1e-5 KID); IS is float64 there too (1e-9).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import Dataset

from p2pbench.metrics import kid as kid_module
from p2pbench.metrics.availability import MetricUnavailableError, Unavailable, require_available
from p2pbench.metrics.fid import FID
from p2pbench.metrics.frechet import frechet_distance, stats_from_features
from p2pbench.metrics.generative import KEYS, GenerativeMetrics
from p2pbench.metrics.inception_score import InceptionScore, inception_score
from p2pbench.metrics.kid import KID

N = 16  # conftest.N_IMAGES: images in `fake` and in `real`


class Images(Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


@pytest.fixture(scope="module")
def fidelity(inception_weights_file, fake, real, settings) -> dict:
    import torch_fidelity

    return torch_fidelity.calculate_metrics(
        input1=Images(fake),
        input2=Images(real),
        fid=True,
        isc=True,
        kid=True,
        cuda=False,
        feature_extractor_weights_path=str(inception_weights_file),
        isc_splits=settings["is_splits"],
        kid_subsets=settings["kid_subsets"],
        kid_subset_size=settings["kid_subset_size"],
        rng_seed=settings["seed"],
        cache=False,
        verbose=False,
        batch_size=N,
        save_cpu_ram=True,  # one batch of N, no worker processes
    )


def test_fid_is_kid_equal_torch_fidelity(ours: GenerativeMetrics, fidelity: dict) -> None:
    values = ours.compute()
    assert set(values) == set(KEYS)
    assert values["fid"] == pytest.approx(fidelity["frechet_inception_distance"], rel=1e-6)
    assert values["is_mean"] == pytest.approx(fidelity["inception_score_mean"], rel=1e-9)
    assert values["is_std"] == pytest.approx(fidelity["inception_score_std"], rel=1e-9, abs=1e-12)
    assert values["kid_mean"] == pytest.approx(fidelity["kernel_inception_distance_mean"], rel=1e-5)
    assert values["kid_std"] == pytest.approx(fidelity["kernel_inception_distance_std"], rel=1e-5)
    assert values["fid"] > 1 and values["is_mean"] > 1.01 and values["kid_mean"] > 0
    details = ours.describe()
    assert details["mode"] == "tf" and details["kid_subset_size"] == 6
    assert details["is_splits"] == 3 and details["weights"]["official"] is False


def test_fid_equals_frechet_of_the_features(feats) -> None:
    f, r = feats
    fid = FID()
    fid.update(f.pool3)
    fid.update(r.pool3, real=True)
    expected = frechet_distance(stats_from_features(f.pool3), stats_from_features(r.pool3))
    assert fid.compute() == pytest.approx(expected, rel=1e-10)


def test_batch_size_one_equals_sixteen(extractor, fake, real, feats) -> None:
    _, r = feats
    whole, single = FID(), FID()
    whole.update(extractor(fake).pool3)
    for i in range(N):
        single.update(extractor(fake[i : i + 1]).pool3)
    for m in (whole, single):
        m.update(r.pool3, real=True)
    assert single.compute() == pytest.approx(whole.compute(), rel=1e-5)


def test_merged_processes_equal_one(feats) -> None:
    f, r = feats
    one_fid, one_is, one_kid = FID(), InceptionScore(splits=3), KID(subsets=20, subset_size=6)
    one_fid.update(f.pool3)
    one_fid.update(r.pool3, real=True)
    one_is.update(f.logits_unbiased, range(N))
    one_kid.update(f.pool3, range(N))
    one_kid.update(r.pool3, range(N), real=True)
    parts = []
    for shard in (range(0, 7), range(7, N)):  # contiguous shards, updated in reverse order
        idx = list(shard)[::-1]
        m_fid, m_is, m_kid = FID(), InceptionScore(splits=3), KID(subsets=20, subset_size=6)
        m_fid.update(f.pool3[idx])
        m_fid.update(r.pool3[idx], real=True)
        m_is.update(f.logits_unbiased[idx], idx)
        m_kid.update(f.pool3[idx], idx)
        m_kid.update(r.pool3[idx], idx, real=True)
        parts.append((m_fid, m_is, m_kid))
    for a, b in zip(parts[1], parts[0], strict=True):
        a.merge_state(b)  # rank 0's state into rank 1's: the order of arrival must not matter
    merged_fid, merged_is, merged_kid = parts[1]
    assert merged_fid.compute() == pytest.approx(one_fid.compute(), rel=1e-12)
    assert merged_is.compute() == one_is.compute()
    assert merged_kid.compute() == one_kid.compute()


def test_duplicate_samples_are_an_error(feats) -> None:
    f, _ = feats
    m = InceptionScore(splits=2)
    m.update(f.logits_unbiased[:3], [0, 1, 2])
    m.update(f.logits_unbiased[2:4], [2, 3])  # e.g. DistributedSampler padding
    with pytest.raises(ValueError, match=r"more than once \(first: \[2\]\)"):
        m.compute()


def test_small_sets_reduce_splits_and_subsets_with_a_warning(feats) -> None:
    f, r = feats
    m = InceptionScore(splits=10)
    m.update(f.logits_unbiased[:4], range(4))
    with pytest.warns(UserWarning, match="4 images cannot fill 10 splits"):
        assert m.compute()["is_splits"] == 4
    k = KID(reference=r.pool3[:5], subsets=3)
    k.update(f.pool3[:8], range(8))
    with pytest.warns(UserWarning, match="using 5"):
        assert k.compute()["kid_subset_size"] == 5


def test_kid_gram_and_per_subset_paths_agree(feats, monkeypatch) -> None:
    f, r = feats
    full = kid_module.kernel_inception_distance(f.pool3, r.pool3, 10, 6)
    monkeypatch.setattr(kid_module, "GRAM_LIMIT", 0)
    assert kid_module.kernel_inception_distance(f.pool3, r.pool3, 10, 6) == pytest.approx(
        full, rel=1e-12
    )


def test_unavailable_weights_make_every_value_unavailable(fake) -> None:
    gen = GenerativeMetrics(Unavailable("no weights: see the docs"))
    gen.update(fake, range(N))
    values = gen.compute()
    assert values == {k: {"available": False, "reason": "no weights: see the docs"} for k in KEYS}
    with pytest.raises(MetricUnavailableError, match="kid_mean: no weights"):
        require_available(values, ["kid"])


# ---- two processes (gloo) -------------------------------------------------------------------


def _worker(rank: int, world: int, init: str, data: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        d = torch.load(data, weights_only=True)
        shard = range(rank * 5, min((rank + 1) * 5, 10)) if rank < 2 else range(0)  # rank 2: none
        idx = list(shard)
        fid, is_, kid = FID(), InceptionScore(splits=3), KID(subsets=5, subset_size=4)
        if idx:
            fid.update(d["fake"][idx])
            is_.update(d["logits"][idx], idx)
            kid.update(d["fake"][idx], idx)
        fid.update(d["real"][rank::world], real=True)
        kid.update(d["real"][rank::world], list(range(10))[rank::world], real=True)
        result = {"fid": fid.compute(), **is_.compute(), **kid.compute()}
        Path(out, f"rank{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_three_processes_equal_one(feats, tmp_path) -> None:
    f, r = feats
    data = {
        "fake": f.pool3[:10].clone(),
        "logits": f.logits_unbiased[:10].clone(),
        "real": r.pool3[:10].clone(),
    }
    torch.save(data, tmp_path / "data.pt")
    fid, is_, kid = FID(), InceptionScore(splits=3), KID(subsets=5, subset_size=4)
    fid.update(data["fake"])
    fid.update(data["real"], real=True)
    is_.update(data["logits"], range(10))
    kid.update(data["fake"], range(10))
    kid.update(data["real"], range(10), real=True)
    single = {"fid": fid.compute(), **is_.compute(), **kid.compute()}
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(
        _worker,
        args=(3, f"file://{tmp_path / 'init'}", str(tmp_path / "data.pt"), str(tmp_path)),
        nprocs=3,
    )
    for rank in range(3):
        result = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert result["fid"] == pytest.approx(single["fid"], rel=1e-12)
        assert {k: v for k, v in result.items() if k != "fid"} == {
            k: v for k, v in single.items() if k != "fid"
        }


def test_inception_score_of_certain_predictions_is_finite_and_exact() -> None:
    """Logits far apart make most softmax entries underflow to 0 in float64; IS must still
    be the closed form: N images each certain of its own class give p(y) uniform over N
    classes and KL = log N per image, so IS = N (one split)."""
    n = 10
    logits = torch.full((n, 1008), -1e4, dtype=torch.float64)
    logits[torch.arange(n), torch.arange(n)] = 1e4
    mean, std = inception_score(logits, splits=1)
    assert mean == pytest.approx(n, rel=1e-12) and std == 0.0
