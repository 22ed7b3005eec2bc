"""RtuClient against real servers over ptys, sockets and pyserial URLs: results and every error."""

from __future__ import annotations

import errno
import os
import select
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import pytest

from hil.devices.pty_pair import open_pty_pair
from hil.devices.rtu_server import IllegalAddress, IllegalFunction, IllegalValue, RtuServer
from hil.errors import CrcError, FrameError, LinkTimeout, ModbusExceptionReply
from hil.link import rtu_frame
from hil.link.rtu_client import RtuClient

pytestmark = pytest.mark.timeout(30)

TIMEOUT_S = 0.3


class Registers:
    """100 registers; 90..99 are read-only (01), value 0xBAD is refused (03), >= 100 absent (02)."""

    def __init__(self) -> None:
        self.regs = list(range(1000, 1100))
        self.calls: list[str] = []

    def read(self, address: int, count: int) -> list[int]:
        self.calls.append("read")
        if address + count > 100:
            raise IllegalAddress(f"{address}+{count}")
        return self.regs[address:address + count]

    def write(self, address: int, values: Sequence[int]) -> None:
        self.calls.append("write")
        if address + len(values) > 100:
            raise IllegalAddress(f"{address}+{len(values)}")
        if address + len(values) > 90:
            raise IllegalFunction("read-only")
        if 0xBAD in values:
            raise IllegalValue("0xBAD")
        self.regs[address:address + len(values)] = values


class ScriptedDevice:
    """A device on a pty master that computes each genuine reply with a real RtuServer, then
    lets the test delay or tamper with it: script(index, reply) -> (delay_s, bytes to send)."""

    def __init__(self, fd: int, script: Callable[[int, bytes], tuple[float, bytes]]) -> None:
        self.server = RtuServer(Registers())
        self.script = script
        self.requests = 0
        self._fd = fd
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _wait(self, seconds: float) -> bool:
        """Sleep; True if told to stop meanwhile."""
        return bool(select.select([self._wake_r], [], [], seconds)[0])

    def _run(self) -> None:
        while True:
            if self._wake_r in select.select([self._fd, self._wake_r], [], [])[0]:
                return
            try:
                data = os.read(self._fd, 4096)
            except OSError as exc:         # EIO: the client has not opened the pty yet
                if exc.errno == errno.EIO and not self._wait(0.01):
                    continue
                return
            reply = self.server.feed(data)
            if not reply:
                continue
            delay, out = self.script(self.requests, reply)
            self.requests += 1
            if delay and self._wait(delay):
                return
            os.write(self._fd, out)

    def stop(self) -> None:
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        os.close(self._wake_r)
        os.close(self._wake_w)


@pytest.fixture
def pty() -> Iterator[tuple[int, str]]:
    fd, path = open_pty_pair()
    yield fd, path
    os.close(fd)


@pytest.fixture
def served(pty: tuple[int, str]) -> Iterator[tuple[RtuClient, Registers, RtuServer]]:
    fd, path = pty
    handler = Registers()
    server = RtuServer(handler)
    server.start(fd)
    with RtuClient(path, timeout_s=TIMEOUT_S) as client:
        yield client, handler, server
    server.stop()


@pytest.fixture
def scripted(pty: tuple[int, str]) -> Iterator[Callable[..., tuple[RtuClient, ScriptedDevice]]]:
    """Factory: scripted(script) -> (open client, the ScriptedDevice it talks to)."""
    fd, path = pty
    made: list[tuple[ScriptedDevice, RtuClient]] = []

    def make(script: Callable[[int, bytes], tuple[float, bytes]]
             ) -> tuple[RtuClient, ScriptedDevice]:
        device = ScriptedDevice(fd, script)
        client = RtuClient(path, timeout_s=TIMEOUT_S)
        client.open()
        made.append((device, client))
        return client, device

    yield make
    for device, client in made:
        client.close()
        device.stop()


def _flip(reply: bytes, index: int) -> bytes:
    out = bytearray(reply)
    out[index] ^= 0x01
    return bytes(out)


# -- round trips -------------------------------------------------------------------------


