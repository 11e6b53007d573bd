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


# ----------------------------------------------------------------------------- LPIPS
# LPIPS (Zhang et al. 2018) of images x0, x1 with feature layers l = 1..L of a backbone:
#     d(x0, x1) = Σ_l mean_{h,w} Σ_c w_{l,c} (f̂0_{l,chw} − f̂1_{l,chw})²,
# f̂ the features unit-normalised over channels at each position, w_l the learned 1×1 weights.
# The inputs are [-1, 1] images shifted and scaled per channel by the constants below.
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
ALEX_TAPS = (1, 4, 7, 9, 11)  # the ReLU after each of AlexNet's five convolutions
LPIPS_REL = 1e-5  # float32 network under test against this float64 one (measured: 3.2e-7)


def seeded_alexnet_features(seed: int = 0) -> torch.nn.Sequential:
    """torchvision's AlexNet feature layers with seeded random weights (nothing downloaded)."""
    import torchvision

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return torchvision.models.alexnet(weights=None).features.eval()


def shipped_lpips_weights() -> list[np.ndarray]:
    """The five learned 1×1 layer weights LPIPS ships (torchmetrics' lpips_models/alex.pth)."""
    from pathlib import Path

    import torchmetrics.functional.image.lpips as tm_lpips

    path = Path(tm_lpips.__file__).parent / "lpips_models" / "alex.pth"
    state = torch.load(path, map_location="cpu", weights_only=True)
    return [state[f"lin{k}.model.1.weight"].double().flatten().numpy() for k in range(5)]


def reference_lpips(pred: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """Per-image LPIPS of uint8 N×3×H×W images, in float64, from the formula above."""
    layers = [m.double() for m in seeded_alexnet_features()][: ALEX_TAPS[-1] + 1]
    weights = shipped_lpips_weights()
    shift = torch.tensor(LPIPS_SHIFT, dtype=torch.float64).view(1, 3, 1, 1)
    scale = torch.tensor(LPIPS_SCALE, dtype=torch.float64).view(1, 3, 1, 1)

    def features(x: torch.Tensor) -> list[np.ndarray]:
        h = ((x.double() - 127.5) / 127.5 - shift) / scale
        taps = []
        with torch.no_grad():
            for i, layer in enumerate(layers):
                h = layer(h)
                if i in ALEX_TAPS:
                    taps.append(h.clone().numpy())
        return taps

    total = np.zeros(pred.shape[0])
    for f0, f1, w in zip(features(pred), features(target), weights, strict=True):
        u0 = f0 / (np.sqrt((f0**2).sum(axis=1, keepdims=True)) + 1e-10)
        u1 = f1 / (np.sqrt((f1**2).sum(axis=1, keepdims=True)) + 1e-10)
        per_position = np.einsum("c,nchw->nhw", w, (u0 - u1) ** 2)
        total += per_position.mean(axis=(1, 2))
    return total


@pytest.fixture
def offline_lpips(tmp_path, monkeypatch):
    """`make_lpips` as p2pbench calls it, its AlexNet backbone seeded instead of downloaded.

    The backbone file only has to exist for `make_lpips`; torchvision's loader is replaced by
    one that returns the seeded network, so the learned 1×1 weights are LPIPS's real ones.
    """
    import torchmetrics.functional.image.lpips as tm_lpips

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / lpips_weights_file("alex")).write_bytes(b"")

    def backbone(net: str, pretrained: bool = False) -> torch.nn.Sequential:
        assert net == "alexnet", net
        return seeded_alexnet_features()

    monkeypatch.setattr(tm_lpips, "_get_tv_model_features", backbone)

    def build():
        metric = make_lpips("alex")
        assert not isinstance(metric, Unavailable), metric
        return metric

    return build


def lpips_of(build, pred: torch.Tensor, target: torch.Tensor) -> float:
    metric = build()
    metric.update(pred, target)
    return metric.compute()


def test_lpips_matches_an_independent_implementation(offline_lpips) -> None:
    pred, target = pair(5, size=(64, 64), seed=3)
    expected = reference_lpips(pred, target)
    assert expected.min() > 1e-3  # a comparison of something, not of zeros
    per_image = [lpips_of(offline_lpips, pred[i : i + 1], target[i : i + 1]) for i in range(5)]
    np.testing.assert_allclose(per_image, expected, rtol=LPIPS_REL)
    metric = offline_lpips()
    metric.update(pred[:3], target[:3])  # the mean over images, whatever the batches
    metric.update(pred[3:], target[3:])
    assert metric.compute() == pytest.approx(expected.mean(), rel=LPIPS_REL)
    lins = metric.inner.net.lins
    for lin, w in zip(lins, shipped_lpips_weights(), strict=True):  # LPIPS's own 1×1 weights
        np.testing.assert_array_equal(lin.model[-1].weight.double().flatten().numpy(), w)


def test_lpips_in_the_paired_metrics_is_that_number(offline_lpips) -> None:
    pred, target = pair(4, size=(48, 64), seed=4)
    metrics = PairedMetrics()
    metrics.update(pred[:1], target[:1])
    metrics.update(pred[1:], target[1:])
    lpips = metrics.compute()["lpips"]
    assert lpips == pytest.approx(reference_lpips(pred, target).mean(), rel=LPIPS_REL)


def test_lpips_properties(offline_lpips) -> None:
    pred, target = pair(3, size=(64, 64), seed=5)
    assert lpips_of(offline_lpips, target, target) == pytest.approx(0.0, abs=1e-7)
    forward = lpips_of(offline_lpips, pred, target)
    assert forward > 1e-3
    assert lpips_of(offline_lpips, target, pred) == pytest.approx(forward, rel=1e-6)
    # a larger perturbation of the same images is farther away
    noise = pred.long() - target.long()
    further = (target.long() + 3 * noise).clamp(0, 255).to(torch.uint8)
    assert lpips_of(offline_lpips, further, target) > forward


@pytest.mark.skipif(
    isinstance(make_lpips("alex"), Unavailable),
    reason="needs torchvision's AlexNet ImageNet weights in the torch hub cache (no download)",
)
def test_lpips_with_the_real_backbone() -> None:
    pred, target = pair(3, size=(64, 64))
    metric = make_lpips("alex")
    metric.update(target, target)
    assert metric.compute() == pytest.approx(0.0, abs=1e-6)
    forward, backward = make_lpips("alex"), make_lpips("alex")
    forward.update(pred, target)
    backward.update(target, pred)
    assert forward.compute() > 1e-3
    assert backward.compute() == pytest.approx(forward.compute(), rel=1e-6)
