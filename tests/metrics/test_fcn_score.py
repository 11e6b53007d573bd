"""FCN-score against an independent numpy statement of the original pix2pix arithmetic."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from reference import original_fcn_score as ref

from p2pbench.metrics import COUNT_NAMES, FCNScore, confusion_update, fcn_scores, per_image_scores

HERE = Path(__file__).resolve().parent
REL = 1e-12


def make_data(n: int, frames: int, seed: int, h: int = 32, w: int = 64) -> tuple[Any, Any]:
    """Seeded (gt int64, pred uint8) label maps with every quirk of the original in them.

    Classes 1 and n-2 never occur; ~10% of pixels are 255, ~2% other ids outside [0, n);
    ~3% of predictions are the extra channel n. Frames i % 4 == 1 are dropped by the original
    (a class n-1 pixel predicted as n); in all others that combination is removed. Frame 2 has
    no valid pixel, frame 3 a perfect prediction.
    """
    rng = np.random.default_rng(seed)
    present = np.array([c for c in range(n) if c not in (1, n - 2)])
    gt = rng.choice(present, size=(frames, h, w)).astype(np.int64)
    gt[rng.random(gt.shape) < 0.10] = 255
    odd = rng.random(gt.shape) < 0.02
    gt[odd] = rng.choice(np.array([-1, n, n + 1, 40, 254]), size=int(odd.sum()))
    noisy = rng.random(gt.shape) < 0.4
    pred = np.where(noisy, rng.integers(0, n, size=gt.shape), np.clip(gt, 0, n - 1))
    pred[rng.random(gt.shape) < 0.03] = n
    for i in range(frames):
        if i % 4 == 1:
            gt[i, 0, 0], pred[i, 0, 0] = n - 1, n
        else:
            pred[i][(gt[i] == n - 1) & (pred[i] == n)] = 0
    if frames > 3:
        gt[2] = 255
        pred[3] = np.where((gt[3] >= 0) & (gt[3] < n), gt[3], n)
    return gt, pred.astype(np.uint8)


def names(n: int) -> list[str]:
    return [f"class{i}" for i in range(n)]


def as_tensors(gt: Any, pred: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(pred).long(), torch.from_numpy(gt)


def check_against_reference(result: dict[str, Any], hist: torch.Tensor, ref_hist: Any) -> None:
    assert np.array_equal(ref_hist, np.round(ref_hist)), "reference hist is not integral"
    assert torch.equal(hist, torch.from_numpy(ref_hist.astype(np.int64)))
    acc, cl_acc, iou, cl_accs, ious = ref.scores(ref_hist)
    assert math.isclose(result["per_pixel_acc"], acc, rel_tol=REL)
    assert math.isclose(result["per_class_acc"], cl_acc, rel_tol=REL)
    assert math.isclose(result["class_iou"], iou, rel_tol=REL)
    per_class = list(result["per_class"].values())
    for got, a, u in zip(per_class, cl_accs, ious, strict=True):
        assert math.isclose(got["acc"], a, rel_tol=REL) and math.isclose(got["iou"], u, rel_tol=REL)


def states(metric: FCNScore) -> dict[str, torch.Tensor]:
    return {name: getattr(metric, name).clone() for name in ("hist", *COUNT_NAMES)}


def assert_same_states(a: FCNScore, b: FCNScore) -> None:
    sa, sb = states(a), states(b)
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


@pytest.mark.parametrize("n", [19, 5])
def test_original_mode_matches_reference(n: int) -> None:
    gt, pred = make_data(n, 24, seed=n)
    metric = FCNScore(n, names(n))
    metric.update(*as_tensors(gt, pred))
    result = metric.compute()
    check_against_reference(result, metric.hist, ref.original_hist(gt, pred, n))
    expected = ref.event_counts(gt, pred, n, 255, separate=False)
    assert {k: result[k] for k in COUNT_NAMES} == expected
    # the data exercises every quirk
    assert result["frames_dropped"] == 6 and result["extra_channel_remapped"] > 0
    assert result["pixels_unknown_label"] > 0 and result["pixels_dropped"] > 0
    assert result["per_class"]["class1"] == {"acc": 0.0, "iou": 0.0}
    assert result["pixels_scored"] == int(metric.hist.sum())
    assert result["pixels_scored"] + result["pixels_ignored"] + result["pixels_dropped"] == (
        gt.size
    )


@pytest.mark.parametrize("n", [19, 5])
def test_separate_mode_matches_reference(n: int) -> None:
    gt, pred = make_data(n, 12, seed=100 + n)
    metric = FCNScore(n, names(n), extra_channel="separate")
    metric.update(*as_tensors(gt, pred))
    result = metric.compute()
    check_against_reference(result, metric.hist, ref.separate_hist(gt, pred, n))
    assert {k: result[k] for k in COUNT_NAMES} == ref.event_counts(gt, pred, n, 255, True)
    assert result["pixels_dropped"] == 0 and result["extra_channel_remapped"] == 0
    assert result["frames_dropped"] == 3  # counted, not applied
    assert int(metric.hist[:, n].sum()) == result["extra_channel_pixels"] > 0


def test_quirks_by_hand() -> None:
    """n=3: (gt 0, pred 3) lands in cell (1, 0); (gt 2, pred 3) drops its whole frame."""
    target = torch.tensor([[[0, 1, 255]], [[2, 0, 0]]])
    pred = torch.tensor([[[3, 1, 3]], [[3, 0, 0]]])
    hist, counts = confusion_update(pred, target, 3)
    assert hist.tolist() == [[0, 0, 0], [1, 1, 0], [0, 0, 0]]
    assert {k: int(v) for k, v in counts.items()} == {
        "frames": 2, "frames_dropped": 1, "pixels_scored": 2, "pixels_ignored": 1,
        "pixels_unknown_label": 0, "pixels_dropped": 3, "extra_channel_pixels": 2,
        "extra_channel_remapped": 1,
    }  # fmt: skip
    hist, counts = confusion_update(pred, target, 3, "separate")
    assert hist.tolist() == [[2, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 1]]
    assert int(counts["pixels_scored"]) == 5


def test_batching_does_not_matter() -> None:
    n = 19
    gt, pred = make_data(n, 20, seed=7)
    p, t = as_tensors(gt, pred)
    whole, chunked, single = (FCNScore(n, names(n)) for _ in range(3))
    whole.update(p, t)
    bounds = [0, 1, 4, 5, 11, 12, 20]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        chunked.update(p[lo:hi], t[lo:hi])
    for i in range(len(p)):
        single.update(p[i : i + 1], t[i : i + 1])
    assert_same_states(whole, chunked)
    assert_same_states(whole, single)
    assert whole.compute() == chunked.compute() == single.compute()


def test_merge_state_equals_one_object() -> None:
    n = 5
    gt, pred = make_data(n, 9, seed=11)
    p, t = as_tensors(gt, pred)
    whole, first, second = (FCNScore(n, names(n)) for _ in range(3))
    whole.update(p, t)
    first.update(p[:5], t[:5])
    second.update(p[5:], t[5:])
    first.merge_state(second)
    assert_same_states(whole, first)
    assert first.compute() == whole.compute()


def _dist_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        gt, pred = make_data(19, 9, seed=23)
        p, t = as_tensors(gt, pred)
        lo, hi = [(0, 5), (5, 9)][rank]
        metric = FCNScore(19, names(19))
        metric.update(p[lo:hi], t[lo:hi])
        result = metric.compute()
        (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # ~18 s: two spawned interpreters each import torch and torchmetrics
@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_processes_equal_one(tmp_path: Path) -> None:
    mp.spawn(_dist_worker, args=(2, str(tmp_path / "store"), str(tmp_path)), nprocs=2)
    gt, pred = make_data(19, 9, seed=23)
    single = FCNScore(19, names(19))
    single.update(*as_tensors(gt, pred))
    expected = json.loads(json.dumps(single.compute()))
    for rank in range(2):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == expected
    assert expected["frames"] == 9 and expected["frames_dropped"] == 2  # frames 1 and 5


def test_per_image_scores_match_reference() -> None:
    n = 5
    gt, pred = make_data(n, 8, seed=3)
    rows = per_image_scores(*as_tensors(gt, pred), n)
    assert len(rows) == 8
    for i, row in enumerate(rows):
        frame = ref.frame_hist(gt[i], pred[i], n)
        assert row["dropped"] == isinstance(frame, int) == (i % 4 == 1)
        acc, cl_acc, iou, _, _ = ref.scores(np.zeros((n, n)) + frame)
        assert math.isclose(row["per_pixel_acc"], acc, rel_tol=REL)
        assert math.isclose(row["per_class_acc"], cl_acc, rel_tol=REL)
        assert math.isclose(row["class_iou"], iou, rel_tol=REL)
    assert rows[3]["per_pixel_acc"] == pytest.approx(1.0)  # perfect frame
    assert rows[2]["pixels_scored"] == 0 and rows[2]["per_pixel_acc"] == 0.0  # no valid pixel


def test_empty_metric_scores_zero_without_nan() -> None:
    result = fcn_scores(torch.zeros(4, 4, dtype=torch.int64))
    assert result["per_pixel_acc"] == result["per_class_acc"] == result["class_iou"] == 0.0


def test_accepts_uint8_like_the_original_argmax() -> None:
    gt, pred = make_data(5, 4, seed=5)
    a, b = FCNScore(5, names(5)), FCNScore(5, names(5))
    a.update(torch.from_numpy(pred), torch.from_numpy(gt))
    b.update(*as_tensors(gt, pred))
    assert_same_states(a, b)


@pytest.mark.parametrize(
    ("pred", "target", "error", "match"),
    [
        (torch.zeros(1, 4, 4), torch.zeros(1, 4, 4), TypeError, "integer pred"),
        (torch.zeros(1, 4, 4, dtype=torch.long), torch.zeros(1, 4, 5), TypeError, "integer target"),
        (torch.zeros(1, 4, 4, dtype=torch.long), torch.zeros(1, 4, 5, dtype=torch.long),
         ValueError, "same shape"),
        (torch.zeros(4, 4, dtype=torch.long), torch.zeros(4, 4, dtype=torch.long),
         ValueError, "same shape"),
        (torch.full((1, 2, 2), 6), torch.zeros(1, 2, 2, dtype=torch.long), ValueError, r"\[0, 5\]"),
        (torch.full((1, 2, 2), -1), torch.zeros(1, 2, 2, dtype=torch.long), ValueError, "found"),
    ],
)  # fmt: skip
def test_bad_inputs_raise(pred: Any, target: Any, error: type, match: str) -> None:
    metric = FCNScore(5, names(5))
    with pytest.raises(error, match=match):
        metric.update(pred, target)
    with pytest.raises(error, match=match):
        per_image_scores(pred, target, 5)


def test_bad_configuration_raises() -> None:
    with pytest.raises(ValueError, match="one class name per class"):
        FCNScore(5, names(4))
    with pytest.raises(ValueError, match="ignore_index outside"):
        FCNScore(5, names(5), ignore_index=0)
    with pytest.raises(ValueError, match="choose one of"):
        FCNScore(5, names(5), extra_channel="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unexpected keyword"):
        FCNScore(5, names(5), sync_on_compte=True)


@pytest.mark.gpu
def test_cuda_matches_cpu() -> None:
    gt, pred = make_data(19, 6, seed=31)
    p, t = as_tensors(gt, pred)
    cpu, gpu = FCNScore(19, names(19)), FCNScore(19, names(19)).to("cuda")
    cpu.update(p, t)
    gpu.update(p.cuda(), t.cuda())
    assert gpu.hist.device.type == "cuda"
    assert cpu.compute() == gpu.compute()
