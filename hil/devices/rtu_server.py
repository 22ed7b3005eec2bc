"""Modbus RTU server (slave): answers FC03/06/16/23 from a register handler over a pty or socket."""

from __future__ import annotations

import errno
import logging
import os
import select
import struct
import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from hil.link import rtu_frame

_log = logging.getLogger(__name__)

_EIO_RETRY_S = 0.01   # pty slave closed: how often to look for a client reopening it


class ModbusError(Exception):
    """Raised by a handler to answer with a Modbus exception response of this code."""

    code: int = 4


class IllegalFunction(ModbusError):
    """01: the function is not supported (at this address)."""

    code = 1


class IllegalAddress(ModbusError):
    """02: the register range does not exist."""

    code = 2


class IllegalValue(ModbusError):
    """03: a value or count is not acceptable."""

    code = 3


class DeviceFailure(ModbusError):
    """04: the device could not perform the request."""

    code = 4


class RegisterHandler(Protocol):
    """The register map behind the server: what FC03/06/16/23 read and write."""

    def read(self, address: int, count: int) -> list[int]:
        """Return `count` registers from `address`; raise IllegalAddress / IllegalValue."""
        ...

    def write(self, address: int, values: Sequence[int]) -> None:
        """Store `values` from `address`; may run application logic (e.g. a control step)."""
        ...

    # Optional: `poll() -> float | None`, called by the server thread before each wait; runs
    # any timed work that is due and returns the seconds until the next (None: nothing due).


