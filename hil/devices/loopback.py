"""Loopback device: the Python reference controller served over Modbus RTU on a pty."""

from __future__ import annotations

import os
import time

from hil import __version__, icd
from hil.devices.controller_registers import ControllerRegisters
from hil.devices.pty_pair import open_pty_pair
from hil.devices.rtu_server import RtuServer
from hil.errors import HilError
from hil.reference import ReferenceController

RESET = "register bank power-up"
SLOW = "step delay in the register bank"
MAX_STEP_DELAY_US = 1_000_000     # as the SIL's --step-delay-us


class LoopbackDevice:
    """Stands where a board would: the host reaches it through a pty path with pyserial."""

    def __init__(self, unit: int = 1) -> None:
        self.unit = unit
        self.registers: ControllerRegisters | None = None
        self.url: str | None = None
        self._server: RtuServer | None = None
        self._fd: int | None = None
        self._step_delay_us = 0

    def start(self) -> str:
        """Start serving; returns the serial port path the link opens."""
        self.registers = self._power_up()
        self._fd, self.url = open_pty_pair()
        self._server = RtuServer(self.registers, unit=self.unit)
        self._server.start(self._fd)
        return self.url

    def _power_up(self) -> ControllerRegisters:
        registers = ControllerRegisters(ReferenceController(), device_kind=icd.DeviceKind.REFERENCE,
                                        build_id=icd.version_build_id(__version__))
        registers.step_delay_us = self._step_delay_us   # a slowed step is the fault's, not the state's
        return registers

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def failure(self) -> str | None:
        return None

    # -- device faults (docs/device-control.md) -----------------------------------------------

    def reset_method(self) -> str | None:
        return RESET

    def reset(self) -> dict:
        """The controller and its registers back to power-up, on the same pty: the server stops
        between two requests, bytes that arrived meanwhile are lost with the old state."""
        if self._server is None:
            raise HilError("cannot reset the loopback device: it is not started")
        started = time.perf_counter()
        self._server.stop()
        _discard_input(self._fd)
        self.registers = self._power_up()
        self._server = RtuServer(self.registers, unit=self.unit)
        self._server.start(self._fd)
        return {"method": RESET, "took_s": time.perf_counter() - started}

    def slow_method(self) -> str | None:
        return SLOW

    def slow(self, step_delay_us: int) -> None:
        if not 0 <= step_delay_us <= MAX_STEP_DELAY_US:
            raise HilError(f"step delay {step_delay_us} us is outside 0..{MAX_STEP_DELAY_US}")
        self._step_delay_us = int(step_delay_us)
        if self.registers is not None:
            self.registers.step_delay_us = self._step_delay_us   # read at the next step


def _discard_input(fd: int) -> None:
    blocking = os.get_blocking(fd)
    os.set_blocking(fd, False)
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, OSError):     # empty, or EIO: no client has the pty open
        pass
    finally:
        os.set_blocking(fd, blocking)