def test_fc03_reads_registers(served) -> None:
    client, _, _ = served
    assert client.read_holding(0, 3) == [1000, 1001, 1002]
    assert client.read_holding(10, 125 - 40) == list(range(1010, 1095))


def test_fc06_writes_one_register(served) -> None:
    client, handler, _ = served
    client.write_register(7, 0xFFFF)
    assert handler.regs[7] == 0xFFFF
    assert client.read_holding(7, 1) == [0xFFFF]


def test_fc16_writes_registers(served) -> None:
    client, handler, _ = served
    client.write_registers(20, [1, 2, 3, 65535])
    assert handler.regs[20:24] == [1, 2, 3, 65535]


def test_fc23_writes_first_then_reads(served) -> None:
    client, handler, _ = served
    # The read overlaps the write: per the spec it must see the new values.
    assert client.read_write(30, [7, 8, 9], 29, 5, frame=1) == [1029, 7, 8, 9, 1033]
    assert handler.calls[-2:] == ["write", "read"]


def test_many_fc23_cycles_stay_fast(served) -> None:
    client, _, server = served
    values = list(range(14))
    start = time.perf_counter()
    for frame in range(500):
        values[0] = frame
        assert client.read_write(0, values, 0, 14, frame=frame)[0] == frame
    # A coarse guard only (a noisy VM does ~0.1-0.2 ms per cycle): 50 Hz needs 20 ms.
    assert time.perf_counter() - start < 2.5
    assert server.requests_served == 500


def test_bad_arguments_raise_value_error_without_touching_the_line(served) -> None:
    client, _, server = served
    with pytest.raises(ValueError):
        client.read_holding(0, 0)
    with pytest.raises(ValueError):
        client.read_holding(0, 126)
    with pytest.raises(ValueError):
        client.write_register(0, 70000)
    with pytest.raises(ValueError):
        client.write_registers(0, [])
    with pytest.raises(ValueError):
        client.read_write(0, [-1], 0, 1)
    assert server.requests_served == 0
    assert client.read_holding(0, 1) == [1000]


# -- exception responses -------------------------------------------------------------------


@pytest.mark.parametrize("call, code, function", [
    (lambda c: c.write_registers(95, [1], frame=42), 1, 16),
    (lambda c: c.read_holding(99, 2, frame=42), 2, 3),
    (lambda c: c.write_register(5, 0xBAD, frame=42), 3, 6),
    (lambda c: c.read_write(0, [0xBAD], 0, 1, frame=42), 3, 23),
])
def test_exception_codes_come_back_as_modbus_exception_reply(served, call, code,
                                                             function) -> None:
    client, _, _ = served
    with pytest.raises(ModbusExceptionReply) as info:
        call(client)
    assert (info.value.code, info.value.function, info.value.frame) == (code, function, 42)
    assert client.port in str(info.value) and "(frame 42)" in str(info.value)
    assert "\n" not in str(info.value)
    assert client.read_holding(0, 1) == [1000]     # the line is still in step


# -- timeouts and malformed replies -----------------------------------------------------------


def test_silent_device_times_out_within_the_configured_time(pty) -> None:
    _, path = pty                       # nobody serves the master side
    with RtuClient(path, timeout_s=TIMEOUT_S) as client:
        start = time.monotonic()
        with pytest.raises(LinkTimeout) as info:
            client.read_write(0, [1] * 14, 0, 14, frame=7)
        elapsed = time.monotonic() - start
    assert TIMEOUT_S <= elapsed <= TIMEOUT_S + 0.3
    message = str(info.value)
    assert path in message and "(frame 7)" in message and "0 of 33 bytes" in message


def test_truncated_reply_times_out_and_says_how_much_came(scripted) -> None:
    client, _ = scripted(lambda i, reply: (0, reply[:10]))
    start = time.monotonic()
    with pytest.raises(LinkTimeout, match="10 of 33 bytes"):
        client.read_write(0, [1] * 14, 0, 14)
    assert TIMEOUT_S <= time.monotonic() - start <= TIMEOUT_S + 0.3


