"""Devices: each knows how to start and reach one kind of controller."""

from __future__ import annotations

from typing import Protocol

from hil.rig import Rig


class Device(Protocol):
    def start(self) -> str:
        """Bring the controller up; return the pyserial URL to reach it (the in-process device
        returns its link object instead)."""

    def stop(self) -> None:
        """Shut it down (idempotent); always called when a run ends."""

    def failure(self) -> str | None:
        """Why the controller ended badly on its own (a crash), or None; also while running."""


def device_for(rig: Rig) -> Device:
    device = _device_of_kind(rig)
    if rig.link_faults:
        from hil.devices.proxied import ProxiedDevice
        return ProxiedDevice(device, rig.link_faults, rig.link_fault_seed, rig.baudrate)
    return device


def _device_of_kind(rig: Rig) -> Device:
    if rig.kind == "mil":
        from hil.devices.inprocess import InProcessDevice
        return InProcessDevice()
    if rig.kind == "loopback":
        from hil.devices.loopback import LoopbackDevice
        return LoopbackDevice(unit=rig.unit)
    if rig.kind in ("sil", "emulator"):
        from pathlib import Path

        from hil.devices.process import ProcessDevice
        return ProcessDevice(Path(rig.firmware_dir), list(rig.make), list(rig.command), rig.pty_pattern)
    from hil.devices.serial_port import SerialPortDevice
    return SerialPortDevice(rig.port)
