"""FCN-score: pixel accuracy, class accuracy and class IoU from one dataset-wide confusion matrix.

Reproduces the arithmetic of the pix2pix Cityscapes evaluation (phillipi/pix2pix @ 89ff2a8,
``scripts/eval_cityscapes/util.py`` lines 20-41, ``evaluate.py`` lines 37, 49, 57), with n the
number of scored classes (19) and rows = ground truth, columns = prediction:

- per frame (``fast_hist``): keep pixels with ``0 <= gt < n``; ``bc = bincount(n*gt + pred,
  minlength=n**2)``; if ``len(bc) != n**2`` the frame adds 0, i.e. it is dropped whole;
- ``hist`` (float64 in the original, int64 here) is the sum of those over all frames;
- per-pixel acc = ``trace / (sum + 1e-12)``;
- per-class acc = ``nanmean(diag / (rowsum + 1e-12))``;
- class IoU = ``nanmean(diag / (rowsum + colsum - diag + 1e-12))``.

The +1e-12 makes an absent class score 0 and be averaged in, so ``nanmean`` is a plain mean.

The segmenter has n+1 output channels, so a prediction can be n. In ``"original"`` mode that
is handled exactly as the original: at a valid pixel of class c < n-1 the index ``n*c + n``
lands in cell (c+1, 0) ("remapped"); at a pixel of class n-1 it is ``n**2`` and the frame is
dropped. In ``"separate"`` mode channel n is its own column of an n x (n+1) matrix: those pixels
count as errors and nothing is remapped or dropped. Both modes count every such event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor
from torchmetrics import Metric

ExtraChannel = Literal["original", "separate"]
EXTRA_CHANNEL_MODES: tuple[str, ...] = ("original", "separate")

COUNT_NAMES: tuple[str, ...] = (
    "frames",  # frames seen
    "frames_dropped",  # frames the original rule drops (a class n-1 pixel predicted as n)
    "pixels_scored",  # pixels in the histogram (== hist.sum())
    "pixels_ignored",  # gt outside [0, n)
    "pixels_unknown_label",  # subset of pixels_ignored whose gt is not ignore_index either
    "pixels_dropped",  # valid pixels lost with a dropped frame ("original" mode only)
    "extra_channel_pixels",  # valid pixels predicted as channel n (dropped frames included)
    "extra_channel_remapped",  # of those, counted as (c+1, 0) ("original" mode only)
)


def _check_inputs(pred: Tensor, target: Tensor, num_classes: int) -> None:
    for name, t in (("pred", pred), ("target", target)):
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise TypeError(
                f"expected an integer {name} tensor of class indices, found dtype {t.dtype}; "
                f"pass argmax(logits, dim=1) as pred and trainId label maps as target"
            )
    if pred.shape != target.shape or pred.ndim != 3:
        raise ValueError(
            f"expected pred and target of the same shape (N, H, W), found pred "
            f"{tuple(pred.shape)} and target {tuple(target.shape)}; score predictions at the "
            f"label's resolution (labels are never resized) and add a batch dim with x[None]"
        )
    if pred.device != target.device:
        raise ValueError(
            f"expected pred and target on one device, found {pred.device} and {target.device}"
        )
    if pred.numel() > 0:
        lo, hi = (int(v) for v in torch.aminmax(pred))
        if lo < 0 or hi > num_classes:
            raise ValueError(
                f"expected predictions in [0, {num_classes}] (num_classes scored classes plus "
                f"the segmenter's extra channel), found values in [{lo}, {hi}]; check "
                f"num_classes and that pred is an argmax over the segmenter's channels"
            )


def _check_mode(extra_channel: str) -> None:
    if extra_channel not in EXTRA_CHANNEL_MODES:
        raise ValueError(
            f"unknown extra_channel mode {extra_channel!r}; choose one of {EXTRA_CHANNEL_MODES}"
        )


def confusion_update(
    pred: Tensor,
    target: Tensor,
    num_classes: int,
    extra_channel: ExtraChannel = "original",
    ignore_index: int = 255,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Confusion-matrix contribution of a batch of frames, and its event counts.

    ``pred`` and ``target`` are integer (N, H, W) tensors; pred values lie in [0, num_classes].
    Returns the int64 histogram (n x n, or n x (n+1) in ``"separate"`` mode) on the inputs'
    device and a dict of 0-dim int64 tensors keyed by ``COUNT_NAMES``. The drop rule applies
    to each frame separately, so the result does not depend on how frames are batched.
    """
    _check_mode(extra_channel)
    _check_inputs(pred, target, num_classes)
    n = num_classes
    pred, target = pred.long(), target.long()
    valid = (target >= 0) & (target < n)
    extra = valid & (pred == n)
    dropped = (extra & (target == n - 1)).flatten(1).any(dim=1)
    zero = torch.zeros((), dtype=torch.int64, device=pred.device)
    if extra_channel == "original":
        keep = valid & ~dropped[:, None, None]
        index = n * target[keep] + pred[keep]
        hist = torch.bincount(index, minlength=n * n).reshape(n, n)
        remapped = (extra & keep).sum()
        pixels_dropped = (valid & dropped[:, None, None]).sum()
    else:
        keep = valid
        index = (n + 1) * target[keep] + pred[keep]
        hist = torch.bincount(index, minlength=n * (n + 1)).reshape(n, n + 1)
        remapped = pixels_dropped = zero
    ignored = ~valid
    counts = {
        "frames": zero + pred.shape[0],
        "frames_dropped": dropped.sum(),
        "pixels_scored": keep.sum(),
        "pixels_ignored": ignored.sum(),
        "pixels_unknown_label": (ignored & (target != ignore_index)).sum(),
        "pixels_dropped": pixels_dropped,
        "extra_channel_pixels": extra.sum(),
        "extra_channel_remapped": remapped,
    }
    return hist, counts


