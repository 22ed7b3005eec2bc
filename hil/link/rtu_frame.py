"""Modbus RTU frame layout: CRC-16 and the length of a frame told from its first bytes."""

from __future__ import annotations

from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU

MAX_ADU = 256          # Modbus over serial line spec, section 2.5.1
EXCEPTION_LEN = 5      # unit, function | 0x80, code, CRC (2): also the shortest response
MAX_UNIT = 247         # 248..255 are reserved, so a byte above this cannot start a frame

# Request functions the decoders know, so that an unsupported one can still be framed
# (and answered with exception 01) instead of being taken for garbage.
_REQUEST_DECODER = DecodePDU(is_server=True)
_RESPONSE_DECODER = DecodePDU(is_server=False)


def crc16(data: bytes | bytearray | memoryview) -> bytes:
    """The two CRC bytes to append to `data`, in wire order (low byte first)."""
    return FramerRTU.compute_CRC(data).to_bytes(2, "big")


def with_crc(body: bytes) -> bytes:
    """`body` (unit, function, data) with its CRC appended."""
    return body + FramerRTU.compute_CRC(body).to_bytes(2, "big")


def crc_ok(frame: bytes | bytearray) -> bool:
    """True if the last two bytes of `frame` are the CRC of the rest."""
    return len(frame) >= 4 and FramerRTU.check_CRC(frame[:-2], int.from_bytes(frame[-2:], "big"))


def request_size(buf: bytes | bytearray, pos: int = 0) -> int | None:
    """Length of the request frame starting at buf[pos].

    None: more bytes are needed to tell. 0: these bytes cannot start a request.
    """
    avail = len(buf) - pos
    if avail < 2:
        return None
    if buf[pos] > MAX_UNIT:
        return 0
    fc = buf[pos + 1]
    # The four functions this project uses, without a table lookup: this runs every cycle.
    if fc == 23:
        return 13 + buf[pos + 10] if avail > 10 else None
    if fc == 16:
        return 9 + buf[pos + 6] if avail > 6 else None
    if fc == 3 or fc == 6:
        return 8
    if fc & 0x80 or fc == 0:
        return 0
    return _pymodbus_size(_REQUEST_DECODER, bytes(buf[pos:]))


def response_size(head: bytes) -> int | None:
    """Length of a response whose first bytes are `head` (unit, function, ...), for any
    function pymodbus knows; None if the function is unknown or the length is not yet told."""
    if len(head) < 2:
        return None
    if head[1] & 0x80:
        return EXCEPTION_LEN
    return _pymodbus_size(_RESPONSE_DECODER, bytes(head)) or None


def _pymodbus_size(decoder: DecodePDU, data: bytes) -> int | None:
    """Frame length from pymodbus's PDU table; None if more bytes are needed, 0 if unknown."""
    try:
        pdu_class = decoder.lookupPduClass(data)
        if pdu_class is None:
            return 0
        size = pdu_class.calculateRtuFrameSize(data)
    except IndexError:          # a sub-function code not received yet
        return None
    except ModbusException:     # pymodbus cannot size this function from its bytes
        return 0
    if not size:
        return None
    return size if size <= MAX_ADU else 0
