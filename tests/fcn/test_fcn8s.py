"""FCN-8s has Caffe's layer names, parameter count and every intermediate size of the deploy net.

Sizes are recorded with forward hooks on the real module (full size, on the meta device: no
memory, no arithmetic) and compared with Caffe's published numbers at 1024×2048 and with an
independently written Caffe size formula at other sizes.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from fcn.fcn8s import (
    CAFFE_MEAN_BGR,
    OFFICIAL_PARAMETERS,
    SMALL_ARCH,
    FCN8s,
    FCN8sArch,
    caffe_crop,
    caffe_preprocess,
    predict,
)

CAFFE_NAMES = [f"conv{b}_{i}" for b, d in enumerate((2, 2, 3, 3, 3), 1) for i in range(1, d + 1)]
CAFFE_NAMES += [
    "fc6_cs",
    "fc7_cs",
    "score_fr",
    "upscore2",
    "score_pool4",
    "upscore_pool4",
    "score_pool3",
    "upscore8",
]


def _record_sizes(model: nn.Module, height: int, width: int) -> dict[str, tuple[int, int]]:
    sizes: dict[str, tuple[int, int]] = {}
    handles = [
        m.register_forward_hook(
            lambda _m, _i, out, name=name: sizes.__setitem__(name, tuple(out.shape[-2:]))
        )
        for name, m in model.named_children()
    ]
    device = next(model.parameters()).device
    out = model(torch.empty(1, 3, height, width, device=device))
    for h in handles:
        h.remove()
    sizes["score"] = tuple(out.shape[-2:])
    return sizes


@pytest.fixture(scope="module")
def meta_fcn() -> FCN8s:
    with torch.device("meta"):
        return FCN8s()


def test_official_parameter_count(meta_fcn: FCN8s) -> None:
    assert sum(p.numel() for p in meta_fcn.parameters()) == OFFICIAL_PARAMETERS == 134_473_084


def test_state_dict_keys_are_caffe_layer_names(meta_fcn: FCN8s) -> None:
    layers = list(dict.fromkeys(k.rsplit(".", 1)[0] for k in meta_fcn.state_dict()))
    assert layers == CAFFE_NAMES
    assert all(meta_fcn.get_submodule(n).bias is None for n in CAFFE_NAMES if "upscore" in n)


def test_caffe_sizes_at_1024x2048(meta_fcn: FCN8s) -> None:
    sizes = _record_sizes(meta_fcn, 1024, 2048)
    assert sizes["pool3"] == (153, 281)
    assert sizes["pool4"] == (77, 141)
    assert sizes["pool5"] == (39, 71)
    assert sizes["score_fr"] == (33, 65)
    assert sizes["upscore2"] == (68, 132)
    assert sizes["upscore_pool4"] == (138, 266)
    assert sizes["upscore8"] == (1112, 2136)
    assert sizes["score"] == (1024, 2048)


def _caffe_conv(h: int, k: int, p: int = 0, s: int = 1) -> int:
    return (h + 2 * p - k) // s + 1


def _caffe_pool(h: int, k: int = 2, s: int = 2, p: int = 0) -> int:
    out = math.ceil((h + 2 * p - k) / s) + 1
    if p and (out - 1) * s >= h + p:  # Caffe's rule: the last window starts inside the image
        out -= 1
    return out


def _caffe_deconv(h: int, k: int, s: int) -> int:
    return (h - 1) * s + k


def _caffe_sizes(h: int) -> dict[str, int]:
    """One spatial dimension through the deploy network, Caffe's arithmetic, crops checked."""
    out = {"conv1_1": _caffe_conv(h, 3, 100)}
    x = out["conv1_1"]
    for b in range(1, 6):
        x = _caffe_pool(_caffe_conv(x, 3, 1))
        out[f"pool{b}"] = x
    out["score_fr"] = _caffe_conv(out["pool5"], 7)
    out["upscore2"] = _caffe_deconv(out["score_fr"], 4, 2)
    assert 5 + out["upscore2"] <= out["pool4"], "score_pool4c crop does not fit"
    out["upscore_pool4"] = _caffe_deconv(out["upscore2"], 4, 2)
    assert 9 + out["upscore_pool4"] <= out["pool3"], "score_pool3c crop does not fit"
    out["upscore8"] = _caffe_deconv(out["upscore_pool4"], 16, 8)
    assert 31 + h <= out["upscore8"], "score crop does not fit"
    out["score"] = h
    return out


@pytest.mark.parametrize(
    "size",
    [
        (1024, 2048),
        (256, 256),
        (500, 375),
        (375, 500),
        (1, 1),
        (31, 47),
        (97, 130),
        (512, 1024),
        (33, 2),
    ],
)
def test_sizes_follow_caffe_arithmetic(meta_fcn: FCN8s, size: tuple[int, int]) -> None:
    got = _record_sizes(meta_fcn, *size)
    ref_h, ref_w = _caffe_sizes(size[0]), _caffe_sizes(size[1])
    for name in ref_h:
        assert got[name] == (ref_h[name], ref_w[name]), name