def fcn_scores(hist: Tensor) -> dict[str, Any]:
    """The original's three scores from an n x n (or n x (n+1), "separate") histogram.

    Returns ``per_pixel_acc``, ``per_class_acc``, ``class_iou`` (floats) and ``per_class``, a
    list of (acc, iou) per class. Column n, if present, is a wrong prediction for every row.
    """
    n = hist.shape[0]
    if hist.ndim != 2 or hist.shape[1] not in (n, n + 1):
        raise ValueError(f"expected an n x n or n x (n+1) histogram, found {tuple(hist.shape)}")
    h = hist.to(torch.float64)
    diag = torch.diagonal(h[:, :n])
    rows = h.sum(dim=1)
    cols = h[:, :n].sum(dim=0)
    acc = diag.sum() / (h.sum() + 1e-12)
    cl_acc = diag / (rows + 1e-12)
    iou = diag / (rows + cols - diag + 1e-12)
    return {
        "per_pixel_acc": float(acc),
        "per_class_acc": float(cl_acc.mean()),
        "class_iou": float(iou.mean()),
        "per_class": list(zip(cl_acc.tolist(), iou.tolist(), strict=True)),
    }


def per_image_scores(
    pred: Tensor,
    target: Tensor,
    num_classes: int,
    extra_channel: ExtraChannel = "original",
    ignore_index: int = 255,
) -> list[dict[str, Any]]:
    """Each frame's three scores on its own, to find failure cases.

    Each entry also has ``dropped`` (the original rule drops this frame; it then scores 0 in
    "original" mode), ``pixels_scored`` and ``confusion``, the frame's histogram as nested lists
    (summing those of any subset of frames gives that subset's dataset-wide score: the paired
    bootstrap of `p2pbench.metrics.uncertainty` resamples them). Classes absent from a frame
    score 0 and are averaged in, as in the dataset-wide score, so one frame's per-class numbers
    are low by construction.
    """
    _check_mode(extra_channel)
    _check_inputs(pred, target, num_classes)
    out = []
    for i in range(pred.shape[0]):
        hist, counts = confusion_update(
            pred[i : i + 1], target[i : i + 1], num_classes, extra_channel, ignore_index
        )
        scores = fcn_scores(hist)
        del scores["per_class"]
        scores["dropped"] = bool(counts["frames_dropped"])
        scores["pixels_scored"] = int(counts["pixels_scored"])
        scores["confusion"] = hist.tolist()
        out.append(scores)
    return out


class FCNScore(Metric):
    """Dataset-wide FCN-score with the original pix2pix arithmetic and counted quirks.

    ``update(pred, target)`` takes integer (N, H, W) predictions in [0, num_classes] and
    trainId targets (anything outside [0, num_classes) is ignored, as in the original).
    ``compute()`` returns the three scores, ``per_class`` {name: {"acc", "iou"}} and the counts
    of ``COUNT_NAMES``, as plain Python numbers. All states are sums, so batching, sharding and
    multi-process evaluation give identical results. Extra keyword arguments go to
    ``torchmetrics.Metric``, which rejects unknown ones.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    hist: Tensor

    def __init__(
        self,
        num_classes: int,
        class_names: Sequence[str],
        ignore_index: int = 255,
        extra_channel: ExtraChannel = "original",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_mode(extra_channel)
        if num_classes < 1 or len(class_names) != num_classes:
            raise ValueError(
                f"expected num_classes >= 1 and one class name per class, found "
                f"num_classes={num_classes} and {len(class_names)} names"
            )
        if 0 <= ignore_index < num_classes:
            raise ValueError(
                f"expected ignore_index outside [0, {num_classes}), found {ignore_index}; the "
                f"original scores every label in that range (Cityscapes trainIds use 255)"
            )
        self.num_classes = num_classes
        self.class_names = tuple(class_names)
        self.ignore_index = ignore_index
        self.extra_channel: ExtraChannel = extra_channel
        cols = num_classes + (extra_channel == "separate")
        self.add_state(
            "hist", torch.zeros(num_classes, cols, dtype=torch.int64), dist_reduce_fx="sum"
        )
        for name in COUNT_NAMES:
            self.add_state(name, torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add a batch of frames (N, H, W) to the histogram and the counts."""
        hist, counts = confusion_update(
            pred, target, self.num_classes, self.extra_channel, self.ignore_index
        )
        self.hist += hist.to(self.hist.device)
        for name, value in counts.items():
            setattr(self, name, getattr(self, name) + value.to(self.hist.device))

    def compute(self) -> dict[str, Any]:
        """Scores, per-class scores and counts, as plain Python numbers."""
        scores = fcn_scores(self.hist)
        per_class = scores.pop("per_class")
        scores["per_class"] = {
            name: {"acc": acc, "iou": iou}
            for name, (acc, iou) in zip(self.class_names, per_class, strict=True)
        }
        scores.update({name: int(getattr(self, name)) for name in COUNT_NAMES})
        return scores
