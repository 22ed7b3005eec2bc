"""Modbus RTU master over any pyserial URL: one request, one response read by its known length."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType

import serial
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadWriteMultipleRegistersRequest,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)

from hil.errors import CrcError, FrameError, LinkError, LinkTimeout, ModbusExceptionReply, PortOpenError
from hil.link import rtu_frame

# Every read waits at most this long; a deadline loop around it bounds the whole response.
# Changing the port timeout per call instead would cost a tcsetattr per read (a USB
# control transfer on some adapters), and a port timeout of timeout_s would let a
# two-part read take twice timeout_s.
_READ_SLICE_S = 0.02

_EXC = rtu_frame.EXCEPTION_LEN

try:  # a pty whose other side has gone fails tcflush with termios.error, which is not an OSError
    from termios import error as _TermiosError
except ImportError:  # not POSIX
    _TermiosError = OSError
_IO_ERRORS = (serial.SerialException, OSError, _TermiosError)


@dataclass
class PendingReply:
    """An FC23 request on the wire whose reply is still being collected."""

    fc: int
    reply_len: int
    frame: int | None
    deadline: float                        # time.monotonic() of the response timeout
    sent_ns: int = 0                       # time.monotonic_ns() just before the request was written
    data: bytearray = field(default_factory=bytearray)


class RtuClient:
    """Modbus RTU master for one unit on one serial line (a device path or any pyserial URL).

    A missing or short reply raises LinkTimeout after timeout_s (plus at most one read
    slice, 20 ms). One exchange at a time: not thread-safe. Unit 0 broadcasts writes and
    waits for no reply.
    """

    def __init__(self, url: str, *, baudrate: int = 115200, timeout_s: float = 0.5,
                 unit: int = 1) -> None:
        if not 0 <= unit <= rtu_frame.MAX_UNIT:
            raise ValueError(f"unit must be 0 (broadcast) .. {rtu_frame.MAX_UNIT}, got {unit}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.port = url
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.unit = unit
        self._serial: serial.SerialBase | None = None
        self._framer = FramerRTU(DecodePDU(is_server=False))
        self._decoder = DecodePDU(is_server=False)
        # Set after a failed exchange: its reply may still be on its way, so the next
        # request first waits for the line to go quiet instead of only flushing.
        self._resync = False

    # -- port -----------------------------------------------------------------------

    def open(self) -> None:
        """Open the port; PortOpenError names the URL and the reason."""
        if self._serial is not None:
            return
        # pyserial's rfc2217:// refuses a write timeout; its writes go to a TCP socket anyway.
        write_timeout = None if self.port.startswith("rfc2217://") else self.timeout_s
        try:
            self._serial = serial.serial_for_url(
                self.port, baudrate=self.baudrate,
                timeout=min(self.timeout_s, _READ_SLICE_S), write_timeout=write_timeout)
        except Exception as exc:  # pyserial raises SerialException, ValueError, OSError...
            raise PortOpenError(f"cannot open serial port ({_reason(exc)})",
                                port=self.port) from exc
        self._resync = False

    def close(self) -> None:
        """Close the port (idempotent)."""
        ser, self._serial = self._serial, None
        if ser is not None:
            ser.close()

    def __enter__(self) -> RtuClient:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def drain(self) -> None:
        """Discard any input already received (stale replies, line noise)."""
        if self._serial is None:
            raise LinkError("port is not open", port=self.port)
        self._discard_input()

    # -- functions --------------------------------------------------------------------

    def read_holding(self, address: int, count: int, *, frame: int | None = None) -> list[int]:
        """FC03: read `count` holding registers from `address`."""
        self._require_reply("FC03")
        pdu = ReadHoldingRegistersRequest(address=address, count=count, dev_id=self.unit)
        return self._transact(pdu, 3, 5 + 2 * count, frame).registers

    def write_register(self, address: int, value: int, *, frame: int | None = None) -> None:
        """FC06: write one holding register."""
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"register value must be 0..65535, got {value}")
        pdu = WriteSingleRegisterRequest(address=address, registers=[value], dev_id=self.unit)
        reply = self._transact(pdu, 6, 8, frame)
        if reply is not None and (reply.address, reply.registers[0]) != (address, value):
            raise FrameError(f"FC06 echo is address {reply.address} value {reply.registers[0]}, "
                             f"sent {address} {value}", port=self.port, frame=frame)

    def write_registers(self, address: int, values: Sequence[int], *,
                        frame: int | None = None) -> None:
        """FC16: write consecutive holding registers."""
        if not 1 <= len(values) <= 123:   # pymodbus does not check this for FC16
            raise ValueError(f"FC16 writes 1..123 registers, got {len(values)}")
        # list(): pymodbus tests `registers or []`, which a numpy array cannot answer.
        pdu = WriteMultipleRegistersRequest(address=address, registers=list(values),
                                            dev_id=self.unit)
        reply = self._transact(pdu, 16, 8, frame)
        if reply is not None and (reply.address, reply.count) != (address, len(values)):
            raise FrameError(f"FC16 echo is address {reply.address} count {reply.count}, "
                             f"sent {address} {len(values)}", port=self.port, frame=frame)

    def read_write(self, write_address: int, values: Sequence[int], read_address: int,
                   read_count: int, *, frame: int | None = None) -> list[int]:
        """FC23: write `values` at `write_address`, then read `read_count` from `read_address`."""
        self._require_reply("FC23")
        pdu = ReadWriteMultipleRegistersRequest(
            read_address=read_address, read_count=read_count,
            write_address=write_address, write_registers=list(values), dev_id=self.unit)
        return self._transact(pdu, 23, 5 + 2 * read_count, frame).registers

    # -- one FC23 exchange in two halves (real time) ---------------------------------------

    def send_read_write(self, write_address: int, values: Sequence[int], read_address: int,
                        read_count: int, *, frame: int | None = None,
                        timeout_s: float | None = None) -> PendingReply:
        """FC23 without waiting: send the request and return at once; collect the reply with
        poll_reply() (never blocks) or wait_reply(). The real-time loop keeps the plant running
        while the reply is on the wire. `timeout_s`: this reply's deadline (default the link's)."""
        self._require_reply("FC23")
        ser = self._serial
        if ser is None:
            raise LinkError("port is not open", port=self.port, frame=frame)
        pdu = ReadWriteMultipleRegistersRequest(
            read_address=read_address, read_count=read_count,
            write_address=write_address, write_registers=list(values), dev_id=self.unit)
        request = self._encode(pdu, 23)
        with self._resync_on_failure(23, frame):
            if self._resync:
                self._settle()
            else:
                self._discard_input()
            sent_ns = time.monotonic_ns()
            ser.write(request)
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        return PendingReply(23, 5 + 2 * read_count, frame, deadline, sent_ns)

    def abandon(self, pending: PendingReply | None = None) -> None:
        """Give up on a failed or overdue split exchange without waiting: drop what has arrived.
        A late remainder is dropped before the next request (the real-time loop cannot afford
        the settle wait a blocking exchange does after a failure)."""
        with self._resync_on_failure(23, pending.frame if pending else None):
            self._discard_input()
        self._resync = False

    def poll_reply(self, pending: PendingReply) -> list[int] | None:
        """Take what has arrived of the reply; its registers once complete, else None.
        LinkTimeout once the response timeout has passed without a complete reply."""
        with self._resync_on_failure(pending.fc, pending.frame):
            waiting = self._serial.in_waiting
            if waiting:
                pending.data += self._serial.read(waiting)
            return self._reply_if_complete(pending, time.monotonic() >= pending.deadline)

    def wait_reply(self, pending: PendingReply) -> list[int]:
        """Block until the reply is complete (LinkTimeout at the response timeout)."""
        with self._resync_on_failure(pending.fc, pending.frame):
            while True:
                want = self._expected_size(pending) - len(pending.data)
                pending.data += self._serial.read(max(1, want))
                registers = self._reply_if_complete(pending, time.monotonic() >= pending.deadline)
                if registers is not None:
                    return registers

    def _expected_size(self, pending: PendingReply) -> int:
        data, fc = pending.data, pending.fc
        if len(data) < _EXC:
            return _EXC
        if data[1] & 0x80:
            return _EXC
        return pending.reply_len if data[1] == fc else (rtu_frame.response_size(data) or pending.reply_len)

    def _reply_if_complete(self, pending: PendingReply, timed_out: bool) -> list[int] | None:
        size = self._expected_size(pending)
        data, fc, frame = pending.data, pending.fc, pending.frame
        if len(data) >= _EXC and data[1] & 0x80:
            self._raise_exception_reply(bytes(data[:_EXC]), fc, frame)
        if len(data) >= size and len(data) >= _EXC:
            return self._check(bytes(data[:size]), fc, pending.reply_len, frame).registers
        if timed_out:
            self._explain_short(bytes(data), pending.reply_len, frame)
            raise LinkTimeout(f"no complete FC{fc:02d} response from unit {self.unit}: "
                              f"{len(data)} of {size if len(data) >= _EXC else pending.reply_len} bytes "
                              f"within {self.timeout_s:g} s", port=self.port, frame=frame)
        return None

    # -- one exchange -------------------------------------------------------------------

    def _encode(self, pdu: ModbusPDU, fc: int) -> bytes:
        try:
            return self._framer.buildFrame(pdu)
        except Exception as exc:  # pymodbus raises ValueError or struct.error for bad arguments
            raise ValueError(f"cannot encode FC{fc:02d} request: {exc}") from exc

    def _transact(self, pdu: ModbusPDU, fc: int, reply_len: int,
                  frame: int | None) -> ModbusPDU | None:
        """Send `pdu`, read and check the reply; returns None for a broadcast (no reply)."""
        ser = self._serial
        if ser is None:
            raise LinkError("port is not open", port=self.port, frame=frame)
        request = self._encode(pdu, fc)
        with self._resync_on_failure(fc, frame):
            if self._resync:
                self._settle()
            else:
                self._discard_input()
            ser.write(request)
            if self.unit == 0:
                return None
            deadline = time.monotonic() + self.timeout_s
            head = ser.read(_EXC)
            if len(head) < _EXC:
                head = self._fill(head, _EXC, deadline, fc, reply_len, frame)
            if head[1] & 0x80:
                self._raise_exception_reply(head, fc, frame)
            size = reply_len if head[1] == fc else (rtu_frame.response_size(head) or reply_len)
            reply = head + ser.read(size - _EXC)
            if len(reply) < size:
                reply = self._fill(reply, size, deadline, fc, reply_len, frame)
            return self._check(reply, fc, reply_len, frame)

    @contextmanager
    def _resync_on_failure(self, fc: int, frame: int | None):
        """A failed exchange may still have its reply on the way: the next request first waits
        for the line to go quiet. I/O errors become LinkErrors naming the port and frame."""
        try:
            yield
        except ModbusExceptionReply:
            raise                       # a complete, well-formed exchange: no resync needed
        except LinkError:
            self._resync = True
            raise
        except _IO_ERRORS as exc:
            self._resync = True
            if isinstance(exc, serial.SerialTimeoutException):
                raise LinkTimeout(f"FC{fc:02d} request not sent within {self.timeout_s:g} s",
                                  port=self.port, frame=frame) from exc
            raise LinkError(f"serial I/O failed: {_reason(exc)}",
                            port=self.port, frame=frame) from exc

    def _fill(self, data: bytes, want: int, deadline: float, fc: int, reply_len: int,
              frame: int | None) -> bytes:
        """Slow path: keep reading until `want` bytes or the deadline; LinkTimeout if short."""
        ser = self._serial
        assert ser is not None
        while len(data) < want and time.monotonic() < deadline:
            data += ser.read(want - len(data))
        if len(data) < want:
            self._explain_short(data, reply_len, frame)
            expected = reply_len if want == _EXC else want
            raise LinkTimeout(f"no complete FC{fc:02d} response from unit {self.unit}: "
                              f"{len(data)} of {expected} bytes within {self.timeout_s:g} s",
                              port=self.port, frame=frame)
        return data

    def _explain_short(self, data: bytes, reply_len: int, frame: int | None) -> None:
        """A short reply that is a whole frame by its own byte count is a FrameError."""
        if len(data) >= _EXC and data[1] in (3, 4, 23) and len(data) == 5 + data[2] \
                and rtu_frame.crc_ok(data):
            raise FrameError(f"FC{data[1]:02d} response carries {data[2]} data bytes, "
                             f"expected {reply_len - 5}", port=self.port, frame=frame)

    def _check(self, reply: bytes, fc: int, reply_len: int, frame: int | None) -> ModbusPDU:
        """CRC first (a garbled frame says nothing reliable), then unit, function, byte count."""
        if not rtu_frame.crc_ok(reply):
            self._raise_crc(reply, fc, frame)
        if reply[0] != self.unit:
            raise FrameError(f"FC{fc:02d} response from unit {reply[0]}, expected unit {self.unit}",
                             port=self.port, frame=frame)
        if reply[1] != fc:
            raise FrameError(f"response has function code {reply[1]}, expected FC{fc:02d}",
                             port=self.port, frame=frame)
        if fc in (3, 23) and reply[2] != reply_len - 5:
            raise FrameError(f"FC{fc:02d} response byte count {reply[2]}, expected {reply_len - 5}",
                             port=self.port, frame=frame)
        pdu = self._decoder.decode(reply[1:-2])
        if pdu is None:
            raise FrameError(f"undecodable FC{fc:02d} response {reply.hex(' ')}",
                             port=self.port, frame=frame)
        return pdu

    def _raise_exception_reply(self, head: bytes, fc: int, frame: int | None) -> None:
        """Check an exception response (5 bytes) and raise it as ModbusExceptionReply."""
        if not rtu_frame.crc_ok(head):
            self._raise_crc(head, fc, frame)
        if head[0] != self.unit:
            raise FrameError(f"exception response from unit {head[0]}, expected unit {self.unit}",
                             port=self.port, frame=frame)
        if head[1] & 0x7F != fc:
            raise FrameError(f"exception response to FC{head[1] & 0x7F:02d}, sent FC{fc:02d}",
                             port=self.port, frame=frame)
        pdu = self._decoder.decode(head[1:-2])
        code = pdu.exception_code if pdu is not None else head[2]
        raise ModbusExceptionReply(code, function=fc, port=self.port, frame=frame)

    def _raise_crc(self, reply: bytes, fc: int, frame: int | None) -> None:
        computed = rtu_frame.crc16(reply[:-2]).hex().upper()
        raise CrcError(f"CRC mismatch in {len(reply)}-byte FC{fc:02d} response: received "
                       f"{reply[-2:].hex().upper()}, computed {computed}",
                       port=self.port, frame=frame)

    def _settle(self) -> None:
        """After a failed exchange: discard input until the line has been quiet for one read
        slice (bounded by timeout_s), so a late reply is not taken as the next answer."""
        ser = self._serial
        assert ser is not None
        self._discard_input()
        deadline = time.monotonic() + self.timeout_s
        while ser.read(rtu_frame.MAX_ADU) and time.monotonic() < deadline:
            pass
        self._resync = False

    def _discard_input(self) -> None:
        """Drop received bytes. Over rfc2217:// a purge is a network round trip to the port
        server (about 50 ms through ser2net), so there the bytes already here are read and dropped."""
        ser = self._serial
        if self.port.startswith("rfc2217://"):
            if ser.in_waiting:
                ser.read(ser.in_waiting)
        else:
            ser.reset_input_buffer()

    def _require_reply(self, function: str) -> None:
        if self.unit == 0:
            raise ValueError(f"{function} reads registers and cannot be broadcast (unit 0)")


def _reason(exc: BaseException) -> str:
    """The most specific one-line reason: pyserial wraps the OSError that says what went wrong."""
    inner = exc.__context__ if isinstance(exc.__context__, OSError) else exc
    if isinstance(inner, _TermiosError) and len(inner.args) == 2:  # (errno, text)
        return str(inner.args[1])
    text = getattr(inner, "strerror", None) or str(inner) or type(inner).__name__
    return " ".join(str(text).split())
