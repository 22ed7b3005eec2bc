"""RtuServer over real ptys and sockets: functions, exception codes, broadcast, garbage, resync."""

from __future__ import annotations

import os
import random
import socket
import struct
import time
from collections.abc import Iterator, Sequence

import pytest
import serial

from hil.devices.pty_pair import open_pty_pair
from hil.devices.rtu_server import DeviceFailure, IllegalAddress, IllegalValue, RtuServer
from hil.link.rtu_frame import with_crc

pytestmark = pytest.mark.timeout(30)

QUIET_S = 0.2     # how long "no reply" is waited for


class Registers:
    def __init__(self) -> None:
        self.regs = list(range(100))
        self.calls: list[tuple[str, int, list[int] | int]] = []
        self.fail: Exception | None = None

    def read(self, address: int, count: int) -> list[int]:
        self.calls.append(("read", address, count))
        if self.fail:
            raise self.fail
        if address + count > len(self.regs):
            raise IllegalAddress()
        return self.regs[address:address + count]

    def write(self, address: int, values: Sequence[int]) -> None:
        self.calls.append(("write", address, list(values)))
        if self.fail:
            raise self.fail
        if address + len(values) > len(self.regs):
            raise IllegalAddress()
        self.regs[address:address + len(values)] = values


def fc03(address: int, count: int, unit: int = 1) -> bytes:
    return with_crc(struct.pack(">BBHH", unit, 3, address, count))


def fc06(address: int, value: int, unit: int = 1) -> bytes:
    return with_crc(struct.pack(">BBHH", unit, 6, address, value))


def fc16(address: int, values: Sequence[int], unit: int = 1) -> bytes:
    n = len(values)
    return with_crc(struct.pack(f">BBHHB{n}H", unit, 16, address, n, 2 * n, *values))


def fc23(waddr: int, values: Sequence[int], raddr: int, rcount: int, unit: int = 1) -> bytes:
    n = len(values)
    return with_crc(struct.pack(f">BBHHHHB{n}H", unit, 23, raddr, rcount, waddr, n, 2 * n,
                                *values))


def regs_reply(fc: int, values: Sequence[int], unit: int = 1) -> bytes:
    n = len(values)
    return with_crc(struct.pack(f">BBB{n}H", unit, fc, 2 * n, *values))


def exc_reply(fc: int, code: int) -> bytes:
    return with_crc(bytes((1, fc | 0x80, code)))


class Line:
    """The host end of the line: raw bytes out, an exact number of bytes back."""

    def __init__(self, url: str) -> None:
        self.ser = serial.serial_for_url(url, baudrate=115200, timeout=1.0)

    def ask(self, request: bytes, reply_len: int) -> bytes:
        self.ser.write(request)
        return self.ser.read(reply_len)

    def silent(self, request: bytes = b"") -> bool:
        """Send `request`; True if nothing at all comes back within QUIET_S."""
        self.ser.write(request)
        self.ser.timeout = QUIET_S
        try:
            return self.ser.read(1) == b""
        finally:
            self.ser.timeout = 1.0


@pytest.fixture
def rig() -> Iterator[tuple[Line, Registers, RtuServer]]:
    fd, path = open_pty_pair()
    handler = Registers()
    server = RtuServer(handler)
    server.start(fd)
    line = Line(path)
    yield line, handler, server
    line.ser.close()
    server.stop()
    os.close(fd)


# -- functions ---------------------------------------------------------------------------


def test_fc03(rig) -> None:
    line, _, server = rig
    assert line.ask(fc03(5, 3), 11) == regs_reply(3, [5, 6, 7])
    assert server.requests_served == 1


def test_fc06_echoes_the_request(rig) -> None:
    line, handler, _ = rig
    assert line.ask(fc06(4, 0xABCD), 8) == fc06(4, 0xABCD)
    assert handler.regs[4] == 0xABCD


def test_fc16(rig) -> None:
    line, handler, _ = rig
    assert line.ask(fc16(10, [1, 2, 3]), 8) == with_crc(bytes.fromhex("01 10 00 0A 00 03"))
    assert handler.regs[10:13] == [1, 2, 3]


def test_fc23_writes_before_reading(rig) -> None:
    line, handler, _ = rig
    assert line.ask(fc23(20, [7, 7], 19, 4), 13) == regs_reply(23, [19, 7, 7, 22])
    assert [c[0] for c in handler.calls] == ["write", "read"]


# -- exception responses -------------------------------------------------------------------


