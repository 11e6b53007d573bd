"""A minimal protobuf wire-format reader: enough to walk a caffemodel without generated code.

Works on any buffer (bytes, a memory map); nothing is copied until asked for. Packed float and
double arrays come back as zero-copy numpy views of the buffer. There is no size cap (C++
protobuf readers refuse messages over 512 MiB by default; a full FCN-8s caffemodel is larger).

Wire format: each field is a varint key `(number << 3) | wire_type` followed by a varint (type
0), 8 bytes (type 1), a varint length and that many bytes (type 2) or 4 bytes (type 5). Types
3 and 4 (groups) are deprecated and not used by caffe.proto; 6 and 7 do not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from p2pbench.errors import BadInputError

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
_FIXED_SIZE = {I64: 8, I32: 4}


class WireFormatError(BadInputError, ValueError):
    """The bytes are not valid protobuf wire format at `offset`."""

    def __init__(
        self,
        offset: int,
        problem: str,
        *,
        field: int | None = None,
        payload_start: int | None = None,
        overrun: bool = False,
    ) -> None:
        super().__init__(f"at byte {offset:,}: {problem}")
        self.offset, self.problem = offset, problem
        self.field, self.payload_start = field, payload_start
        self.overrun = overrun  # ran past the end of the enclosing message (or file)


@dataclass(frozen=True)
class Field:
    """One field: for VARINT `value` holds the number, otherwise the payload is buf[start:end]."""

    number: int
    wire_type: int
    offset: int  # where the key starts
    start: int
    end: int  # the position after the field
    value: int = 0


def read_varint(buf: Any, pos: int, end: int) -> tuple[int, int]:
    """Decode a varint at `pos`; returns (value as unsigned, position after it)."""
    result = shift = 0
    start = pos
    while True:
        if pos >= end:
            raise WireFormatError(
                start, f"varint runs past the end of its message (byte {end:,})", overrun=True
            )
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireFormatError(start, "varint longer than 10 bytes")


def as_int64(value: int) -> int:
    """Reinterpret an unsigned varint as a two's-complement int64 (negative int32/int64)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def read_field(buf: Any, pos: int, end: int) -> Field:
    """The field whose key starts at `pos`, checked to fit before `end`."""
    key, p = read_varint(buf, pos, end)
    number, wire = key >> 3, key & 7
    if number == 0:
        raise WireFormatError(pos, f"bad tag 0x{key:x}: field number 0 does not exist")
    if wire == VARINT:
        value, after = read_varint(buf, p, end)
        return Field(number, wire, pos, p, after, value)
    if wire in _FIXED_SIZE:
        size = _FIXED_SIZE[wire]
        if p + size > end:
            raise WireFormatError(
                pos,
                f"field {number} (wire type {wire}) needs {size} bytes, {end - p} remain",
                field=number,
                payload_start=p,
                overrun=True,
            )
        return Field(number, wire, pos, p, p + size)
    if wire == LEN:
        length, p = read_varint(buf, p, end)
        if p + length > end:
            raise WireFormatError(
                pos,
                f"field {number} declares {length:,} bytes, only {end - p:,} remain",
                field=number,
                payload_start=p,
                overrun=True,
            )
        return Field(number, wire, pos, p, p + length)
    if wire in (SGROUP, EGROUP):
        raise WireFormatError(
            pos, f"field {number} uses wire type {wire} (groups), which caffe.proto never uses"
        )
    raise WireFormatError(pos, f"bad tag 0x{key:x}: wire type {wire} does not exist")


def iter_fields(buf: Any, start: int, end: int) -> Iterator[Field]:
    """Every field of the message held in buf[start:end], in file order."""
    pos = start
    while pos < end:
        field = read_field(buf, pos, end)
        yield field
        pos = field.end


def expect_wire(field: Field, wire_types: tuple[int, ...], what: str) -> None:
    if field.wire_type not in wire_types:
        raise WireFormatError(
            field.offset,
            f"{what} (field {field.number}) has wire type "
            f"{field.wire_type}, expected one of {wire_types}",
        )


def packed_fixed(buf: Any, field: Field, dtype: str) -> np.ndarray:
    """A packed array of little-endian fixed-size numbers, as a zero-copy view of `buf`."""
    item = np.dtype(dtype).itemsize
    length = field.end - field.start
    if length % item:
        raise WireFormatError(
            field.offset,
            f"packed field {field.number} holds {length:,} bytes, not a multiple of {item}",
        )
    return np.frombuffer(buf, dtype=dtype, count=length // item, offset=field.start)


def fixed_run(buf: Any, field: Field, end: int, dtype: str) -> tuple[np.ndarray, int]:
    """`field` and the unpacked copies of it that follow: (values, position after the run).

    An unpacked repeated float is a key byte and 4 bytes per element; the run is found with
    numpy instead of one Python step per element.
    """
    item = np.dtype(dtype).itemsize
    key_len = field.start - field.offset
    stride = key_len + item
    key = bytes(buf[field.offset : field.start])
    n = (end - field.offset) // stride
    records = np.frombuffer(buf, np.uint8, count=n * stride, offset=field.offset)
    records = records.reshape(n, stride)
    mismatch = np.zeros(n, dtype=bool)
    for i, b in enumerate(key):
        mismatch |= records[:, i] != b
    stops = np.flatnonzero(mismatch)
    run = int(stops[0]) if stops.size else n
    values = np.ascontiguousarray(records[:run, key_len:]).view(dtype).reshape(run)
    return values, field.offset + run * stride


def packed_varints(buf: Any, field: Field) -> list[int]:
    """A packed array of varints (e.g. `BlobShape.dim`), decoded."""
    values, pos = [], field.start
    while pos < field.end:
        value, pos = read_varint(buf, pos, field.end)
        values.append(value)
    return values


def string(buf: Any, field: Field) -> str:
    expect_wire(field, (LEN,), "string")
    raw = bytes(buf[field.start : field.end])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WireFormatError(
            field.offset, f"field {field.number} is not UTF-8 text ({raw[:20]!r}...)"
        ) from e
