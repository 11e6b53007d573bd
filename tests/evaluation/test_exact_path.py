"""The default evaluation path (channels-last, inference mode, batched, worker processes)
against the exact path (fp32 NCHW): generator outputs, FCN argmax pixels and InceptionV3
features within the stated tolerances, and whole results equal."""

from __future__ import annotations

from pathlib import Path

import torch

from fcn.fcn8s import predict
from p2pbench.data import build_dataset, quantize_uint8
from p2pbench.evaluation import GeneratorModule, RealImages, RunSpec, ScoreSpec, evaluate
from p2pbench.evaluation.segmenters import load_segmenter
from p2pbench.metrics.encoders.inception import build_extractor
from p2pbench.protocols import get_protocol
from reference_models import build_generator, translate

ARGMAX_AGREEMENT = 0.9999  # the bound: ≥ 99.99 % of FCN argmax pixels
FEATURE_RTOL = 1e-5  # of the largest |feature|


def _val_images(n: int) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    protocol = get_protocol("synthcity")
    data = build_dataset(
        "synthcity",
        protocol.split,
        size=protocol.image_size,
        seed=0,
        n=n,
        direction=None,
        data_root=None,
    )
    samples = [data[i] for i in range(n)]
    inputs = torch.stack([s.input for s in samples])
    photos = quantize_uint8(torch.stack([s.target for s in samples]))
    return inputs, photos, tuple(s.sample_id for s in samples)


def test_the_shipped_segmenter_keeps_its_argmax_in_channels_last() -> None:
    _, photos, _ = _val_images(16)
    module = load_segmenter("fcn8s-synthcity128").module
    exact = predict(module, photos)
    fast = predict(module.to(memory_format=torch.channels_last), photos, channels_last=True)
    agreement = float((exact == fast).double().mean())
    assert agreement >= ARGMAX_AGREEMENT, agreement


def test_generator_outputs_do_not_depend_on_the_memory_format() -> None:
    """Test-time dropout on (masks per sample id, drawn in NCHW order): the uint8 images may
    differ only where float rounding crosses a rounding boundary."""
    inputs, _, ids = _val_images(4)
    g = build_generator("unet128", seed=0, ngf=16)
    exact = translate(g, inputs, mode="paper", sample_ids=ids, seed=3)
    fast = translate(
        g,
        inputs.contiguous(memory_format=torch.channels_last),
        mode="paper",
        sample_ids=ids,
        seed=3,
    )
    torch.testing.assert_close(fast, exact, rtol=0, atol=1e-5)
    same = float((quantize_uint8(fast) == quantize_uint8(exact)).double().mean())
    assert same >= ARGMAX_AGREEMENT, same


def test_inception_features_within_1e_5_of_the_exact_path(inception_weights_file: Path) -> None:
    _, photos, _ = _val_images(4)
    exact = build_extractor("tf", inception_weights_file)(photos)
    fast_extractor = build_extractor("tf", inception_weights_file, channels_last=True)
    fast = fast_extractor(photos)
    norms = [m for m in fast_extractor.net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms == []  # folded into the convolutions on the fast path
    for name in ("pool3", "logits_unbiased"):
        a, b = getattr(exact, name), getattr(fast, name)
        assert float((a - b).abs().max()) <= FEATURE_RTOL * float(a.abs().max()), name


def test_a_whole_evaluation_agrees_with_the_exact_path(inception_weights_file: Path) -> None:
    g = GeneratorModule(build_generator("unet128", seed=0, ngf=16), name="unet128")
    score = ScoreSpec(limit=20, allow_partial_split=True)
    from p2pbench.evaluation import EncoderSpec

    encoder = EncoderSpec(inception_weights=str(inception_weights_file))
    common = dict(protocol="synthcity", score=score, encoder=encoder)
    exact = evaluate(g, run=RunSpec(batch_size=1, exact=True, progress=False), **common)  # type: ignore[arg-type]
    fast = evaluate(g, run=RunSpec(batch_size=5, workers=2, progress=False), **common)  # type: ignore[arg-type]
    assert exact.provenance["compute"]["memory_format"] == "nchw"
    assert fast.provenance["compute"]["memory_format"] == "channels_last"
    assert exact.provenance["data_sha256"] == fast.provenance["data_sha256"]
    for key in ("per_pixel_acc", "per_class_acc", "class_iou", "l1", "psnr"):
        assert abs(fast.metrics[key] - exact.metrics[key]) <= 1e-4 * abs(exact.metrics[key]), key
    assert abs(fast.metrics["fid"] - exact.metrics["fid"]) <= 1e-4 * abs(exact.metrics["fid"])
    real = evaluate(RealImages(), run=RunSpec(workers=1, progress=False), **common)  # type: ignore[arg-type]
    assert real.n_images == 20


def test_fast_math_is_refused_with_the_measured_agreement() -> None:
    import pytest

    with pytest.raises(ValueError, match=r"fcn: 99\.807 % of FCN argmax pixels kept"):
        evaluate(RealImages(), run=RunSpec(fast_math="bf16", progress=False))
    with pytest.raises(ValueError, match="TF32 exists on NVIDIA GPUs only"):
        evaluate(RealImages(), score=ScoreSpec(metrics=("fcn",)), run=RunSpec(fast_math="tf32"))
    with pytest.raises(ValueError, match="applies to the fcn and inception metrics only"):
        evaluate(RealImages(), score=ScoreSpec(metrics=("paired",)), run=RunSpec(fast_math="bf16"))


def test_generate_refuses_fast_math_instead_of_ignoring_it(tmp_path: Path) -> None:
    import pytest

    from p2pbench.evaluation import generate

    g = GeneratorModule(build_generator("unet128", seed=0, ngf=4), name="unet128")
    with pytest.raises(ValueError, match="applies to the metric networks of eval"):
        generate(g, tmp_path / "out", run=RunSpec(fast_math="bf16", progress=False))
    assert not (tmp_path / "out").exists()
