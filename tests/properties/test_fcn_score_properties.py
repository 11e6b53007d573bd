"""Property tests of the FCN-score (``p2pbench.metrics.fcn_score``) against references in here.

The reference below is a pure-Python, pixel-by-pixel statement of the original pix2pix
arithmetic (``fast_hist``: flat index ``n*gt + pred`` of the valid pixels; a frame whose index
reaches ``n*n`` -- a class n-1 pixel predicted as the extra channel n -- is dropped whole; an
index ``n*c + n`` for c < n-1 lands in cell (c+1, 0)) and of the project's "separate" mode (an
n x (n+1) matrix, nothing dropped). It shares no code with the library; the scores are
checked against it with a relative tolerance of 1e-12, histograms and counts exactly. The
numpy statement in tests/reference/original_fcn_score.py is used as a second reference.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from reference import original_fcn_score as numpy_ref

from p2pbench.metrics.fcn_score import FCNScore, per_image_scores

REL = 1e-12  # relative tolerance of the three scores (float64, n <= 5 classes)
IGNORE = 255
INVALID_LABELS = (IGNORE, 254, -1)  # plus n and n+1, added per draw
MODES = ("original", "separate")
COUNTS = (
    "frames",
    "frames_dropped",
    "pixels_scored",
    "pixels_ignored",
    "pixels_unknown_label",
    "pixels_dropped",
    "extra_channel_pixels",
    "extra_channel_remapped",
)


# ----------------------------------------------------------------------------- reference


def reference_hist_and_counts(
    gt: np.ndarray, pred: np.ndarray, n: int, mode: str
) -> tuple[list[list[int]], dict[str, int]]:
    """Pixel-by-pixel histogram (rows = gt) and event counts, one frame at a time."""
    cols = n + (mode == "separate")
    hist = [[0] * cols for _ in range(n)]
    c = dict.fromkeys(COUNTS, 0)
    for frame_gt, frame_pred in zip(gt.tolist(), pred.tolist(), strict=True):
        pixels = [
            (int(g), int(p))
            for row_g, row_p in zip(frame_gt, frame_pred, strict=True)
            for g, p in zip(row_g, row_p, strict=True)
        ]
        valid = [(g, p) for g, p in pixels if 0 <= g < n]
        c["frames"] += 1
        c["pixels_ignored"] += len(pixels) - len(valid)
        c["pixels_unknown_label"] += sum(1 for g, _ in pixels if not 0 <= g < n and g != IGNORE)
        extra = sum(1 for _, p in valid if p == n)
        c["extra_channel_pixels"] += extra
        flat = [n * g + p for g, p in valid]
        dropped = any(i >= n * n for i in flat)  # np.bincount would be longer than n*n
        c["frames_dropped"] += dropped  # the event is counted in both modes
        if mode == "separate":
            for g, p in valid:
                hist[g][p] += 1
            c["pixels_scored"] += len(valid)
            continue
        if dropped:
            c["pixels_dropped"] += len(valid)
            continue
        for i in flat:
            hist[i // n][i % n] += 1
        c["pixels_scored"] += len(valid)
        c["extra_channel_remapped"] += extra
    return hist, c


def reference_scores(hist: list[list[int]]) -> tuple[float, float, float, list[float], list[float]]:
    """acc = trace/(sum+1e-12); class acc, IoU with +1e-12, plain means over all n classes."""
    n = len(hist)
    diag = [hist[i][i] for i in range(n)]
    rows = [sum(r) for r in hist]
    cols = [sum(hist[r][j] for r in range(n)) for j in range(n)]  # column n is never correct
    total = sum(rows)
    acc = sum(diag) / (total + 1e-12)
    cl = [diag[i] / (rows[i] + 1e-12) for i in range(n)]
    iou = [diag[i] / (rows[i] + cols[i] - diag[i] + 1e-12) for i in range(n)]
    return acc, math.fsum(cl) / n, math.fsum(iou) / n, cl, iou


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-15)


def one(x: float) -> bool:
    """k / (k + 1e-12) for a count k >= 1: 1 up to the +1e-12 of the original."""
    return 1.0 - 1e-11 <= x <= 1.0


# ----------------------------------------------------------------------------- strategies


@st.composite
def label_maps(draw: Any, max_frames: int = 5, max_side: int = 4) -> tuple[np.ndarray, ...]:
    """(gt, pred, n): int64 N x H x W maps; gt has 255 and other invalid ids, pred is in [0, n]."""
    n = draw(st.integers(1, 5))
    frames = draw(st.integers(1, max_frames))
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    invalid = st.sampled_from((*INVALID_LABELS, n, n + 1))
    gt = draw(
        hnp.arrays(np.int64, (frames, h, w), elements=st.one_of(st.integers(0, n - 1), invalid))
    )
    pred = draw(hnp.arrays(np.int64, (frames, h, w), elements=st.integers(0, n)))
    return gt, pred, n


def names(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


def metric_of(batches: list[tuple[np.ndarray, np.ndarray]], n: int, mode: str) -> FCNScore:
    m = FCNScore(n, names(n), extra_channel=mode)  # type: ignore[arg-type]
    for gt, pred in batches:
        m.update(torch.from_numpy(pred), torch.from_numpy(gt))
    return m


# ----------------------------------------------------------------------------- properties


@settings(max_examples=100)
@given(
    data=label_maps(),
    mode=st.sampled_from(MODES),
    pred_dtype=st.sampled_from((torch.uint8, torch.int32, torch.int64)),
    gt_dtype=st.sampled_from((torch.int16, torch.int32, torch.int64)),
)
def test_metric_equals_reference(
    data: tuple[np.ndarray, ...], mode: str, pred_dtype: torch.dtype, gt_dtype: torch.dtype
) -> None:
    gt, pred, n = data
    m = FCNScore(n, names(n), extra_channel=mode)  # type: ignore[arg-type]
    m.update(torch.from_numpy(pred).to(pred_dtype), torch.from_numpy(gt).to(gt_dtype))
    got = m.compute()
    hist, counts = reference_hist_and_counts(gt, pred, n, mode)
    assert m.hist.tolist() == hist
    assert {k: got[k] for k in COUNTS} == counts
    acc, cl_acc, iou, cl_accs, ious = reference_scores(hist)
    assert close(got["per_pixel_acc"], acc)
    assert close(got["per_class_acc"], cl_acc)
    assert close(got["class_iou"], iou)
    for i, name in enumerate(names(n)):
        assert close(got["per_class"][name]["acc"], cl_accs[i])
        assert close(got["per_class"][name]["iou"], ious[i])
    # second, numpy reference (tests/reference/original_fcn_score.py)
    np_hist = (
        numpy_ref.original_hist(gt, pred, n)
        if mode == "original"
        else numpy_ref.separate_hist(gt, pred, n)
    )
    assert np.array_equal(np_hist, np.asarray(hist, dtype=np.float64))
    assert numpy_ref.event_counts(gt, pred, n, IGNORE, mode == "separate") == counts


@given(data=label_maps(), mode=st.sampled_from(MODES))
def test_per_image_scores_equal_reference(data: tuple[np.ndarray, ...], mode: str) -> None:
    gt, pred, n = data
    got = per_image_scores(torch.from_numpy(pred), torch.from_numpy(gt), n, mode)  # type: ignore[arg-type]
    assert len(got) == gt.shape[0]
    for i, scores in enumerate(got):
        hist, counts = reference_hist_and_counts(gt[i : i + 1], pred[i : i + 1], n, mode)
        acc, cl_acc, iou, _, _ = reference_scores(hist)
        assert close(scores["per_pixel_acc"], acc)
        assert close(scores["per_class_acc"], cl_acc)
        assert close(scores["class_iou"], iou)
        assert scores["dropped"] == bool(counts["frames_dropped"])
        assert scores["pixels_scored"] == counts["pixels_scored"]


@st.composite
def partitions(draw: Any) -> tuple[Any, ...]:
    """label maps plus a frame order and cut points (some batches may be empty)."""
    gt, pred, n = draw(label_maps(max_frames=6))
    order = draw(st.permutations(range(gt.shape[0])))
    cuts = draw(st.lists(st.integers(0, gt.shape[0]), max_size=4))
    return gt, pred, n, list(order), sorted(cuts)


@settings(max_examples=100)
@given(case=partitions(), mode=st.sampled_from(MODES))
def test_invariant_to_batching_and_order(case: tuple[Any, ...], mode: str) -> None:
    gt, pred, n, order, cuts = case
    whole = metric_of([(gt, pred)], n, mode).compute()
    bounds = [0, *cuts, gt.shape[0]]
    gt_p, pred_p = gt[order], pred[order]
    batches = [(gt_p[a:b], pred_p[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    assert metric_of(batches, n, mode).compute() == whole
    # the same batches on two "ranks", merged as torchmetrics syncs sum states
    half = len(batches) // 2
    rank0, rank1 = metric_of(batches[:half], n, mode), metric_of(batches[half:], n, mode)
    rank1.merge_state(rank0)
    assert rank1.compute() == whole


@given(data=label_maps(), mode=st.sampled_from(MODES))
def test_perfect_prediction(data: tuple[np.ndarray, ...], mode: str) -> None:
    gt, noise, n = data
    valid = (gt >= 0) & (gt < n)
    pred = np.where(valid, gt, noise)  # right at every scored pixel, anything elsewhere
    got = metric_of([(gt, pred)], n, mode).compute()
    assert got["frames_dropped"] == 0 and got["extra_channel_pixels"] == 0
    assert got["pixels_scored"] == int(valid.sum())
    assert one(got["per_pixel_acc"]) if valid.any() else got["per_pixel_acc"] == 0.0
    present = set(gt[valid].tolist())
    for i, name in enumerate(names(n)):
        for key in (
            "acc",
            "iou",
        ):  # 1 for a class that occurs, 0 (averaged in) for one that does not
            v = got["per_class"][name][key]
            assert one(v) if i in present else v == 0.0
    frames = per_image_scores(torch.from_numpy(pred), torch.from_numpy(gt), n, mode)  # type: ignore[arg-type]
    for i, scores in enumerate(frames):
        assert not scores["dropped"]
        v = scores["per_pixel_acc"]
        assert one(v) if valid[i].any() else v == 0.0


@given(data=label_maps(), mode=st.sampled_from(MODES))
def test_scores_bounded_and_counts_consistent(data: tuple[np.ndarray, ...], mode: str) -> None:
    gt, pred, n = data
    m = metric_of([(gt, pred)], n, mode)
    got = m.compute()
    values = [got["per_pixel_acc"], got["per_class_acc"], got["class_iou"]]
    values += [v for d in got["per_class"].values() for v in d.values()]
    for s in per_image_scores(torch.from_numpy(pred), torch.from_numpy(gt), n, mode):  # type: ignore[arg-type]
        values += [s["per_pixel_acc"], s["per_class_acc"], s["class_iou"]]
    assert all(0.0 <= v <= 1.0 for v in values)
    # the confusion matrix holds exactly the valid pixels of the frames that were not dropped
    valid = (gt >= 0) & (gt < n)
    event = (valid & (gt == n - 1) & (pred == n)).reshape(len(gt), -1).any(axis=1)
    assert got["frames_dropped"] == int(event.sum())  # counted in both modes
    frame_dropped = event if mode == "original" else np.zeros_like(event)
    scored = int(valid[~frame_dropped].sum())
    assert int(m.hist.sum()) == got["pixels_scored"] == scored
    assert got["pixels_dropped"] == int(valid[frame_dropped].sum())
    assert got["pixels_ignored"] == int((~valid).sum())
    assert got["pixels_scored"] + got["pixels_ignored"] + got["pixels_dropped"] == gt.size
    assert got["pixels_unknown_label"] == int((~valid & (gt != IGNORE)).sum())
    assert got["frames"] == len(gt)