def test_pools_round_up_and_conv1_pads_100(meta_fcn: FCN8s) -> None:
    pools = [m for m in meta_fcn.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 5 and all(p.ceil_mode and p.kernel_size == p.stride == 2 for p in pools)
    assert meta_fcn.conv1_1.padding == (100, 100)
    assert {meta_fcn.get_submodule(n).padding for n in CAFFE_NAMES[1:13]} == {(1, 1)}


def _reference_forward(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The deploy.prototxt written out with functional ops, layer by layer."""
    blobs = {}
    h = x
    for b, depth in enumerate((2, 2, 3, 3, 3), 1):
        for i in range(1, depth + 1):
            n = f"conv{b}_{i}"
            h = F.relu(
                F.conv2d(
                    h, sd[f"{n}.weight"], sd[f"{n}.bias"], padding=100 if n == "conv1_1" else 1
                )
            )
        h = F.max_pool2d(h, 2, 2, ceil_mode=True)
        blobs[f"pool{b}"] = h
    h = F.relu(F.conv2d(h, sd["fc6_cs.weight"], sd["fc6_cs.bias"]))
    h = F.relu(F.conv2d(h, sd["fc7_cs.weight"], sd["fc7_cs.bias"]))
    score_fr = F.conv2d(h, sd["score_fr.weight"], sd["score_fr.bias"])
    up2 = F.conv_transpose2d(score_fr, sd["upscore2.weight"], stride=2)
    sp4 = F.conv2d(blobs["pool4"], sd["score_pool4.weight"], sd["score_pool4.bias"])
    fuse4 = up2 + sp4[:, :, 5 : 5 + up2.shape[2], 5 : 5 + up2.shape[3]]
    up4 = F.conv_transpose2d(fuse4, sd["upscore_pool4.weight"], stride=2)
    sp3 = F.conv2d(blobs["pool3"], sd["score_pool3.weight"], sd["score_pool3.bias"])
    fuse3 = up4 + sp3[:, :, 9 : 9 + up4.shape[2], 9 : 9 + up4.shape[3]]
    up8 = F.conv_transpose2d(fuse3, sd["upscore8.weight"], stride=8)
    return up8[:, :, 31 : 31 + x.shape[2], 31 : 31 + x.shape[3]]


def test_forward_matches_functional_reference(tiny_arch: FCN8sArch) -> None:
    torch.manual_seed(0)
    model = FCN8s.from_arch(tiny_arch).eval()
    for p in model.parameters():  # weights large enough that every path matters
        p.data.normal_(0, 0.3)
    x = torch.randn(2, 3, 37, 50) * 50
    with torch.no_grad():
        ours, ref = model(x), _reference_forward(model.state_dict(), x)
    assert ours.shape == (2, 20, 37, 50)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-4)
    assert ref.abs().mean() > 1e-2


def test_preprocess_is_caffe_bgr_minus_mean() -> None:
    rgb = torch.tensor([10, 20, 30], dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, 2, 3)
    out = caffe_preprocess(rgb)
    b, g, r = CAFFE_MEAN_BGR
    expected = torch.tensor([30 - b, 20 - g, 10 - r]).view(1, 3, 1, 1).expand(2, 3, 2, 3)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(caffe_preprocess(rgb.float()), out)


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.zeros(3, 4, 4, dtype=torch.uint8), "N×3×H×W"),
        (torch.zeros(1, 4, 4, 4, dtype=torch.uint8), "N×3×H×W"),
        (torch.full((1, 3, 2, 2), -0.5), "0..255"),
        (torch.zeros(1, 3, 2, 2, dtype=torch.int32), "uint8 or float"),
    ],
)
def test_preprocess_rejects(bad: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        caffe_preprocess(bad)


def test_predict_is_argmax_of_scores(tiny_arch: FCN8sArch) -> None:
    torch.manual_seed(1)
    model = FCN8s.from_arch(tiny_arch).eval()
    images = torch.randint(0, 256, (2, 3, 24, 40), dtype=torch.uint8)
    labels = predict(model, images)
    assert labels.dtype == torch.int64 and labels.shape == (2, 24, 40)
    with torch.no_grad():
        assert torch.equal(labels, model(caffe_preprocess(images)).argmax(1))


def test_architectures() -> None:
    assert FCN8sArch.narrow(8) == FCN8sArch(20, (8, 16, 32, 64, 64), 512)
    assert FCN8sArch.from_dict(SMALL_ARCH.as_dict()) == SMALL_ARCH
    assert FCN8s(channels=(8, 16, 32, 64, 64), fc_channels=128).arch == SMALL_ARCH
    with pytest.raises(ValueError, match="divide"):
        FCN8sArch.narrow(3)
    with pytest.raises(ValueError, match="keys"):
        FCN8sArch.from_dict({"num_classes": 20})
    with pytest.raises(ValueError, match="five"):
        FCN8sArch(channels=(8, 16, 32))  # type: ignore[arg-type]


def test_crop_that_does_not_fit_is_an_error() -> None:
    with pytest.raises(ValueError, match="score: crop of 10×10 at offset 31 does not fit"):
        caffe_crop(torch.zeros(1, 1, 40, 40), 31, (10, 10), "score")
