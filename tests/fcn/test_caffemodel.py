"""Caffemodels written by the independent test writer read back exactly; broken ones fail clearly.

Every file has the deploy network's real layer names at tiny widths (conftest `TINY`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from fcn.caffemodel import CaffeModelError, fcn8s_state_dict, parse_caffemodel, read_caffemodel
from fcn.fcn8s import FCN8s, FCN8sArch

ENCODINGS = {
    "layer": {},
    "layer-unpacked": {"packed": False, "packed_dims": False},
    "layer-double": {"double": True},
    "v1-layers": {"legacy": True},
    "v1-layers-unpacked-double": {"legacy": True, "packed": False, "double": True},
}


def _expected(writer: ModuleType, layers: list, seed: int) -> dict[str, np.ndarray]:
    values = writer.hashed_values(seed)
    out = {}
    for spec in layers:
        for i, (key, shape) in enumerate(zip(("weight", "bias"), spec.blob_shapes, strict=False)):
            count = int(np.prod(shape))
            out[f"{spec.name}.{key}"] = values(spec.name, i, 0, count).reshape(shape)
    return out


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_round_trip_holds_exactly_the_written_values(
    writer: ModuleType, tiny_layers: list, tiny_arch: FCN8sArch, tmp_path: Path, encoding: str
) -> None:
    enc = writer.Encoding(**ENCODINGS[encoding])
    path = tmp_path / "tiny.caffemodel"
    with open(path, "wb") as f:
        writer.write_caffemodel(f, tiny_layers, writer.hashed_values(7), enc)
    net = read_caffemodel(path)
    assert net.name == "FCN8s"
    assert net.layer_format == ("layers (V1)" if enc.legacy else "layer")
    state = fcn8s_state_dict(net, tiny_arch)
    model = FCN8s.from_arch(tiny_arch)
    assert list(state) == list(model.state_dict())
    for key, want in _expected(writer, tiny_layers, 7).items():
        assert state[key].dtype == torch.float32
        np.testing.assert_array_equal(state[key].numpy(), want, err_msg=key)
    model.load_state_dict(state)  # strict: every key and shape fits


def _tiny_bytes(writer: ModuleType, layers: list, **encoding: bool) -> bytes:
    return writer.encode_caffemodel(layers, writer.hashed_values(0), writer.Encoding(**encoding))


def _replace(layers: list, name: str, **changes: object) -> list:
    return [dataclasses.replace(s, **changes) if s.name == name else s for s in layers]


def _error(data: bytes, arch: FCN8sArch) -> str:
    with pytest.raises(CaffeModelError) as info:
        fcn8s_state_dict(parse_caffemodel(data, source="test.caffemodel"), arch)
    return str(info.value)


def test_truncated_file_names_the_layer(
    writer: ModuleType, tiny_layers: list, tiny_arch: FCN8sArch
) -> None:
    data = _tiny_bytes(writer, tiny_layers)
    fc6 = next(layer for layer in parse_caffemodel(data).layers if layer.name == "fc6_cs")
    cut = fc6.blobs[0].offset + 100
    message = _error(data[:cut], tiny_arch)
    assert "inside layer 'fc6_cs'" in message and "truncated" in message
    assert f"size {cut:,} bytes" in message


def test_file_cut_between_layers_reports_missing_layers(
    writer: ModuleType, tiny_layers: list, tiny_arch: FCN8sArch
) -> None:
    data = _tiny_bytes(writer, tiny_layers)
    score_fr = next(layer for layer in parse_caffemodel(data).layers if layer.name == "score_fr")
    message = _error(data[: score_fr.offset], tiny_arch)
    assert "missing parameter layers ['score_fr', 'upscore2'" in message


@pytest.mark.parametrize(
    "byte, problem",
    [(0x00, "field number 0"), (0x3F, "wire type 7 does not exist"), (0x3B, "groups")],
)
def test_corrupt_tag_names_the_layer(
    writer: ModuleType, tiny_layers: list, tiny_arch: FCN8sArch, byte: int, problem: str
) -> None:
    data = bytearray(_tiny_bytes(writer, tiny_layers))
    conv3_1 = next(
        layer for layer in parse_caffemodel(bytes(data)).layers if layer.name == "conv3_1"
    )
    data[conv3_1.blobs[1].offset] = byte  # the bias blob's key
    message = _error(bytes(data), tiny_arch)
    assert "layer 'conv3_1'" in message and problem in message and "corrupt" in message
    assert f"at byte {conv3_1.blobs[1].offset:,}" in message


def test_not_a_caffemodel(tiny_arch: FCN8sArch) -> None:
    message = _error(b"<html><body>404 Not Found</body></html>", tiny_arch)
    assert "not a binary caffemodel" in message and "<html>" in message


def test_shape_mismatch_names_layer_expected_and_found(
    writer: ModuleType, tiny_layers: list, tiny_arch: FCN8sArch
) -> None:
    layers = _replace(tiny_layers, "conv3_2", blob_shapes=((8, 8, 5, 5), (8,)))
    message = _error(_tiny_bytes(writer, layers), tiny_arch)
    assert (
        "layer 'conv3_2' weight (blob 0) has shape (8, 8, 5, 5), expected (8, 8, 3, 3)" in message
    )


def test_legacy_shapes_compare_padded_to_four_dims(
    writer: ModuleType, tiny_layers: list, tiny_arch: FCN8sArch
) -> None:
    layers = _replace(tiny_layers, "score_fr", blob_shapes=((20, 16, 1, 1), (21,)))
    message = _error(_tiny_bytes(writer, layers, legacy=True), tiny_arch)
    assert (
        "layer 'score_fr' bias (blob 1) has shape (1, 1, 1, 21), expected (1, 1, 1, 20)" in message
    )


def test_missing_layer(writer: ModuleType, tiny_layers: list, tiny_arch: FCN8sArch) -> None:
    layers = [s for s in tiny_layers if s.name != "score_pool3"]
    assert "missing parameter layers ['score_pool3']" in _error(
        _tiny_bytes(writer, layers), tiny_arch
    )


def test_extra_parameter_layer(writer: ModuleType, tiny_layers: list, tiny_arch: FCN8sArch) -> None:
    layers = [*tiny_layers, writer.LayerSpec("fc8", "Convolution", ((20, 16, 1, 1), (20,)))]
    assert "unexpected parameter layers ['fc8']" in _error(_tiny_bytes(writer, layers), tiny_arch)


def test_duplicate_parameter_layer(
    writer: ModuleType, tiny_layers: list, tiny_arch: FCN8sArch
) -> None:
    layers = [*tiny_layers, next(s for s in tiny_layers if s.name == "upscore8")]
    assert "two layers named 'upscore8'" in _error(_tiny_bytes(writer, layers), tiny_arch)


def test_deconvolution_with_a_bias_blob(
    writer: ModuleType, tiny_layers: list, tiny_arch: FCN8sArch
) -> None:
    layers = _replace(tiny_layers, "upscore2", blob_shapes=((20, 20, 4, 4), (20,)))
    assert "layer 'upscore2' has 2 blobs, expected 1 (weight)" in _error(
        _tiny_bytes(writer, layers), tiny_arch
    )


def test_wrong_layer_type(writer: ModuleType, tiny_layers: list, tiny_arch: FCN8sArch) -> None:
    layers = _replace(tiny_layers, "upscore8", type="Convolution")
    assert "layer 'upscore8' has type 'Convolution', expected 'Deconvolution'" in _error(
        _tiny_bytes(writer, layers), tiny_arch
    )


def test_blob_whose_values_do_not_fill_its_shape(writer: ModuleType) -> None:
    shape = writer.delimited(7, writer.delimited(1, writer.varint(2) + writer.varint(2)))
    blob = shape + writer.delimited(5, np.zeros(3, "<f4").tobytes())
    layer = writer.delimited(1, b"conv1_1") + writer.delimited(7, blob)
    with pytest.raises(
        CaffeModelError,
        match=r"layer 'conv1_1'.*blob 0: shape \(2, 2\) needs "
        r"4 values, the blob holds 3",
    ):
        parse_caffemodel(writer.delimited(100, layer))


def test_empty_and_layerless_files(writer: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "empty.caffemodel").write_bytes(b"")
    with pytest.raises(CaffeModelError, match="empty"):
        read_caffemodel(tmp_path / "empty.caffemodel")
    with pytest.raises(CaffeModelError, match="no layers found"):
        parse_caffemodel(writer.delimited(1, b"just a name"))


def test_both_layer_formats_at_once(writer: ModuleType) -> None:
    data = writer.delimited(100, writer.delimited(1, b"a")) + writer.delimited(2, b"")
    with pytest.raises(CaffeModelError, match="both `layer` and legacy `layers`"):
        parse_caffemodel(data)
