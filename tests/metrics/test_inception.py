"""The InceptionV3 extractor against torch-fidelity, pytorch-fid and clean-fid, and its weights.

All with a seeded random-weight network (conftest.py): agreement with the reference libraries
on the same weights checks preprocessing and arithmetic; the real weights are not needed.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from p2pbench.metrics.availability import (
    MetricUnavailableError,
    Unavailable,
    require_available,
)
from p2pbench.metrics.encoders import weights as W
from p2pbench.metrics.encoders.inception import (
    NUM_KEYS,
    PREPROCESSING,
    build_extractor,
    clean_resize,
    find_inception_weights,
    load_inception_weights,
    try_build_extractor,
)
from p2pbench.metrics.encoders.registry import INCEPTION_WEIGHTS
from p2pbench.registry import UnknownNameError

TORCH_FIDELITY_NAME, PYTORCH_FID_NAME = INCEPTION_WEIGHTS.hub_files
ENV_WEIGHTS = INCEPTION_WEIGHTS.env

HAS_PYTORCH_FID = importlib.util.find_spec("pytorch_fid") is not None
HAS_CLEAN_FID = importlib.util.find_spec("cleanfid") is not None


@pytest.fixture(scope="module")
def torch_fidelity_net(inception_weights_file: Path) -> FeatureExtractorInceptionV3:
    return FeatureExtractorInceptionV3(
        "inception-v3-compat",
        ["2048", "logits_unbiased"],
        feature_extractor_weights_path=str(inception_weights_file),
    )


@pytest.fixture
def no_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub, no environment variable: no weights anywhere."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(ENV_WEIGHTS, raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.mark.parametrize("size", [(64, 64), (256, 256), (256, 512), (1024, 1024)])
def test_tf_mode_is_bit_identical_to_torch_fidelity(
    size, torch_fidelity_net, inception_weights_file, make_images
) -> None:
    images = make_images(2, size, seed=sum(size))
    with torch.no_grad():
        pool3, logits = torch_fidelity_net(images)
    ours = build_extractor("tf", inception_weights_file)(images)
    assert ours.pool3.dtype == torch.float64
    assert torch.equal(ours.pool3, pool3.double())
    assert torch.equal(ours.logits_unbiased, logits.double())
    assert pool3.std(dim=0).mean() > 1e-3  # calibrated: the features do not vanish


@pytest.mark.skipif(not HAS_PYTORCH_FID, reason="pytorch-fid not installed (optional reference)")
def test_pytorch_fid_mode_equals_pytorch_fid(
    inception_weights_file, make_images, tmp_path, monkeypatch
) -> None:
    from pytorch_fid.inception import InceptionV3 as PytorchFidInception

    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    shutil.copyfile(inception_weights_file, hub / PYTORCH_FID_NAME)  # its loader: no download
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    reference = PytorchFidInception([3]).eval()
    images = make_images(3, (96, 128), seed=3)
    with torch.no_grad():  # pytorch-fid's input: ToTensor, i.e. float in [0, 1]
        expected = reference(images.float() / 255)[0].flatten(1)
    ours = build_extractor("pytorch-fid", inception_weights_file)(images)
    assert torch.equal(ours.pool3, expected.double())
    tf = build_extractor("tf", inception_weights_file)(images)
    assert not torch.equal(tf.pool3, ours.pool3)  # the modes really differ


@pytest.mark.skipif(not HAS_CLEAN_FID, reason="clean-fid not installed (optional reference)")
@pytest.mark.parametrize("size", [(64, 64), (256, 512)])
def test_clean_mode_resize_equals_clean_fid(size, make_images) -> None:
    from cleanfid.resize import build_resizer

    image = make_images(1, size, seed=5)[0].permute(1, 2, 0).numpy()
    expected = build_resizer("clean")(image)
    ours = clean_resize(image)
    assert ours.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(ours, expected)
    batch = torch.from_numpy(image).permute(2, 0, 1)[None]
    normalised = PREPROCESSING.get("clean")(batch)
    expected_t = (torch.from_numpy(expected).permute(2, 0, 1)[None] - 128) / 128
    assert torch.equal(normalised, expected_t)


def test_unknown_mode_lists_the_valid_ones(inception_weights_file) -> None:
    with pytest.raises(UnknownNameError, match="clean, pytorch-fid, tf"):
        build_extractor("legacy", inception_weights_file)


def test_images_of_several_sizes_and_input_checks(inception_weights_file, make_images) -> None:
    ex = build_extractor("tf", inception_weights_file)
    a, b = make_images(1, 64, seed=1), make_images(1, (80, 48), seed=2)
    mixed = ex([a[0], b[0]])
    assert torch.equal(mixed.pool3[0], ex(a).pool3[0])
    assert torch.equal(mixed.pool3[1], ex(b).pool3[0])
    with pytest.raises(ValueError, match="quantize_uint8"):
        ex(a.float() / 127.5 - 1)
    with pytest.raises(ValueError, match="uint8 N×3×H×W"):
        ex(a[:, :1])


def test_describe_records_mode_and_weights(inception_weights_file) -> None:
    info = build_extractor("clean", inception_weights_file).describe()
    assert info["mode"] == "clean"
    assert info["weights"]["sha256"].startswith(inception_weights_file.name[-12:-4])
    assert info["weights"]["found_by"] == "argument" and info["weights"]["official"] is False


# ---- weights: lookup, checksums, safe loading ----------------------------------------------


def test_missing_weights_message_lists_names_places_and_sources(no_weights) -> None:
    with pytest.raises(W.EncoderWeightsNotFound) as e:
        load_inception_weights()
    msg = str(e.value)
    for text in (
        *INCEPTION_WEIGHTS.hub_files,
        *INCEPTION_WEIGHTS.urls,
        ENV_WEIGHTS,
        "--inception-weights",
        str(no_weights / TORCH_FIDELITY_NAME),
        str(no_weights / PYTORCH_FID_NAME),
    ):
        assert text in msg
    result = try_build_extractor("tf")
    assert isinstance(result, Unavailable) and result.reason == msg
    with pytest.raises(MetricUnavailableError, match="fid: FID, IS and KID need"):
        require_available({"fid": result.as_dict(), "l1": 0.1}, ["fid", "l1"])


def test_explicit_path_and_environment(no_weights, inception_weights_file, monkeypatch) -> None:
    with pytest.raises(W.EncoderWeightsNotFound, match="nope.pth: not a file"):
        find_inception_weights("nope.pth")
    monkeypatch.setenv(ENV_WEIGHTS, str(inception_weights_file))
    assert find_inception_weights() == (inception_weights_file, f"${ENV_WEIGHTS}")
    monkeypatch.setenv(ENV_WEIGHTS, "/does/not/exist.pth")
    with pytest.raises(W.EncoderWeightsNotFound, match="exist.pth: not a file"):
        find_inception_weights()


def test_hub_file_with_a_wrong_checksum_is_refused(no_weights, inception_weights_file) -> None:
    no_weights.mkdir(parents=True)
    shutil.copyfile(inception_weights_file, no_weights / TORCH_FIDELITY_NAME)
    assert find_inception_weights() == (no_weights / TORCH_FIDELITY_NAME, "torch hub cache")
    with pytest.raises(W.WeightsChecksumError) as e:
        load_inception_weights()
    assert "name says sha256 6726825d" in str(e.value)
    assert INCEPTION_WEIGHTS.urls[0] in str(e.value) and "rename the file" in str(e.value)
    assert isinstance(try_build_extractor("tf"), Unavailable)


def test_name_hash_check(inception_weights_file, tmp_path) -> None:
    good = load_inception_weights(inception_weights_file)  # named with its own hash prefix
    assert good.sha256.startswith(inception_weights_file.name[-12:-4]) and not good.official
    bad = tmp_path / "weights-inception-2015-12-05-deadbeef.pth"
    shutil.copyfile(inception_weights_file, bad)
    with pytest.raises(W.WeightsChecksumError, match="deadbeef"):
        load_inception_weights(bad)
    custom = tmp_path / "inception-custom.pth"  # no hash in the name: hashed and recorded
    shutil.copyfile(inception_weights_file, custom)
    loaded = load_inception_weights(custom)
    assert loaded.sha256 == good.sha256 and len(loaded.state_dict) == NUM_KEYS


class Payload:
    """A class a weights-only load must refuse to instantiate."""

    def __reduce__(self):  # what an attacker's file would do: call something on load
        return (print, ("unpickled!",))


def test_pickled_objects_are_refused(tmp_path, capsys) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"fc.weight": torch.zeros(1), "x": Payload()}, path)
    with pytest.raises(W.UnsafeWeightsError, match="Python objects other than tensors"):
        load_inception_weights(path)
    assert "unpickled!" not in capsys.readouterr().out
    module = tmp_path / "module.pth"
    torch.save(torch.nn.Linear(2, 2), module)
    with pytest.raises(W.UnsafeWeightsError):
        load_inception_weights(module)


def test_wrong_layouts_are_refused(inception_weights_file, tmp_path) -> None:
    state = torch.load(inception_weights_file, weights_only=True)
    fewer = tmp_path / "fewer.pth"
    torch.save(dict(list(state.items())[:-1]), fewer)
    with pytest.raises(W.EncoderWeightsError, match="566 state_dict entries.*found 565"):
        load_inception_weights(fewer)
    reshaped = tmp_path / "reshaped.pth"
    torch.save({**state, "fc.weight": torch.zeros(10, 2048)}, reshaped)
    with pytest.raises(W.EncoderWeightsError, match="do not fit"):
        build_extractor("tf", reshaped)
    nested = tmp_path / "nested.pth"
    torch.save({"state_dict": state}, nested)
    with pytest.raises(W.EncoderWeightsError, match="flat state_dict"):
        load_inception_weights(nested)
