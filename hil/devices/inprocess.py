"""In-process MIL device: the reference controller's register bank called directly.

No pty, no server thread, no bytes: the executive's register reads and writes go straight to
the same ControllerRegisters the loopback device serves over Modbus RTU, so a landing is the
same landing (tests/test_inprocess.py compares the telemetry) at a fraction of the cost. For
fast suites and campaigns; `hil land` keeps the pty loopback as its default because that
exercises the real link. Lockstep only: the controller here has no clock of its own to step on.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

from hil import __version__, icd
from hil.devices.controller_registers import ControllerRegisters
from hil.devices.rtu_server import ModbusError
from hil.errors import HilError, LinkError, ModbusExceptionReply
from hil.reference import ReferenceController

PORT = "in-process"


class InProcessDevice:
    """start() returns the link itself instead of a URL to open."""

    def __init__(self) -> None:
        self.registers: ControllerRegisters | None = None

    def start(self) -> DirectLink:
        self.registers = ControllerRegisters(ReferenceController(), device_kind=icd.DeviceKind.REFERENCE,
                                             build_id=icd.version_build_id(__version__))
        return DirectLink(self.registers)

    def stop(self) -> None:
        self.registers = None

    def failure(self) -> str | None:
        return None

    # No device faults here: a MIL run has no device to reset or slow (use loopback for that).
    def reset_method(self) -> str | None:
        return None

    def reset(self) -> dict:
        raise HilError("the in-process MIL device cannot be reset mid-flight (use the loopback rig)")

    def slow_method(self) -> str | None:
        return None

    def slow(self, step_delay_us: int) -> None:
        raise HilError("the in-process MIL device's step cannot be slowed (use the loopback rig)")


class DirectLink:
    """The link interface the handshake and the lockstep executive use, as direct calls.

    A register handler's refusal becomes the Modbus exception reply a wire would carry."""

    port = PORT

    def __init__(self, registers: ControllerRegisters) -> None:
        self.registers = registers

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> DirectLink:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def drain(self) -> None:
        pass

    def read_holding(self, address: int, count: int, *, frame: int | None = None) -> list[int]:
        with self._as_reply(3, frame):
            return self.registers.read(address, count)

    def write_register(self, address: int, value: int, *, frame: int | None = None) -> None:
        with self._as_reply(6, frame):
            self.registers.write(address, [value])

    def write_registers(self, address: int, values: Sequence[int], *, frame: int | None = None) -> None:
        with self._as_reply(16, frame):
            self.registers.write(address, list(values))

    def read_write(self, write_address: int, values: Sequence[int], read_address: int, read_count: int, *,
                   frame: int | None = None) -> list[int]:
        with self._as_reply(23, frame):
            self.registers.write(write_address, values)
            return self.registers.read(read_address, read_count)

    def send_read_write(self, *args, frame: int | None = None, **kwargs):
        raise LinkError("the in-process MIL device runs lockstep only", port=PORT, frame=frame)

    @contextmanager
    def _as_reply(self, function: int, frame: int | None):
        try:
            yield
        except ModbusError as exc:
            raise ModbusExceptionReply(exc.code, function=function, port=PORT, frame=frame) from None