@pytest.mark.parametrize("request_frame, fc", [
    (with_crc(bytes.fromhex("01 04 00 00 00 01")), 4),            # read input registers
    (with_crc(bytes.fromhex("01 05 00 00 FF 00")), 5),            # write coil
    (with_crc(bytes.fromhex("01 41 00 00")), 0x41),               # unknown even to pymodbus
])
def test_unsupported_function_is_exception_01(rig, request_frame, fc) -> None:
    line, _, _ = rig
    assert line.ask(request_frame, 5) == exc_reply(fc, 1)


@pytest.mark.parametrize("request_frame, fc, code", [
    (fc03(98, 3), 3, 2),
    (fc06(100, 1), 6, 2),
    (fc16(99, [1, 2]), 16, 2),
    (fc23(0, [1], 99, 2), 23, 2),
    (fc03(0, 0), 3, 3),                                           # count out of range
    (fc03(0, 126), 3, 3),
    (with_crc(bytes.fromhex("01 10 00 00 00 02 02 00 01")), 16, 3),  # byte count != 2 * count
])
def test_bad_requests_get_the_right_exception_code(rig, request_frame, fc, code) -> None:
    line, _, _ = rig
    assert line.ask(request_frame, 5) == exc_reply(fc, code)


@pytest.mark.parametrize("failure, code", [
    (IllegalValue("no"), 3), (DeviceFailure("busted"), 4), (RuntimeError("bug"), 4),
    (ZeroDivisionError(), 4),
])
def test_handler_exceptions_map_to_codes(rig, failure, code) -> None:
    line, handler, _ = rig
    handler.fail = failure
    assert line.ask(fc23(0, [1], 0, 1), 5) == exc_reply(23, code)
    handler.fail = None
    assert line.ask(fc03(0, 1), 7) == regs_reply(3, [0])


def test_handler_returning_wrong_count_is_device_failure(rig) -> None:
    line, handler, _ = rig
    handler.read = lambda address, count: [1]          # type: ignore[method-assign]
    assert line.ask(fc03(0, 2), 5) == exc_reply(3, 4)


# -- addressing -----------------------------------------------------------------------------


def test_other_units_are_ignored_silently(rig) -> None:
    line, handler, server = rig
    assert line.silent(fc06(1, 55, unit=2))
    assert handler.regs[1] == 1 and server.frames_ignored == 1
    assert line.ask(fc03(1, 1), 7) == regs_reply(3, [1])


def test_broadcasts_are_ignored_like_the_firmware_does(rig) -> None:
    """Unit 0: no action and no reply (firmware/core/mb_server.c does the same; the differential
    in tests/test_differential.py holds the two to it)."""
    line, handler, server = rig
    before = list(handler.regs)
    assert line.silent(fc16(30, [3, 3], unit=0))
    assert line.silent(fc06(32, 4, unit=0))
    assert line.silent(fc23(33, [5], 0, 1, unit=0))
    assert line.silent(fc03(0, 1, unit=0))
    assert handler.regs == before and handler.calls == []
    assert server.requests_served == 0 and server.frames_ignored == 4


# -- framing, garbage and resynchronisation ---------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_survives_random_garbage_then_answers(rig, seed) -> None:
    line, _, server = rig
    rng = random.Random(seed)
    garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    assert line.silent(garbage)
    assert line.ask(fc03(7, 2), 9) == regs_reply(3, [7, 8])
    # And when the garbage comes in the same write as the request.
    assert line.ask(garbage + fc23(0, [9], 7, 1), 7) == regs_reply(23, [7])
    assert server.frames_dropped >= 1


def test_truncated_frame_then_valid_request(rig) -> None:
    line, handler, server = rig
    truncated = fc16(0, [1, 2, 3, 4, 5])[:9]             # a frame that waits for 8 more bytes
    assert line.silent(truncated)
    assert line.ask(fc03(0, 2), 9) == regs_reply(3, [0, 1])
    assert handler.regs[0:5] == [0, 1, 2, 3, 4]          # the truncated write did not happen
    assert server.frames_dropped == 1


def test_bad_crc_is_dropped_then_next_request_answered(rig) -> None:
    line, handler, server = rig
    bad = bytearray(fc06(3, 77))
    bad[-1] ^= 0xFF
    assert line.silent(bytes(bad))
    assert handler.regs[3] == 3
    assert line.ask(fc06(3, 78), 8) == fc06(3, 78)
    assert server.frames_dropped == 1


def test_frames_split_byte_by_byte_are_reassembled(rig) -> None:
    line, _, _ = rig
    for byte in fc23(0, [4, 5], 0, 3):
        line.ser.write(bytes([byte]))
        time.sleep(0.001)
    assert line.ser.read(11) == regs_reply(23, [4, 5, 2])