class RtuServer:
    """Serves one unit address over a file descriptor in a background thread.

    Frames are delimited by the length each function code implies, not by the 3.5
    character silence of the spec, which a pty or socket does not preserve. Bytes that
    form no CRC-valid frame are dropped one by one until a frame checks (hunting); a
    frame still arriving waits for its remaining bytes.
    """

    def __init__(self, handler: RegisterHandler, *, unit: int = 1) -> None:
        if not 1 <= unit <= rtu_frame.MAX_UNIT:
            raise ValueError(f"unit must be 1..{rtu_frame.MAX_UNIT}, got {unit}")
        self.handler = handler
        self.unit = unit
        self.requests_served = 0   # frames for this unit, answered
        self.frames_dropped = 0    # runs of bytes discarded: bad CRC, garbage, truncation
        self.frames_ignored = 0    # valid frames for other units or broadcast
        self._buf = bytearray()
        self._hunting = False      # inside a run of discarded bytes
        self._fd = -1
        self._wake_r = self._wake_w = -1
        self._thread: threading.Thread | None = None

    def start(self, fd: int) -> None:
        """Serve `fd` (pty master or connected socket) until stop(); the caller closes fd after."""
        if self.running:
            raise RuntimeError("RtuServer already started")
        self.stop()                    # a thread that ended on its own (peer closed) leaves state
        self._fd = fd
        self._buf.clear()
        self._hunting = False
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"rtu-server-unit{self.unit}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        os.write(self._wake_w, b"x")
        thread.join(timeout=5)
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._wake_r = self._wake_w = -1

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- I/O thread -----------------------------------------------------------------------

    def _run(self) -> None:
        # Non-blocking while served: a pty master can select readable for EIO (no client) and
        # then block in read() when a client opens the slave meanwhile, stalling poll()'s timer.
        try:
            was_blocking = os.get_blocking(self._fd)
            os.set_blocking(self._fd, False)
        except OSError as exc:
            _log.warning("RTU server cannot use fd %d: %s", self._fd, exc)
            return
        try:
            self._serve()
        finally:
            try:
                os.set_blocking(self._fd, was_blocking)
            except OSError:
                pass                           # closed under us

    def _serve(self) -> None:
        fd, wake = self._fd, self._wake_r
        while True:
            wait = self._poll_handler()
            try:
                ready, _, _ = select.select([fd, wake], [], [], wait)
            except OSError as exc:             # fd closed under us: stop() should come first
                _log.warning("RTU server select on fd %d failed, stopping: %s", fd, exc)
                return
            if wake in ready:
                return
            if fd not in ready:                # the handler's timer is due
                continue
            try:
                data = os.read(fd, 4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:   # pty with no client: wait for one to open it
                    retry = _EIO_RETRY_S if wait is None else min(_EIO_RETRY_S, wait)
                    if select.select([wake], [], [], retry)[0]:
                        return
                    continue
                _log.warning("RTU server read on fd %d failed, stopping: %s", fd, exc)
                return
            if not data:                       # socket peer closed
                return
            reply = self.feed(data)
            if reply:
                try:
                    os.write(fd, reply)          # <= 256 bytes: well inside pty/socket buffers
                except OSError as exc:
                    _log.debug("RTU server reply dropped: %s", exc)

    def _poll_handler(self) -> float | None:
        """Let the handler do its timed work (a real-time control step); how long select may wait.

        A handler's optional `poll()` returns the seconds until it next has work, or None when
        nothing is scheduled; handlers without one are served purely on requests.
        """
        poll = getattr(self.handler, "poll", None)
        if poll is None:
            return None
        try:
            wait = poll()
        except Exception:
            _log.exception("register handler poll failed; serving requests only until the next one")
            return None
        return None if wait is None else max(0.0, float(wait))

    # -- framing and execution (no I/O; also usable without the thread) ---------------------

    def feed(self, data: bytes) -> bytes:
        """Take received bytes; return the reply bytes to send (possibly empty)."""
        self._buf += data
        replies = [r for r in map(self._handle, self._frames()) if r]
        return b"".join(replies)

    def _frames(self) -> Iterator[bytes]:
        """Yield the CRC-valid frames in the buffer, dropping garbage; keep a partial frame."""
        buf = self._buf
        start = pos = 0          # start: first byte not consumed; pos: candidate frame start
        partial = -1             # first candidate that may still complete
        while len(buf) - pos >= 4:
            size = rtu_frame.request_size(buf, pos)
            if size == 0 and buf[pos] == self.unit and rtu_frame.crc_ok(buf[pos:]):
                # A function we cannot size: on a pty or socket a request arrives in one
                # piece, so the rest of the buffer checking out is that request (-> 01).
                size = len(buf) - pos
            if size is None or (size and pos + size > len(buf)):
                if partial < 0:
                    partial = pos
            elif size and rtu_frame.crc_ok(frame := bytes(buf[pos:pos + size])):
                if pos > start:
                    self._discarding()
                self._hunting = False
                yield frame
                start = pos = pos + size
                partial = -1
                continue
            pos += 1
        keep = partial if partial >= 0 else pos
        if keep > start:
            self._discarding()
        del buf[:keep]

    def _discarding(self) -> None:
        """Count one dropped frame per run of discarded bytes, however many reads it spans."""
        if not self._hunting:
            self.frames_dropped += 1
            self._hunting = True

    def _handle(self, frame: bytes) -> bytes | None:
        """Execute one request frame; return the reply frame, or None when none is due."""
        unit, fc = frame[0], frame[1]
        if unit != self.unit:
            # Another unit, or a broadcast (0): no action, no reply, as in the firmware. A
            # controller must not act on a write it cannot acknowledge; the host never broadcasts.
            self.frames_ignored += 1
            return None
        self.requests_served += 1
        try:
            return self._execute(fc, frame)
        except ModbusError as exc:
            code = exc.code
        except Exception:
            _log.exception("register handler failed on FC%02d; answering exception 04", fc)
            code = 4
        return rtu_frame.with_crc(bytes((unit, fc | 0x80, code)))

    def _execute(self, fc: int, frame: bytes) -> bytes | None:
        handler = self.handler
        if fc == 23:
            raddr, rcount, waddr, wcount, nbytes = struct.unpack_from(">HHHHB", frame, 2)
            if not (1 <= rcount <= 125 and 1 <= wcount <= 121 and nbytes == 2 * wcount):
                raise IllegalValue(f"FC23 read {rcount} write {wcount} bytes {nbytes}")
            handler.write(waddr, list(struct.unpack_from(f">{wcount}H", frame, 11)))
            return self._registers_reply(fc, handler.read(raddr, rcount), rcount)
        if fc == 3:
            address, count = struct.unpack_from(">HH", frame, 2)
            if not 1 <= count <= 125:
                raise IllegalValue(f"FC03 count {count}")
            return self._registers_reply(fc, handler.read(address, count), count)
        if fc == 6:
            address, value = struct.unpack_from(">HH", frame, 2)
            handler.write(address, [value])
            return frame                                # the reply echoes the request
        if fc == 16:
            address, count, nbytes = struct.unpack_from(">HHB", frame, 2)
            if not (1 <= count <= 123 and nbytes == 2 * count):
                raise IllegalValue(f"FC16 count {count} bytes {nbytes}")
            handler.write(address, list(struct.unpack_from(f">{count}H", frame, 7)))
            return rtu_frame.with_crc(frame[:6])
        raise IllegalFunction(f"FC{fc:02d}")

    def _registers_reply(self, fc: int, values: Sequence[int], count: int) -> bytes:
        if len(values) != count:
            raise DeviceFailure(f"handler returned {len(values)} registers, asked {count}")
        body = bytes((self.unit, fc, 2 * count)) + struct.pack(f">{count}H", *values)
        return rtu_frame.with_crc(body)
