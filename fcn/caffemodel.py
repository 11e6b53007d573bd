"""Reading a Caffe `.caffemodel` (a protobuf `NetParameter`) without Caffe or generated code.

Only what weights need is read (field numbers from the public caffe.proto):
  NetParameter:      name 1, layer 100 (LayerParameter), layers 2 (legacy V1LayerParameter)
  LayerParameter:    name 1, type 2 (string), blobs 7
  V1LayerParameter:  name 4, type 5 (enum), blobs 6
  BlobProto:         shape 7 (BlobShape: dim 1), data 5 (float), double_data 8 (double),
                     legacy num 1, channels 2, height 3, width 4
Every other field is skipped. Repeated numbers may be packed or not, as protobuf allows.
The file is memory-mapped and float arrays are views of it, so a 538 MB file costs no copy
until `fcn8s_state_dict` turns the blobs into tensors.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fcn import protowire as pw
from fcn.fcn8s import FCN8s, FCN8sArch
from p2pbench.errors import BadInputError

# The few V1 layer type enum values worth naming in messages (caffe.proto V1LayerParameter).
V1_TYPES = {
    4: "Convolution",
    39: "Deconvolution",
    14: "InnerProduct",
    17: "Pooling",
    18: "ReLU",
    5: "Data",
    6: "Dropout",
    25: "Eltwise",
    21: "SoftmaxWithLoss",
}


class CaffeModelError(BadInputError, ValueError):
    """A caffemodel is unreadable or does not hold the expected network's weights."""


@dataclass(frozen=True)
class CaffeBlob:
    shape: tuple[int, ...]
    legacy_shape: bool  # from num/channels/height/width, padded to 4 dims by Caffe
    data: np.ndarray  # float32, 1-D, possibly a read-only view of the file
    offset: int


@dataclass(frozen=True)
class CaffeLayer:
    name: str
    type: str
    blobs: tuple[CaffeBlob, ...]
    offset: int


@dataclass(frozen=True)
class CaffeNet:
    name: str
    layers: tuple[CaffeLayer, ...]
    layer_format: str  # "layer" or "layers (V1)"
    source: str


