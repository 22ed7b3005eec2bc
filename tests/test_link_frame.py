"""RTU frame layout: CRC-16 against published Modbus vectors and frame lengths per function."""

from __future__ import annotations

import pytest
from pymodbus.framer import FramerRTU

from hil.link import rtu_frame

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("body, crc", [
    ("01 03 00 00 00 0A", "C5 CD"),   # Modbus over serial line spec / common reference vector
    ("01 06 00 01 00 03", "98 0B"),   # write single register example
    ("11 03 00 6B 00 03", "76 87"),   # Modbus application protocol spec, FC03 example (unit 17)
])
def test_crc16_known_vectors(body: str, crc: str) -> None:
    data = bytes.fromhex(body)
    assert rtu_frame.crc16(data) == bytes.fromhex(crc)
    assert rtu_frame.with_crc(data) == data + bytes.fromhex(crc)
    assert rtu_frame.crc_ok(data + bytes.fromhex(crc))
    # The helper is pymodbus's CRC, byte order included.
    assert FramerRTU.check_CRC(data, int.from_bytes(bytes.fromhex(crc), "big"))


def test_crc_ok_rejects_any_single_flipped_bit() -> None:
    frame = bytes.fromhex("01 03 00 00 00 0A C5 CD")
    for i in range(len(frame) * 8):
        corrupted = bytearray(frame)
        corrupted[i // 8] ^= 1 << (i % 8)
        assert not rtu_frame.crc_ok(bytes(corrupted))
    assert not rtu_frame.crc_ok(b"\x01\x03")


def test_request_size_per_function() -> None:
    fc03 = bytes.fromhex("01 03 00 00 00 0A C5 CD")
    assert rtu_frame.request_size(fc03) == 8
    assert rtu_frame.request_size(bytes.fromhex("01 06 00 01 00 03")) == 8
    fc16 = rtu_frame.with_crc(bytes.fromhex("01 10 00 00 00 02 04 00 01 00 02"))
    assert rtu_frame.request_size(fc16) == len(fc16) == 13
    fc23 = rtu_frame.with_crc(bytes.fromhex("01 17 00 00 00 01 00 10 00 01 02 12 34"))
    assert rtu_frame.request_size(fc23) == len(fc23) == 15
    # Sized at an offset, as the server does while hunting.
    assert rtu_frame.request_size(b"\xff\xff" + fc23, 2) == 15


def test_request_size_needs_more_bytes_or_rejects() -> None:
    assert rtu_frame.request_size(b"\x01") is None
    assert rtu_frame.request_size(bytes.fromhex("01 10 00 00 00")) is None      # no byte count yet
    assert rtu_frame.request_size(bytes.fromhex("01 17 00 00 00 01 00")) is None
    assert rtu_frame.request_size(bytes.fromhex("F8 03 00 00")) == 0           # reserved unit
    assert rtu_frame.request_size(bytes.fromhex("01 83 02 00")) == 0           # exception code
    assert rtu_frame.request_size(bytes.fromhex("01 00 00 00")) == 0


def test_request_size_of_functions_this_project_does_not_serve() -> None:
    # Framed through pymodbus's tables, so the server can answer them with exception 01.
    assert rtu_frame.request_size(bytes.fromhex("01 04 00 00 00 01 31 CA")) == 8
    assert rtu_frame.request_size(bytes.fromhex("01 0F 00 00 00 10 02 FF FF")) == 11


def test_response_size() -> None:
    assert rtu_frame.response_size(bytes.fromhex("01 83 02 C0 F1")) == 5
    assert rtu_frame.response_size(bytes.fromhex("01 03 04 00 01")) == 9
    assert rtu_frame.response_size(bytes.fromhex("01 17 1C 00 01")) == 33
    assert rtu_frame.response_size(bytes.fromhex("01 10 00 00 00")) == 8
    assert rtu_frame.response_size(bytes.fromhex("01 41 00 00 00")) is None
