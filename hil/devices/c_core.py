"""The C firmware core in this process, through ctypes: the same register bank the SIL serves,
on a clock the caller sets.

`firmware/ports/testlib/` builds the core as a shared library (`make testlib`) whose port takes
its time from the host and hands replies back instead of writing a line. `CCoreRegisters` then
has the interface of `ControllerRegisters` (read, write, poll) plus the C Modbus server itself
(`feed`, `idle`), so one test can drive the Python device and the C core the same way: the
contract suite (tests/test_contract_*.py) and the register-level differential
(tests/test_differential.py, benchmarks/differential.py).

The library holds one instance: creating a CCoreRegisters resets it, and only the newest one
may be used.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

from hil import icd
from hil.devices.controller_registers import monotonic_clock_us
from hil.devices.process import build_firmware
from hil.devices.rtu_server import DeviceFailure, IllegalAddress, IllegalFunction, IllegalValue, ModbusError
from hil.reference import CommandOutput

FIRMWARE_DIR = Path(__file__).resolve().parents[2] / "firmware"
LIBRARY = "build/testlib/libskycrane-core.so"
APP_POLL_IDLE = 0xFFFFFFFF
_EXCEPTIONS = {1: IllegalFunction, 2: IllegalAddress, 3: IllegalValue, 4: DeviceFailure}
_REPLY_MAX = 4096
_library: ctypes.CDLL | None = None


class FirmwareFault(RuntimeError):
    """The core called port_fault: a firmware bug, never bad input."""


class _Probe(ctypes.Structure):
    _fields_ = [("state", ctypes.c_uint32), ("started", ctypes.c_uint32), ("prev_frame", ctypes.c_uint32),
                ("prev_t_us", ctypes.c_uint32), ("link_lost", ctypes.c_uint32), ("step_count", ctypes.c_uint32),
                ("hover_est", ctypes.c_float), ("nav_altitude", ctypes.c_float),
                ("nav_velocity", ctypes.c_float * 3), ("baseline", ctypes.c_float)]


class _Commands(ctypes.Structure):   # struct ctl_commands
    _fields_ = [("frame", ctypes.c_uint32), ("state", ctypes.c_uint16), ("throttle", ctypes.c_float),
                ("tilt_x_rad", ctypes.c_float), ("tilt_y_rad", ctypes.c_float), ("discretes", ctypes.c_uint16),
                ("td_time_us", ctypes.c_uint32), ("faults", ctypes.c_uint16), ("state_since_us", ctypes.c_uint32)]


def load_library(firmware_dir: Path = FIRMWARE_DIR) -> ctypes.CDLL:
    """Build (make is a no-op when up to date) and load the core library, once per process."""
    global _library
    if _library is None:
        build_firmware(firmware_dir, ["testlib"])
        lib = ctypes.CDLL(str(firmware_dir / LIBRARY))
        u8p = ctypes.POINTER(ctypes.c_uint8)
        lib.tl_init.argtypes = [ctypes.c_uint8]
        lib.tl_set_time_us.argtypes = [ctypes.c_uint32]
        lib.tl_read.argtypes = [ctypes.c_uint16, ctypes.c_uint16, u8p]
        lib.tl_write.argtypes = [ctypes.c_uint16, ctypes.c_uint16, u8p]
        lib.tl_poll.restype = ctypes.c_int64
        lib.tl_feed.argtypes = [u8p, ctypes.c_uint16, u8p, ctypes.c_uint16]
        lib.tl_ctl_link_lost.argtypes = [ctypes.c_uint32, ctypes.POINTER(_Commands), ctypes.c_uint16]
        lib.tl_probe.argtypes = [ctypes.POINTER(_Probe)]
        lib.tl_fault_message.restype = ctypes.c_char_p
        lib.tl_adu_max.restype = ctypes.c_uint32
        _library = lib
    return _library


class CCoreRegisters:
    """The C register bank (app.c) and Modbus server (mb_server.c), driven like ControllerRegisters.

    `clock_us` is the device clock (u32 microseconds); it is read before every call into C.
    Identity: device kind SIL, the core's default build id.
    """

    def __init__(self, *, clock_us: Callable[[], int] = monotonic_clock_us, unit: int = 1) -> None:
        self._lib = load_library()
        self._clock_us = clock_us
        self._lib.tl_init(unit)
        self.adu_max = int(self._lib.tl_adu_max())

    def _now(self) -> None:
        self._lib.tl_set_time_us(self._clock_us() & 0xFFFFFFFF)

    def _check(self, code: int) -> None:
        if code < 0:
            raise FirmwareFault(self._lib.tl_fault_message().decode(errors="replace"))
        if code:
            raise _EXCEPTIONS.get(code, ModbusError)(f"exception {code:02d} from the C core")

    # -- the register bank ------------------------------------------------------------------

    def read(self, address: int, count: int) -> list[int]:
        out = (ctypes.c_uint8 * (2 * count))()
        self._now()
        self._check(self._lib.tl_read(address, count, out))
        return list(struct.unpack(f">{count}H", bytes(out)))

    def write(self, address: int, values: Sequence[int]) -> None:
        data = (ctypes.c_uint8 * (2 * len(values))).from_buffer_copy(struct.pack(f">{len(values)}H", *values))
        self._now()
        self._check(self._lib.tl_write(address, len(values), data))

    def poll(self) -> float | None:
        """A due real-time step or the watchdog; seconds until the next is due, None if idle."""
        self._now()
        wait = self._lib.tl_poll()
        self._check(min(wait, 0))
        return None if wait == APP_POLL_IDLE else wait / 1e6

    # -- the Modbus server --------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Bytes received on the line; the replies the server sent."""
        src = (ctypes.c_uint8 * max(1, len(data))).from_buffer_copy(data.ljust(1, b"\0"))
        reply = (ctypes.c_uint8 * _REPLY_MAX)()
        self._now()
        n = self._lib.tl_feed(src, len(data), reply, _REPLY_MAX)
        if n == -2:
            raise RuntimeError(f"the replies to {len(data)} bytes fed at once exceed {_REPLY_MAX} bytes")
        self._check(min(n, 0))
        return bytes(reply[:n])

    def idle(self) -> None:
        """The line went silent for 3.5 characters: the server drops a partial frame."""
        self._now()
        self._check(self._lib.tl_idle())

    # -- the controller inside ---------------------------------------------------------------

    def controller_link_lost(self, t_us: int) -> CommandOutput:
        """ctl_controller_link_lost at controller clock t_us, outside the app's schedule (the
        controller-level contract)."""
        out = _Commands()
        self._now()
        self._check(min(self._lib.tl_ctl_link_lost(t_us & 0xFFFFFFFF, ctypes.byref(out), ctypes.sizeof(out)), 0))
        return CommandOutput(out.frame, out.state, out.throttle, out.tilt_x_rad, out.tilt_y_rad, out.discretes,
                             out.td_time_us, out.faults, out.state_since_us)

    def probe(self) -> dict:
        """The controller's inner state by the Python reference's names (see tests/contract.py)."""
        p = _Probe()
        self._lib.tl_probe(ctypes.byref(p))
        return {"state": p.state, "started": bool(p.started), "prev_frame": p.prev_frame if p.started else -1,
                "prev_t_us": p.prev_t_us, "link_lost": bool(p.link_lost), "step_count": p.step_count,
                "hover_est": p.hover_est, "nav_altitude": p.nav_altitude, "nav_velocity": tuple(p.nav_velocity),
                "baseline": p.baseline}


def identity() -> dict:
    """The identity block the library answers with (for building a matching Python device)."""
    regs = CCoreRegisters(clock_us=lambda: 0)
    return icd.IDENTITY.decode_map(regs.read(icd.IDENTITY.base, icd.IDENTITY.length))
