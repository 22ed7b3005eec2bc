"""Devices: each knows how to start and reach one kind of controller."""

from __future__ import annotations

from typing import Protocol

from hil.rig import Rig


class Device(Protocol):
    def start(self) -> str:
        """Bring the controller up; return the pyserial URL to reach it."""

    def stop(self) -> None:
        """Shut it down (idempotent); always called when a run ends."""


def device_for(rig: Rig) -> Device:
    if rig.kind == "loopback":
        from hil.devices.loopback import LoopbackDevice
        return LoopbackDevice(unit=rig.unit)
    from hil.devices.serial_port import SerialPortDevice
    return SerialPortDevice(rig.port)
