"""Property tests of the image <-> tensor conversions and the aligned A|B loader.

``p2pbench.data.sample`` documents one rounding rule back to 8 bits,
``u = round((clamp(x, -1, 1) + 1) / 2 * 255)`` in float32 with halves to even, and
``to_tensor_image`` as its exact inverse on uint8 images. The reference here restates that
rule element by element with numpy float32 scalars and Python's ``round`` (also halves to
even). ``p2pbench.data.aligned`` documents pair images of W = 2·H (two square halves, A on
the left), AtoB giving input = A, 8-bit pixels (16-bit and float images refused rather than
truncated), 8-bit label maps, and resizing both halves to size×size.
"""

from __future__ import annotations

import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from p2pbench.data.aligned import AlignedDataset, read_label
from p2pbench.data.sample import quantize_uint8, to_tensor_image, to_uint8

F32 = np.float32


def reference_quantize(values: np.ndarray) -> np.ndarray:
    """The documented rule, one float32 operation at a time, rounding halves to even."""
    out = []
    for v in values.astype(np.float32).ravel().tolist():
        c = min(max(F32(v), F32(-1.0)), F32(1.0))
        t = (c + F32(1.0)) / F32(2.0) * F32(255.0)
        out.append(round(float(t)))
    return np.array(out, dtype=np.int64).reshape(values.shape)


def images(max_side: int = 6) -> st.SearchStrategy[np.ndarray]:
    shape = st.tuples(st.integers(1, max_side), st.integers(1, max_side), st.just(3))
    return hnp.arrays(np.uint8, shape)


float32s = st.floats(width=32, allow_nan=False)  # infinities and out-of-range values included


@st.composite
def near_ties(draw: Any) -> float:
    """float32 values at and next to the inputs that map to k + 0.5, and to the edges of [-1, 1]."""
    k = draw(st.integers(-2, 256))
    x = F32((2 * k + 1) / 255 - 1)
    for _ in range(draw(st.integers(0, 3))):
        x = np.nextafter(x, F32(draw(st.sampled_from((-2.0, 2.0)))), dtype=np.float32)
    return float(x)


# ----------------------------------------------------------------------------- conversions


@given(u8=images())
def test_round_trip_uint8(u8: np.ndarray) -> None:
    x = to_tensor_image(u8)
    assert x.dtype == torch.float32 and tuple(x.shape) == (3, *u8.shape[:2])
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    want = u8.transpose(2, 0, 1).astype(np.float64) / 127.5 - 1.0  # the affine map to [-1, 1]
    assert np.allclose(x.numpy(), want, rtol=0, atol=1e-6)
    assert np.array_equal(quantize_uint8(x).numpy(), u8.transpose(2, 0, 1))
    assert np.array_equal(to_uint8(x), u8)
    assert np.array_equal(to_uint8(x[None]), u8[None])  # N×3×H×W as well
    assert torch.equal(to_tensor_image(Image.fromarray(u8, mode="RGB")), x)  # PIL input


def test_round_trip_every_byte_value() -> None:
    u8 = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    assert np.array_equal(to_uint8(to_tensor_image(u8)), u8)


@settings(max_examples=100)
@given(x=hnp.arrays(np.float32, st.integers(1, 64), elements=float32s | near_ties()))
def test_quantize_follows_the_documented_rule(x: np.ndarray) -> None:
    got = quantize_uint8(torch.from_numpy(x))
    assert got.dtype == torch.uint8
    assert np.array_equal(got.numpy().astype(np.int64), reference_quantize(x))


@given(x=hnp.arrays(np.float32, st.integers(2, 64), elements=float32s | near_ties()))
def test_quantize_is_monotone(x: np.ndarray) -> None:
    q = quantize_uint8(torch.from_numpy(np.sort(x))).numpy().astype(np.int64)
    assert np.all(np.diff(q) >= 0)


@given(x=hnp.arrays(np.float32, st.integers(1, 64), elements=float32s))
def test_quantize_clamps_out_of_range(x: np.ndarray) -> None:
    q = quantize_uint8(torch.from_numpy(x)).numpy()
    assert np.array_equal(q, quantize_uint8(torch.from_numpy(np.clip(x, -1, 1))).numpy())
    assert np.all(q[x >= 1] == 255) and np.all(q[x <= -1] == 0)


@given(x=hnp.arrays(np.float32, st.integers(1, 16), elements=float32s), i=st.integers(0, 15))
def test_quantize_rejects_nan(x: np.ndarray, i: int) -> None:
    x = x.copy()
    x[i % x.size] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        quantize_uint8(torch.from_numpy(x))


# ----------------------------------------------------------------------------- aligned folders


@st.composite
def aligned_pairs(draw: Any) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """1-3 (A, B, label) triples of one random size H×H (square halves), uint8."""
    h = draw(st.integers(1, 8))
    half = hnp.arrays(np.uint8, (h, h, 3))
    label = hnp.arrays(np.uint8, (h, h), elements=st.sampled_from((0, 1, 2, 18, 254, 255)))
    return draw(st.lists(st.tuples(half, half, label), min_size=1, max_size=3))


