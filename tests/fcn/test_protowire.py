"""The wire-format reader against bytes made by the independent test writer."""

from __future__ import annotations

import struct
from types import ModuleType

import numpy as np
import pytest

from fcn import protowire as pw


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16383, 16384, 2**31, 2**63, 2**64 - 1])
def test_varint_round_trip(writer: ModuleType, value: int) -> None:
    data = b"\xff" + writer.varint(value) + b"\x00"
    assert pw.read_varint(data, 1, len(data)) == (value, len(data) - 1)


def test_negative_int64_is_ten_bytes(writer: ModuleType) -> None:
    data = writer.varint(-1)
    assert len(data) == 10
    assert pw.as_int64(pw.read_varint(data, 0, 10)[0]) == -1


def test_fields_in_order_and_payloads(writer: ModuleType) -> None:
    data = (
        writer.key(1, 0)
        + writer.varint(150)
        + writer.delimited(2, b"hello")
        + writer.key(3, 5)
        + struct.pack("<f", 1.5)
        + writer.key(200, 1)
        + struct.pack("<d", -2.0)
    )
    fields = list(pw.iter_fields(data, 0, len(data)))
    assert [(f.number, f.wire_type) for f in fields] == [(1, 0), (2, 2), (3, 5), (200, 1)]
    assert fields[0].value == 150
    assert pw.string(data, fields[1]) == "hello"
    assert struct.unpack("<f", data[fields[2].start : fields[2].end]) == (1.5,)
    assert fields[3].end == len(data)


@pytest.mark.parametrize(
    "data, message, offset",
    [
        (b"\x00\x01", "field number 0", 0),
        (b"\x0e\x01", "wire type 6 does not exist", 0),
        (b"\x0f\x01", "wire type 7 does not exist", 0),
        (b"\x0b\x01", "groups", 0),
        (b"\x08\x80\x80", "varint runs past the end", 1),
        (b"\x08" + b"\xff" * 11, "varint longer than 10 bytes", 1),
        (b"\x12\x05abc", "declares 5 bytes, only 3 remain", 0),
        (b"\x0d\x00\x00", "needs 4 bytes, 2 remain", 0),
    ],
)
def test_malformed_bytes(data: bytes, message: str, offset: int) -> None:
    with pytest.raises(pw.WireFormatError, match=message) as info:
        list(pw.iter_fields(data, 0, len(data)))
    assert info.value.offset == offset
    assert info.value.overrun == ("remain" in message or "past the end" in message)


def test_packed_floats_are_zero_copy_views(writer: ModuleType) -> None:
    values = np.array([1.0, -2.5, 3.25], dtype="<f4")
    data = bytearray(b"\x01" + writer.delimited(5, values.tobytes()))
    field = pw.read_field(data, 1, len(data))
    arr = pw.packed_fixed(data, field, "<f4")
    np.testing.assert_array_equal(arr, values)
    data[field.start : field.start + 4] = struct.pack("<f", 7.0)
    assert arr[0] == 7.0  # a view of the buffer, not a copy


def test_packed_length_must_fit_the_type(writer: ModuleType) -> None:
    data = writer.delimited(5, b"\x00" * 6)
    with pytest.raises(pw.WireFormatError, match="not a multiple of 4"):
        pw.packed_fixed(data, pw.read_field(data, 0, len(data)), "<f4")


def test_unpacked_run_stops_at_the_next_field(writer: ModuleType) -> None:
    values = [0.5, -1.0, 2.0, 1e-3]
    run = b"".join(writer.key(5, 5) + struct.pack("<f", v) for v in values)
    data = run + writer.key(1, 0) + writer.varint(7) + writer.key(5, 5) + struct.pack("<f", 9.0)
    got, pos = pw.fixed_run(data, pw.read_field(data, 0, len(data)), len(data), "<f4")
    np.testing.assert_array_equal(got, np.array(values, dtype=np.float32))
    assert pos == len(run)


def test_packed_varints(writer: ModuleType) -> None:
    data = writer.delimited(1, b"".join(writer.varint(d) for d in (20, 4096, 7, 300)))
    assert pw.packed_varints(data, pw.read_field(data, 0, len(data))) == [20, 4096, 7, 300]
