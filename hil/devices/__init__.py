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

    # Device faults (docs/device-control.md). Both questions are answered before start().
    def reset_method(self) -> str | None:
        """How this device is reset mid-flight ("register bank power-up", "process restart",
        "simavr core reset", "QEMU system_reset", "DTR pulse", "Modbus relay power cycle"), or
        None when it cannot be."""

    def reset(self) -> dict:
        """Reset now; returns when the device has been restarted (it may still be booting). A
        dict for the run's summary: {"method": ..., "took_s": wall seconds}, and for a relay
        "off_latency_s", "on_latency_s" (the coil writes' round trips) and "off_s". HilError
        (one line) when it fails."""

    def slow_method(self) -> str | None:
        """How this device's control step is slowed, or None when it cannot be."""

    def slow(self, step_delay_us: int) -> None:
        """Every control step takes at least step_delay_us from now on (counted in the command
        block's step_time_us); 0 restores. It outlasts a reset, as the fault does."""


def device_for(rig: Rig, *, proxy: bool = False, env: dict | None = None) -> Device:
    """The rig's device; behind the link proxy when the rig has link faults or `proxy` asks for it
    (a run whose fault schedule switches proxy rules or resets the device). `env`: variables for
    a process device's program (where a coverage build writes its counts)."""
    device = _device_of_kind(rig, env)
    if hasattr(device, "monitor"):
        device.monitor = proxy       # QEMU's monitor socket only for a run that may reset it
    if rig.link_faults or proxy:
        from hil.devices.proxied import ProxiedDevice
        return ProxiedDevice(device, rig.link_faults, rig.link_fault_seed, rig.baudrate)
    return device


def _device_of_kind(rig: Rig, env: dict | None = None) -> Device:
    if rig.kind == "mil":
        from hil.devices.inprocess import InProcessDevice
        return InProcessDevice()
    if rig.kind == "loopback":
        from hil.devices.loopback import LoopbackDevice
        return LoopbackDevice(unit=rig.unit)
    if rig.kind in ("sil", "emulator"):
        from pathlib import Path

        from hil.devices.process import ProcessDevice
        return ProcessDevice(Path(rig.firmware_dir), list(rig.make), list(rig.command), rig.pty_pattern,
                             reset=rig.reset_mode, step_control=rig.kind == "sil", env=env)
    from hil.devices.serial_port import SerialPortDevice
    relay = None
    if rig.reset_mode == "relay":
        from hil.devices.relay_switch import RelaySwitch
        relay = RelaySwitch(rig.relay, unit=rig.relay_unit, coil=rig.relay_coil, baudrate=rig.relay_baudrate)
    return SerialPortDevice(rig.port, reset=rig.reset_mode, baudrate=rig.baudrate, relay=relay,
                            relay_off_s=rig.relay_off_s)