def test_back_to_back_requests_in_one_write(rig) -> None:
    line, _, _ = rig
    assert line.ask(fc03(0, 1) + fc06(1, 9) + fc03(1, 1), 7 + 8 + 7) == (
        regs_reply(3, [0]) + fc06(1, 9) + regs_reply(3, [9]))


# -- lifecycle and transports ------------------------------------------------------------------


def test_stop_is_prompt_and_restart_works() -> None:
    fd, path = open_pty_pair()
    server = RtuServer(Registers())
    try:
        server.start(fd)
        start = time.monotonic()
        server.stop()
        assert time.monotonic() - start < 0.5 and not server.running
        server.stop()                                       # idempotent
        server.start(fd)
        line = Line(path)
        assert line.ask(fc03(0, 1), 7) == regs_reply(3, [0])
        line.ser.close()
    finally:
        server.stop()
        os.close(fd)


def test_client_can_close_and_reopen_the_pty(rig) -> None:
    line, _, _ = rig
    path = line.ser.port
    assert line.ask(fc03(0, 1), 7) == regs_reply(3, [0])
    line.ser.close()
    time.sleep(0.05)                                        # server sees EIO meanwhile
    line.ser = serial.serial_for_url(path, baudrate=115200, timeout=1.0)
    assert line.ask(fc03(1, 1), 7) == regs_reply(3, [1])


def test_serves_a_connected_socket_and_ends_when_the_peer_closes() -> None:
    host, device = socket.socketpair()
    server = RtuServer(Registers())
    server.start(device.fileno())
    try:
        host.settimeout(1.0)
        host.sendall(fc16(0, [8, 9]))
        assert host.recv(64) == with_crc(bytes.fromhex("01 10 00 00 00 02"))
        host.sendall(fc03(0, 2))
        assert host.recv(64) == regs_reply(3, [8, 9])
        host.close()
        deadline = time.monotonic() + 2
        while server.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not server.running
    finally:
        server.stop()
        device.close()


def test_unit_must_be_a_valid_address() -> None:
    with pytest.raises(ValueError):
        RtuServer(Registers(), unit=0)
    with pytest.raises(ValueError):
        RtuServer(Registers(), unit=248)


# -- the handler's timer: poll() ------------------------------------------------------------


class TimedRegisters(Registers):
    """A handler with timed work: poll() records when it ran and asks to run again after `wait`."""

    def __init__(self, wait: float | None) -> None:
        super().__init__()
        self.wait = wait
        self.polls: list[float] = []

    def poll(self) -> float | None:
        self.polls.append(time.monotonic())
        if isinstance(self.wait, Exception):
            raise self.wait
        return self.wait


@pytest.fixture
def timed_rig(request) -> Iterator[tuple[Line, TimedRegisters]]:
    fd, path = open_pty_pair()
    handler = TimedRegisters(request.param)
    server = RtuServer(handler)
    server.start(fd)
    line = Line(path)
    yield line, handler
    line.ser.close()
    server.stop()
    os.close(fd)


@pytest.mark.parametrize("timed_rig", [0.01], indirect=True)
def test_poll_runs_on_the_returned_wait_without_any_request(timed_rig) -> None:
    _, handler = timed_rig
    time.sleep(0.3)
    polls = list(handler.polls)
    assert 10 <= len(polls) <= 45                           # about every 10 ms
    gaps = [b - a for a, b in zip(polls, polls[1:])]
    assert sorted(gaps)[len(gaps) // 2] >= 0.008            # it waits, it does not spin


@pytest.mark.parametrize("timed_rig", [None], indirect=True)
def test_poll_returning_none_waits_for_requests(timed_rig) -> None:
    line, handler = timed_rig
    time.sleep(0.2)
    idle = len(handler.polls)
    assert 1 <= idle <= 3
    assert line.ask(fc03(5, 1), 7) == regs_reply(3, [5])
    time.sleep(0.05)
    assert len(handler.polls) > idle                        # polled again after the request


@pytest.mark.parametrize("timed_rig", [RuntimeError("timer broke")], indirect=True)
def test_a_failing_poll_does_not_stop_the_server(timed_rig) -> None:
    line, handler = timed_rig
    assert line.ask(fc03(5, 2), 9) == regs_reply(3, [5, 6])
    assert line.ask(fc06(4, 7), 8) == fc06(4, 7)
    assert len(handler.polls) >= 2