def write_aligned(root: Path, pairs: list[tuple[np.ndarray, ...]]) -> list[str]:
    (root / "train").mkdir()
    (root / "train_labels").mkdir()
    stems = [f"pair{i:02d}" for i in range(len(pairs))]
    for stem, (a, b, label) in zip(stems, pairs, strict=True):
        Image.fromarray(np.concatenate([a, b], axis=1), mode="RGB").save(
            root / "train" / f"{stem}.png"
        )
        Image.fromarray(label, mode="L").save(root / "train_labels" / f"{stem}.png")
    return stems


def back_to_uint8(x: torch.Tensor) -> np.ndarray:
    return quantize_uint8(x).permute(1, 2, 0).numpy()


@settings(max_examples=30)
@given(pairs=aligned_pairs())
def test_aligned_png_reads_back_as_its_halves(pairs: list[tuple[np.ndarray, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stems = write_aligned(root, pairs)
        ab = AlignedDataset(root, "train", "AtoB")
        ba = AlignedDataset(root, "train", "BtoA")
        assert ab.sample_ids == ba.sample_ids == tuple(stems) and len(ab) == len(pairs)
        for i, (a, b, label) in enumerate(pairs):
            s, t = ab[i], ba[i]
            assert np.array_equal(back_to_uint8(s.input), a)
            assert np.array_equal(back_to_uint8(s.target), b)
            assert torch.equal(t.input, s.target) and torch.equal(t.target, s.input)
            for sample in (s, t):
                assert sample.label is not None and sample.label.dtype == torch.int64
                assert np.array_equal(sample.label.numpy(), label.astype(np.int64))
                assert sample.sample_id == stems[i]


@settings(max_examples=20)
@given(
    pairs=aligned_pairs(),
    size=st.integers(1, 9),
    resize=st.sampled_from(("nearest", "bilinear", "bicubic")),
)
def test_aligned_resize_is_size_by_size_and_keeps_label_ids(
    pairs: list[tuple[np.ndarray, ...]], size: int, resize: str
) -> None:
    """Documented: both halves resized to size×size (`resize` filter), labels nearest."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_aligned(root, pairs)
        ds = AlignedDataset(root, "train", "AtoB", size=size, resize=resize)
        for i, (a, b, label) in enumerate(pairs):
            s = ds[i]
            assert tuple(s.input.shape) == tuple(s.target.shape) == (3, size, size)
            assert s.label is not None and tuple(s.label.shape) == (size, size)
            assert set(s.label.unique().tolist()) <= set(label.ravel().tolist())
            if resize == "nearest":  # nearest neighbour invents no colours either
                for half, got in ((a, s.input), (b, s.target)):
                    colours = {tuple(p) for p in half.reshape(-1, 3).tolist()}
                    assert {tuple(p) for p in back_to_uint8(got).reshape(-1, 3).tolist()} <= colours


@settings(max_examples=20)
@given(h=st.integers(1, 6), half=st.integers(0, 7), direction=st.sampled_from(("AtoB", "BtoA")))
def test_aligned_odd_width_raises(h: int, half: int, direction: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "train").mkdir()
        Image.fromarray(np.zeros((h, 2 * half + 1, 3), np.uint8)).save(root / "train" / "x.png")
        with pytest.raises(ValueError, match=r"even width|W = 2·H"):
            AlignedDataset(root, "train", direction)[0]


def png_rgb16(path: Path, pixels: np.ndarray) -> None:
    """Write H×W×3 uint16 as a 16-bit-per-channel RGB PNG (Pillow cannot write these)."""
    h, w, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)  # bit depth 16, colour type 2 (RGB)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@settings(max_examples=20)
@given(
    pixels=hnp.arrays(
        np.uint16, st.integers(1, 4).map(lambda h: (h, 2 * h)), elements=st.integers(0, 65535)
    )
)
def test_aligned_refuses_16_bit_grey(pixels: np.ndarray) -> None:
    """Documented: 16-bit pixels are refused, not truncated (Pillow reads these as I;16)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "train").mkdir()
        Image.fromarray(pixels).save(root / "train" / "x.png")
        with pytest.raises((ValueError, OSError), match="16-bit|truncated"):
            AlignedDataset(root, "train")[0]


def test_aligned_refuses_16_bit_rgb() -> None:
    """Same contract for 48-bit RGB PNGs: refused (or scaled), never truncated to v >> 8."""
    pixels = np.array([[[0x01FF, 0x00FF, 0xFFFF], [0x0100, 0x80FF, 0x7FFF]]], dtype=np.uint16)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "train").mkdir()
        png_rgb16(root / "train" / "x.png", pixels)
        with Image.open(root / "train" / "x.png") as im:  # the file really is 16-bit RGB
            assert im.mode == "RGB" and "RGB;16B" in str(im.tile[0][3])
        with pytest.raises((ValueError, OSError), match="16-bit|truncated"):
            AlignedDataset(root, "train")[0]


@settings(max_examples=20)
@given(ids=hnp.arrays(np.uint16, st.tuples(st.integers(1, 6), st.integers(1, 6))))
def test_label_maps_must_be_8_bit(ids: np.ndarray) -> None:
    """Documented: an 8-bit trainId PNG; a 16-bit one is refused, never truncated."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "label.png"
        Image.fromarray(ids).save(path)  # mode I;16
        with pytest.raises(OSError, match="8-bit"):
            read_label(path)
        Image.fromarray(ids.astype(np.uint8), mode="L").save(path)
        assert np.array_equal(read_label(path), ids.astype(np.uint8))
