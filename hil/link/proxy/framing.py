"""Splitting one direction's byte stream into Modbus RTU frames, by length, and unframeable runs.

Frames are told by the length their function code implies (hil/link/rtu_frame.py), as the
devices here delimit them: a pty keeps no 3.5-character silences. The splitter never changes a
byte and never reorders: what it returns, frames and raw runs in turn, is exactly what it was
fed. A run that cannot start a frame is returned at once as raw; bytes that may still become a
frame are held until they do, or until the line has been quiet for `gap_s` (then they go raw).
"""

from __future__ import annotations

from collections.abc import Callable

from hil.link import rtu_frame

SizeOf = Callable[[bytearray, int], "int | None"]

_HEAD = 16         # enough bytes for any function's length field (FC23's byte count is byte 10)
_MAX_UNIT = rtu_frame.MAX_UNIT


def request_size(buf: bytearray, pos: int) -> int | None:
    """Length of the request starting at buf[pos]; None: not told yet; 0: cannot start one."""
    if buf[pos] > _MAX_UNIT:
        return 0
    avail = len(buf) - pos
    if avail < 2:
        return None
    fc = buf[pos + 1]
    if fc == 3 or fc == 6:
        return 8
    if fc == 23:
        return 13 + buf[pos + 10] if avail > 10 else None
    if fc == 16:
        return 9 + buf[pos + 6] if avail > 6 else None
    if fc & 0x80 or fc == 0:
        return 0
    return rtu_frame.request_size(bytes(buf[pos:pos + _HEAD]))


def reply_size(buf: bytearray, pos: int) -> int | None:
    """Length of the reply starting at buf[pos]; None: not told yet; 0: cannot start one.
    Functions whose reply length pymodbus cannot tell from the first bytes count as unframeable."""
    unit = buf[pos]
    if unit > _MAX_UNIT or unit == 0:          # a broadcast is never answered
        return 0
    avail = len(buf) - pos
    if avail < 2:
        return None
    fc = buf[pos + 1]
    if fc & 0x80:
        return rtu_frame.EXCEPTION_LEN
    if fc == 3 or fc == 23 or fc == 4:
        return 5 + buf[pos + 2] if avail > 2 else None
    if fc == 6 or fc == 16 or fc == 5 or fc == 15:
        return 8
    if fc == 0:
        return 0
    if avail < 3:
        return None
    return rtu_frame.response_size(bytes(buf[pos:pos + _HEAD])) or 0


class FrameSplitter:
    """One direction's reassembly: feed() bytes as they are read, take (is_frame, bytes) back."""

    def __init__(self, size_of: SizeOf, gap_s: float) -> None:
        self._size_of = size_of
        self.gap_s = gap_s
        self._buf = bytearray()
        self._last_rx = 0.0

    @property
    def held(self) -> int:
        """Bytes kept back as the possible start of a frame."""
        return len(self._buf)

    @property
    def deadline(self) -> float | None:
        """When held bytes are given up as raw (time.monotonic()), or None if nothing is held."""
        return self._last_rx + self.gap_s if self._buf else None

    def feed(self, data: bytes, now: float) -> list[tuple[bool, bytes]]:
        """Take bytes read at `now`; return the complete frames (True) and raw runs (False), in order."""
        self._last_rx = now
        buf = self._buf
        buf += data
        out: list[tuple[bool, bytes]] = []
        size_of, crc_ok = self._size_of, rtu_frame.crc_ok
        n = len(buf)
        start = pos = 0       # start: first byte not yet returned; pos: candidate frame start
        partial = -1          # first candidate still waiting for bytes
        while pos < n:
            size = size_of(buf, pos)
            if size is not None and size > rtu_frame.MAX_ADU:
                size = 0                                    # no such frame: not a start
            if size is None or (size and pos + size > n):
                if partial < 0:
                    partial = pos
            elif size and crc_ok(buf[pos:pos + size]):
                if pos > start:
                    out.append((False, bytes(buf[start:pos])))
                out.append((True, bytes(buf[pos:pos + size])))
                start = pos = pos + size
                partial = -1
                continue
            pos += 1
        keep = partial if partial >= 0 else n
        if keep > start:
            out.append((False, bytes(buf[start:keep])))
        del buf[:keep]
        return out

    def flush(self) -> bytes:
        """Give up the held bytes (they formed no frame in time) and return them."""
        data = bytes(self._buf)
        self._buf.clear()
        return data