@pytest.mark.parametrize("index", [0, 1, 2, 5, -2, -1])
def test_flipped_byte_in_reply_is_a_crc_error(scripted, index) -> None:
    client, _ = scripted(lambda i, reply: (0, _flip(reply, index) if i == 0 else reply))
    with pytest.raises(CrcError) as info:
        client.read_holding(0, 4, frame=3)
    assert client.port in str(info.value) and "(frame 3)" in str(info.value)
    assert client.read_holding(0, 4) == [1000, 1001, 1002, 1003]


def test_corrupted_exception_reply_is_a_crc_error(scripted) -> None:
    client, _ = scripted(lambda i, reply: (0, _flip(reply, 2)))
    with pytest.raises(CrcError):
        client.read_holding(99, 2)


def test_reply_from_wrong_unit_is_a_frame_error(scripted) -> None:
    client, _ = scripted(lambda i, reply: (0, rtu_frame.with_crc(b"\x02" + reply[1:-2])))
    with pytest.raises(FrameError, match="from unit 2, expected unit 1"):
        client.read_holding(0, 2)


def test_reply_with_other_function_is_a_frame_error(scripted) -> None:
    client, _ = scripted(lambda i, reply: (0, rtu_frame.with_crc(b"\x01\x04" + reply[2:-2])))
    with pytest.raises(FrameError, match="function code 4"):
        client.read_holding(0, 2)


def test_reply_with_wrong_byte_count_is_a_frame_error(scripted) -> None:
    # A whole, CRC-valid FC03 reply carrying 2 registers when 3 were asked for.
    client, _ = scripted(lambda i, reply: (0, rtu_frame.with_crc(b"\x01\x03\x04" + reply[3:7])))
    with pytest.raises(FrameError, match="4 data bytes, expected 6"):
        client.read_holding(0, 3)


def test_wrong_fc06_echo_is_a_frame_error(scripted) -> None:
    client, _ = scripted(lambda i, reply: (0, rtu_frame.with_crc(reply[:5] + b"\x09")))
    with pytest.raises(FrameError, match="echo"):
        client.write_register(1, 5)


def test_late_stale_reply_is_not_taken_as_the_next_answer(scripted) -> None:
    # Request 0 is answered only after the client gave up on it.
    client, device = scripted(lambda i, reply: (TIMEOUT_S + 0.1 if i == 0 else 0.0, reply))
    with pytest.raises(LinkTimeout):
        client.read_holding(0, 2, frame=1)
    time.sleep(0.25)                          # the stale [1000, 1001] is now in the input
    device.server.handler.regs[0:2] = [5, 6]
    # Same function and length as the stale reply: only its values tell them apart.
    assert client.read_holding(0, 2, frame=2) == [5, 6]
    assert client.read_holding(0, 2, frame=3) == [5, 6]


def test_stale_reply_buffered_before_a_request_is_discarded(pty) -> None:
    fd, path = pty
    server = RtuServer(Registers())
    with RtuClient(path, timeout_s=TIMEOUT_S) as client:
        # A complete, valid FC03 answer with other values is waiting before the request.
        os.write(fd, rtu_frame.with_crc(bytes.fromhex("01 03 04 DE AD BE EF")))
        time.sleep(0.05)
        server.start(fd)
        try:
            assert client.read_holding(0, 2) == [1000, 1001]
        finally:
            server.stop()


def test_drain_discards_pending_input(pty) -> None:
    fd, path = pty
    with RtuClient(path, timeout_s=TIMEOUT_S) as client:
        os.write(fd, b"\x01\x02\x03")
        time.sleep(0.05)
        client.drain()
        assert client._serial is not None and client._serial.in_waiting == 0


def test_broadcast_writes_wait_for_no_reply(served, pty) -> None:
    """The client sends broadcasts without waiting; our servers ignore them (as the firmware)."""
    _, handler, server = served
    _, path = pty
    before = list(handler.regs)
    with RtuClient(path, timeout_s=TIMEOUT_S, unit=0) as broadcaster:
        start = time.monotonic()
        broadcaster.write_registers(40, [4, 4])
        broadcaster.write_register(42, 5)
        assert time.monotonic() - start < TIMEOUT_S     # did not wait for a reply
        with pytest.raises(ValueError):
            broadcaster.read_holding(0, 1)
    deadline = time.monotonic() + 2
    while server.frames_ignored < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.frames_ignored == 2 and handler.regs == before
