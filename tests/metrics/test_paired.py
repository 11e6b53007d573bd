"""Paired metrics against independent numpy formulas; batching and merging; LPIPS availability."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from p2pbench.metrics.availability import Unavailable
from p2pbench.metrics.paired import L1, PSNR, SSIM, PairedMetrics, lpips_weights_file, make_lpips


def pair(n: int = 5, size: tuple[int, int] = (32, 40), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, 256, (n, 3, *size), dtype=torch.uint8, generator=g)
    noise = torch.randint(-40, 41, target.shape, generator=g)
    pred = (target.long() + noise).clamp(0, 255).to(torch.uint8)
    return pred, target


def numpy_l1(p: np.ndarray, t: np.ndarray) -> float:
    return float(np.mean([np.abs(a - b).mean() / 255 for a, b in zip(p, t, strict=True)]))


def numpy_psnr(p: np.ndarray, t: np.ndarray) -> float:
    return float(
        np.mean(
            [10 * np.log10(255.0**2 / np.mean((a - b) ** 2)) for a, b in zip(p, t, strict=True)]
        )
    )


def numpy_ssim(p: np.ndarray, t: np.ndarray, k: int = 11, sigma: float = 1.5) -> float:
    """Gaussian-window SSIM at every pixel (borders reflect-padded), mean over channels, pixels."""
    x = np.arange(k) - (k - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    scores = []
    for a, b in zip(p, t, strict=True):

        def filt(img: np.ndarray) -> np.ndarray:
            padded = np.pad(img, ((0, 0), (k // 2, k // 2), (k // 2, k // 2)), mode="reflect")
            win = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))
            return np.einsum("chwij,ij->chw", win, w)

        mx, my = filt(a), filt(b)
        vx, vy = np.maximum(filt(a * a) - mx**2, 0), np.maximum(filt(b * b) - my**2, 0)
        cxy = filt(a * b) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        scores.append(s.mean())
    return float(np.mean(scores))


def test_values_equal_numpy_formulas() -> None:
    pred, target = pair()
    p, t = pred.double().numpy(), target.double().numpy()
    expected = {"l1": numpy_l1(p, t), "psnr": numpy_psnr(p, t), "ssim": numpy_ssim(p, t)}
    for name, metric, rel in (("l1", L1(), 1e-12), ("psnr", PSNR(), 1e-6), ("ssim", SSIM(), 1e-9)):
        metric.update(pred, target)
        assert metric.compute() == pytest.approx(expected[name], rel=rel), name
    assert 0 < expected["l1"] < 0.1 and 10 < expected["psnr"] < 40 and 0 < expected["ssim"] < 1


def test_closed_forms() -> None:
    target = torch.full((2, 3, 16, 16), 100, dtype=torch.uint8)
    pred = target + 10  # every pixel off by 10
    l1, psnr = L1(), PSNR()
    l1.update(pred, target)
    psnr.update(pred, target)
    assert l1.compute() == pytest.approx(10 / 255, rel=1e-15)
    assert psnr.compute() == pytest.approx(10 * np.log10(255**2 / 100), rel=1e-6)
    same = PairedMetrics(lpips=False)
    same.update(target, target)
    assert same.compute() == {"l1": 0.0, "psnr": float("inf"), "ssim": pytest.approx(1.0)}


def test_batching_and_merging_change_nothing() -> None:
    pred, target = pair(6, seed=1)
    whole = PairedMetrics(lpips=False)
    whole.update(pred, target)
    single = PairedMetrics(lpips=False)
    for i in range(6):
        single.update(pred[i : i + 1], target[i : i + 1])
    ranks = [PairedMetrics(lpips=False), PairedMetrics(lpips=False)]
    ranks[0].update(pred[:2], target[:2])
    ranks[1].update(pred[2:], target[2:])
    for name, m in ranks[0].metrics.items():
        m.merge_state(ranks[1].metrics[name])  # type: ignore[union-attr]
    expected = whole.compute()
    for other in (single, ranks[0]):
        assert other.compute() == pytest.approx(expected, rel=1e-12)


def test_input_checks() -> None:
    pred, target = pair(2)
    with pytest.raises(ValueError, match="quantize_uint8"):
        L1().update(pred.float(), target)
    with pytest.raises(ValueError, match="differ in shape"):
        SSIM().update(pred[:, :, :16], target)
    with pytest.raises(ValueError, match="no images"), pytest.warns(UserWarning, match="before"):
        PSNR().compute()


def test_lpips_is_unavailable_without_local_weights(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    result = make_lpips("alex")
    assert isinstance(result, Unavailable)
    assert lpips_weights_file("alex") in result.reason and str(tmp_path) in result.reason
    metrics = PairedMetrics()
    pred, target = pair(2)
    metrics.update(pred, target)
    assert metrics.compute()["lpips"] == {"available": False, "reason": result.reason}
    with pytest.raises(ValueError, match="alex, vgg, squeeze"):
        make_lpips("resnet")


def test_lpips_when_its_weights_are_present() -> None:
    metric = make_lpips("alex")
    if isinstance(metric, Unavailable):
        pytest.skip(f"LPIPS weights not available locally: {metric.reason[:80]}...")
    pred, target = pair(2, size=(64, 64))
    metric.update(target, target)
    assert metric.compute() == pytest.approx(0.0, abs=1e-6)