def read_caffemodel(path: str | os.PathLike[str]) -> CaffeNet:
    """Parse the caffemodel at `path` (memory-mapped; blob arrays keep the map alive)."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise CaffeModelError(f"{p}: the file is empty")
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as e:
        raise CaffeModelError(f"cannot read {p}: {e}") from e
    return parse_caffemodel(buf, source=str(p))


def parse_caffemodel(buf: Any, source: str = "<bytes>") -> CaffeNet:
    """Parse a `NetParameter` held in `buf` (bytes or a memory map)."""
    end = len(buf)
    name = ""
    fields: dict[int, list[pw.Field]] = {100: [], 2: []}
    try:
        for field in pw.iter_fields(buf, 0, end):
            if field.number == 1:
                name = pw.string(buf, field)
            elif field.number in fields:
                pw.expect_wire(field, (pw.LEN,), "layer")
                fields[field.number].append(field)
    except pw.WireFormatError as e:
        raise CaffeModelError(_top_level_problem(buf, source, e)) from e
    if fields[100] and fields[2]:
        raise CaffeModelError(
            f"{source}: holds both `layer` and legacy `layers` entries; "
            f"Caffe refuses such files too"
        )
    legacy = bool(fields[2])
    entries = fields[2] if legacy else fields[100]
    if not entries:
        raise CaffeModelError(
            f"{source}: no layers found ({end:,} bytes); this is not a "
            f"binary caffemodel with weights"
        )
    layers = tuple(_layer(buf, f, i, legacy, source) for i, f in enumerate(entries))
    return CaffeNet(name, layers, "layers (V1)" if legacy else "layer", source)


def _top_level_problem(buf: Any, source: str, e: pw.WireFormatError) -> str:
    where = ""
    if e.field in (100, 2) and e.payload_start is not None:
        layer_name = _peek_name(buf, e.payload_start, len(buf), 4 if e.field == 2 else 1)
        where = f" inside layer '{layer_name}'" if layer_name else " inside a layer"
    hint = (
        "the file is truncated (an incomplete download?)"
        if e.overrun
        else "the file is corrupt or not a binary caffemodel"
    )
    head = bytes(buf[:16])
    return f"{source}{where} {e}; {hint} (size {len(buf):,} bytes, starts with {head!r})"


def _peek_name(buf: Any, start: int, end: int, name_field: int) -> str | None:
    """Best effort: the layer name at the start of a message that may be cut short."""
    try:
        for field in pw.iter_fields(buf, start, end):
            if field.number == name_field and field.wire_type == pw.LEN:
                return pw.string(buf, field)
    except pw.WireFormatError:
        return None
    return None


def _layer(buf: Any, entry: pw.Field, index: int, legacy: bool, source: str) -> CaffeLayer:
    name_no, type_no, blobs_no = (4, 5, 6) if legacy else (1, 2, 7)
    name = _peek_name(buf, entry.start, entry.end, name_no) or f"#{index} (unnamed)"
    where = f"{source}: layer '{name}' (byte {entry.offset:,})"
    layer_type, blobs = "", list[CaffeBlob]()
    try:
        for field in pw.iter_fields(buf, entry.start, entry.end):
            if field.number == type_no:
                if legacy:
                    pw.expect_wire(field, (pw.VARINT,), "V1 layer type")
                    layer_type = V1_TYPES.get(field.value, f"V1 type {field.value}")
                else:
                    layer_type = pw.string(buf, field)
            elif field.number == blobs_no:
                pw.expect_wire(field, (pw.LEN,), "blob")
                blobs.append(_blob(buf, field, f"{where} blob {len(blobs)}"))
    except pw.WireFormatError as e:
        raise CaffeModelError(f"{where}: {e}; the file is corrupt") from e
    return CaffeLayer(name, layer_type, tuple(blobs), entry.offset)


def _blob(buf: Any, entry: pw.Field, where: str) -> CaffeBlob:
    shape: list[int] | None = None
    legacy: dict[int, int] = {}
    chunks: list[np.ndarray] = []
    pos = entry.start
    while pos < entry.end:
        f = pw.read_field(buf, pos, entry.end)
        pos = f.end
        if f.number in (5, 8):  # data (float) / double_data
            dtype = "<f4" if f.number == 5 else "<f8"
            if f.wire_type == pw.LEN:
                chunks.append(pw.packed_fixed(buf, f, dtype))
            else:
                pw.expect_wire(f, (pw.I32 if f.number == 5 else pw.I64,), "blob values")
                values, pos = pw.fixed_run(buf, f, entry.end, dtype)
                chunks.append(values)
        elif f.number == 7:
            pw.expect_wire(f, (pw.LEN,), "blob shape")
            shape = (shape or []) + _dims(buf, f)
        elif f.number in (1, 2, 3, 4):
            pw.expect_wire(f, (pw.VARINT,), "legacy blob dimension")
            legacy[f.number] = pw.as_int64(f.value)
    if legacy:
        dims = tuple(legacy.get(i, 0) for i in (1, 2, 3, 4))
    else:
        dims = tuple(shape or ())
    if any(d < 0 for d in dims):
        raise CaffeModelError(f"{where}: negative dimension in shape {dims}")
    data = _concat(chunks)
    if data.size != int(np.prod(dims, dtype=np.int64)):
        raise CaffeModelError(
            f"{where}: shape {dims} needs {int(np.prod(dims)):,} values, the "
            f"blob holds {data.size:,}; the file is corrupt"
        )
    return CaffeBlob(dims, bool(legacy), data, entry.offset)


def _dims(buf: Any, shape_field: pw.Field) -> list[int]:
    dims: list[int] = []
    for f in pw.iter_fields(buf, shape_field.start, shape_field.end):
        if f.number == 1:
            raw = pw.packed_varints(buf, f) if f.wire_type == pw.LEN else [f.value]
            dims += [pw.as_int64(v) for v in raw]
    return dims


def _concat(chunks: list[np.ndarray]) -> np.ndarray:
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    if len(chunks) == 1 and chunks[0].dtype == np.float32:
        return chunks[0]
    return np.concatenate([c.astype(np.float32) for c in chunks])


def fcn8s_state_dict(net: CaffeNet, arch: FCN8sArch) -> dict[str, torch.Tensor]:
    """The state_dict of `FCN8s.from_arch(arch)` from `net`'s blobs, every shape checked.

    A layer's blobs[0] is the weight, blobs[1] the bias (Caffe's order); layers without blobs
    (ReLU, Pooling, Crop, ...) are ignored. Missing, extra or duplicated parameter layers,
    a wrong layer type, blob count or blob shape are errors that name the layer.
    """
    with torch.device("meta"):
        model = FCN8s.from_arch(arch)
    expected = {
        name: module
        for name, module in model.named_children()
        if any(True for _ in module.parameters())
    }
    found: dict[str, CaffeLayer] = {}
    for layer in net.layers:
        if not layer.blobs:
            continue
        if layer.name in found:
            raise CaffeModelError(f"{net.source}: two layers named '{layer.name}' hold weights")
        found[layer.name] = layer
    missing = [n for n in expected if n not in found]
    extra = [n for n in found if n not in expected]
    if missing or extra:
        raise CaffeModelError(
            f"{net.source} is not the FCN-8s this reader expects: "
            + (f"missing parameter layers {missing}; " if missing else "")
            + (f"unexpected parameter layers {extra}; " if extra else "")
            + f"expected exactly {list(expected)}, found {list(found)}"
        )
    state: dict[str, torch.Tensor] = {}
    for name, module in expected.items():
        layer = found[name]
        kind = "Deconvolution" if isinstance(module, torch.nn.ConvTranspose2d) else "Convolution"
        if layer.type != kind:
            raise CaffeModelError(
                f"{net.source}: layer '{name}' has type '{layer.type}', expected '{kind}'"
            )
        pairs = (("weight", module.weight), ("bias", module.bias))
        params = [(k, p) for k, p in pairs if isinstance(p, torch.Tensor)]
        if len(layer.blobs) != len(params):
            raise CaffeModelError(
                f"{net.source}: layer '{name}' has {len(layer.blobs)} blobs, "
                f"expected {len(params)} ({' and '.join(k for k, _ in params)})"
            )
        for i, ((key, param), blob) in enumerate(zip(params, layer.blobs, strict=True)):
            want = tuple(param.shape)
            if blob.legacy_shape:  # Caffe compares legacy shapes padded to 4 dims
                want = (1,) * (4 - len(want)) + want
            if blob.shape != want:
                raise CaffeModelError(
                    f"{net.source}: layer '{name}' {key} (blob {i}) "
                    f"has shape {blob.shape}, expected {want} for {arch}"
                )
            state[f"{name}.{key}"] = torch.from_numpy(
                np.array(blob.data, dtype=np.float32)
            ).reshape(param.shape)
    return state


def infer_fcn8s_arch(net: CaffeNet) -> FCN8sArch:
    """The FCN-8s widths a caffemodel holds, read off conv{1..5}_1, fc6_cs and score_fr.

    Only the widths are read here; `fcn8s_state_dict` then checks every blob against them.
    """
    firsts = {layer.name: layer for layer in net.layers if layer.blobs}
    needed = [f"conv{b}_1" for b in range(1, 6)] + ["fc6_cs", "score_fr"]
    missing = [n for n in needed if n not in firsts]
    if missing:
        raise CaffeModelError(f"{net.source} is not an FCN-8s: no parameter layers {missing}")
    channels = tuple(firsts[f"conv{b}_1"].blobs[0].shape[-4] for b in range(1, 6))
    return FCN8sArch(
        num_classes=firsts["score_fr"].blobs[0].shape[-4],
        channels=channels,  # type: ignore[arg-type]
        fc_channels=firsts["fc6_cs"].blobs[0].shape[-4],
    )
