"""Loopback device: the Python reference controller served over Modbus RTU on a pty."""

from __future__ import annotations

import os

from hil import __version__, icd
from hil.devices.controller_registers import ControllerRegisters
from hil.devices.pty_pair import open_pty_pair
from hil.devices.rtu_server import RtuServer
from hil.reference import ReferenceController


class LoopbackDevice:
    """Stands where a board would: the host reaches it through a pty path with pyserial."""

    def __init__(self, unit: int = 1) -> None:
        self.unit = unit
        self.registers: ControllerRegisters | None = None
        self._server: RtuServer | None = None
        self._fd: int | None = None

    def start(self) -> str:
        """Start serving; returns the serial port path the link opens."""
        self.registers = ControllerRegisters(ReferenceController(), device_kind=icd.DeviceKind.REFERENCE,
                                             build_id=icd.version_build_id(__version__))
        self._fd, path = open_pty_pair()
        self._server = RtuServer(self.registers, unit=self.unit)
        self._server.start(self._fd)
        return path

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def failure(self) -> str | None:
        return None
