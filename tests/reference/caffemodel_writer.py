"""Writes test caffemodels in protobuf wire format, independently of `fcn.caffemodel`'s reader.

The layer list follows the pix2pix authors' FCN-8s deploy.prototxt (FACTS §1) at any widths;
field numbers are those of the public caffe.proto. Blob values come from a callback, so that a
full-size (~538 MB) file can be streamed in chunks and any element recomputed later
(`hashed_values` is a seeded, random-access generator).

Encodings: the current `layer` format (BlobShape) or the legacy V1 `layers` format (enum
types, num/channels/height/width), packed or unpacked floats and dims, float or double data.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

V1_ENUM = {"Convolution": 4, "Deconvolution": 39, "ReLU": 18, "Pooling": 17, "Eltwise": 25}
CHUNK = 1 << 22  # values per chunk when streaming

Values = Callable[[str, int, int, int], np.ndarray]  # (layer, blob index, start, stop)


@dataclass(frozen=True)
class LayerSpec:
    name: str
    type: str
    blob_shapes: tuple[tuple[int, ...], ...] = ()


def fcn8s_layers(
    channels: Sequence[int] = (64, 128, 256, 512, 512),
    fc_channels: int = 4096,
    num_classes: int = 20,
) -> list[LayerSpec]:
    """The deploy network's layers in file order, with Caffe's blob shapes (weight, bias)."""
    layers = [LayerSpec("data", "Input")]
    depths, cin = (2, 2, 3, 3, 3), 3
    for b, (width, depth) in enumerate(zip(channels, depths, strict=True), start=1):
        for i in range(1, depth + 1):
            layers.append(LayerSpec(f"conv{b}_{i}", "Convolution", ((width, cin, 3, 3), (width,))))
            layers.append(LayerSpec(f"relu{b}_{i}", "ReLU"))
            cin = width
        layers.append(LayerSpec(f"pool{b}", "Pooling"))
    n = num_classes
    layers += [
        LayerSpec("fc6_cs", "Convolution", ((fc_channels, channels[4], 7, 7), (fc_channels,))),
        LayerSpec("relu6_cs", "ReLU"),
        LayerSpec("fc7_cs", "Convolution", ((fc_channels, fc_channels, 1, 1), (fc_channels,))),
        LayerSpec("relu7_cs", "ReLU"),
        LayerSpec("score_fr", "Convolution", ((n, fc_channels, 1, 1), (n,))),
        LayerSpec("upscore2", "Deconvolution", ((n, n, 4, 4),)),
        LayerSpec("score_pool4", "Convolution", ((n, channels[3], 1, 1), (n,))),
        LayerSpec("score_pool4c", "Crop"),
        LayerSpec("fuse_pool4", "Eltwise"),
        LayerSpec("upscore_pool4", "Deconvolution", ((n, n, 4, 4),)),
        LayerSpec("score_pool3", "Convolution", ((n, channels[2], 1, 1), (n,))),
        LayerSpec("score_pool3c", "Crop"),
        LayerSpec("fuse_pool3", "Eltwise"),
        LayerSpec("upscore8", "Deconvolution", ((n, n, 16, 16),)),
        LayerSpec("score", "Crop"),
    ]
    return layers


def hashed_values(seed: int) -> Values:
    """Values in [-1, 1), exact in float32, any element computable on its own."""

    def values(layer: str, blob: int, start: int, stop: int) -> np.ndarray:
        salt = np.uint64((zlib.crc32(layer.encode()) * 7919 + blob * 104729 + seed) & 0xFFFFFFFF)
        x = np.arange(start, stop, dtype=np.uint64) * np.uint64(0x9E3779B1) + salt
        x &= np.uint64(0xFFFFFFFF)
        x ^= x >> np.uint64(15)
        x = (x * np.uint64(0x2C1B3C6D)) & np.uint64(0xFFFFFFFF)
        x ^= x >> np.uint64(12)
        return ((x >> np.uint64(8)).astype(np.float32) / np.float32(1 << 23)) - np.float32(1)

    return values


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative numbers: 10-byte two's complement, as protobuf does
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def key(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def delimited(field: int, payload: bytes) -> bytes:
    return key(field, 2) + varint(len(payload)) + payload


@dataclass(frozen=True)
class Encoding:
    legacy: bool = False  # V1 `layers` with enum types and num/channels/height/width
    packed: bool = True  # packed float data (else one key per value)
    packed_dims: bool = True
    double: bool = False  # double_data instead of data


def _shape_bytes(shape: tuple[int, ...], enc: Encoding) -> bytes:
    if enc.legacy:
        dims = (1,) * (4 - len(shape)) + shape
        return b"".join(key(f, 0) + varint(d) for f, d in zip((1, 2, 3, 4), dims, strict=True))
    if enc.packed_dims:
        dims = delimited(1, b"".join(varint(d) for d in shape))
    else:
        dims = b"".join(key(1, 0) + varint(d) for d in shape)
    return delimited(7, dims)


def _data_size(count: int, enc: Encoding) -> int:
    width = 8 if enc.double else 4
    if enc.packed:
        return len(key(8 if enc.double else 5, 2)) + len(varint(width * count)) + width * count
    return (1 + width) * count


def _data_chunks(layer: str, blob: int, count: int, values: Values, enc: Encoding):
    field, width = (8, 8) if enc.double else (5, 4)
    dtype = "<f8" if enc.double else "<f4"
    if enc.packed:
        yield key(field, 2) + varint(width * count)
    for start in range(0, count, CHUNK):
        chunk = np.asarray(values(layer, blob, start, min(count, start + CHUNK)), dtype=dtype)
        if enc.packed:
            yield chunk.tobytes()
        else:
            rec = np.empty((chunk.size, 1 + width), np.uint8)
            rec[:, 0] = key(field, 1 if enc.double else 5)[0]
            rec[:, 1:] = chunk.view(np.uint8).reshape(-1, width)
            yield rec.tobytes()


def write_caffemodel(
    out: BinaryIO,
    layers: Sequence[LayerSpec],
    values: Values,
    enc: Encoding = Encoding(),
    net_name: str = "FCN8s",
) -> None:
    """Stream a NetParameter to `out`, one layer after another.

    V1 has no Input or Crop layer types: the legacy encoding leaves such layers out.
    """
    out.write(delimited(1, net_name.encode()))
    for spec in layers:
        if enc.legacy and spec.type not in V1_ENUM:
            continue
        blobs = []
        for i, shape in enumerate(spec.blob_shapes):
            count = int(np.prod(shape))
            head = _shape_bytes(shape, enc)
            blobs.append((i, count, head, len(head) + _data_size(count, enc)))
        if enc.legacy:
            head = delimited(4, spec.name.encode()) + key(5, 0) + varint(V1_ENUM[spec.type])
        else:
            head = (
                delimited(1, spec.name.encode())
                + delimited(2, spec.type.encode())
                + delimited(3, b"bottom")
                + delimited(4, spec.name.encode())
            )
        blob_field = 6 if enc.legacy else 7
        body = len(head) + sum(len(key(blob_field, 2)) + len(varint(n)) + n for *_, n in blobs)
        tail = b"" if enc.legacy or not spec.blob_shapes else _conv_param(spec)
        out.write(key(2 if enc.legacy else 100, 2) + varint(body + len(tail)) + head)
        for i, count, blob_head, n in blobs:
            out.write(key(blob_field, 2) + varint(n) + blob_head)
            for chunk in _data_chunks(spec.name, i, count, values, enc):
                out.write(chunk)
        out.write(tail)


def _conv_param(spec: LayerSpec) -> bytes:
    """A convolution_param (field 106) after the blobs, for the reader to skip."""
    num_output, kernel = spec.blob_shapes[0][0], spec.blob_shapes[0][-1]
    return delimited(
        106,
        key(1, 0)
        + varint(num_output)
        + key(4, 0)
        + varint(kernel)
        + key(2, 0)
        + varint(len(spec.blob_shapes) == 2),
    )


def encode_caffemodel(
    layers: Sequence[LayerSpec], values: Values, enc: Encoding = Encoding(), net_name: str = "FCN8s"
) -> bytes:
    buf = io.BytesIO()
    write_caffemodel(buf, layers, values, enc, net_name)
    return buf.getvalue()
