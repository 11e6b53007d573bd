"""Independent numpy statement of the pix2pix Cityscapes FCN-score arithmetic, for tests.

Follows phillipi/pix2pix @ 89ff2a8, ``scripts/eval_cityscapes``: ``util.py`` ``fast_hist``
(lines 20-29) and ``get_scores`` (lines 31-41), ``evaluate.py`` (line 37: a float64 n x n
accumulator; line 49: ``+=`` one frame at a time). Shares no code with ``p2pbench``; written
from that description, frame by frame, in plain numpy:

- per frame: pixels with 0 <= gt < n; ``np.bincount(n*gt + pred, minlength=n*n)``; a result
  longer than n*n adds 0 (the frame is dropped);
- acc = trace / (sum + 1e-12); class acc = nanmean(diag / (rowsum + 1e-12));
  IoU = nanmean(diag / (rowsum + colsum - diag + 1e-12)).

``separate_hist`` is this project's own variant: channel n is an extra column, nothing dropped.
"""

from __future__ import annotations

import numpy as np


def frame_hist(gt: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray | int:
    """One frame's n x n counts, or 0 when the bincount comes out longer than n*n."""
    gt = gt.ravel()
    pred = pred.ravel()
    inside = np.nonzero((gt >= 0) & (gt < n))[0]
    counts = np.bincount(n * gt[inside].astype(np.int64) + pred[inside], minlength=n * n)
    if counts.size != n * n:
        return 0
    return counts.reshape(n, n)


def original_hist(gts: np.ndarray, preds: np.ndarray, n: int) -> np.ndarray:
    """Dataset histogram exactly as ``evaluate.py`` accumulates it (float64)."""
    total = np.zeros((n, n))
    for gt, pred in zip(gts, preds, strict=True):
        total += frame_hist(gt, pred, n)
    return total


def separate_hist(gts: np.ndarray, preds: np.ndarray, n: int) -> np.ndarray:
    """n x (n+1) histogram: column n holds valid pixels predicted as the extra channel."""
    total = np.zeros((n, n + 1), dtype=np.int64)
    for gt, pred in zip(gts, preds, strict=True):
        for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist(), strict=True):
            if 0 <= g < n:
                total[g, p] += 1
    return total


def scores(hist: np.ndarray) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    """(pixel acc, mean class acc, mean class IoU, class accs, class IoUs) of a histogram.

    Column n of an n x (n+1) histogram counts only in the row sums (it is never correct).
    """
    hist = np.asarray(hist, dtype=np.float64)
    n = hist.shape[0]
    square = hist[:, :n]
    diag = np.diag(square)
    acc = diag.sum() / (hist.sum() + 1e-12)
    class_acc = diag / (hist.sum(axis=1) + 1e-12)
    iou = diag / (hist.sum(axis=1) + square.sum(axis=0) - diag + 1e-12)
    return float(acc), float(np.nanmean(class_acc)), float(np.nanmean(iou)), class_acc, iou


def event_counts(
    gts: np.ndarray, preds: np.ndarray, n: int, ignore_index: int, separate: bool
) -> dict[str, int]:
    """Per-frame loop counting what the original does with each pixel."""
    c = dict.fromkeys(
        (
            "frames",
            "frames_dropped",
            "pixels_scored",
            "pixels_ignored",
            "pixels_unknown_label",
            "pixels_dropped",
            "extra_channel_pixels",
            "extra_channel_remapped",
        ),
        0,
    )
    for gt, pred in zip(gts, preds, strict=True):
        gt = gt.ravel()
        pred = pred.ravel()
        ok = (gt >= 0) & (gt < n)
        extra = ok & (pred == n)
        dropped = isinstance(frame_hist(gt, pred, n), int)
        c["frames"] += 1
        c["frames_dropped"] += int(dropped)
        c["pixels_ignored"] += int((~ok).sum())
        c["pixels_unknown_label"] += int((~ok & (gt != ignore_index)).sum())
        c["extra_channel_pixels"] += int(extra.sum())
        if separate or not dropped:
            c["pixels_scored"] += int(ok.sum())
        if not separate and dropped:
            c["pixels_dropped"] += int(ok.sum())
        if not separate and not dropped:
            c["extra_channel_remapped"] += int(extra.sum())
    return c
