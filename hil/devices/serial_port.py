"""Serial device: a controller already running somewhere, reached at a pyserial URL (bench).

A bench board is reset mid-flight (docs/device-control.md) by a DTR pulse, as an Arduino Uno's
auto-reset capacitor turns DTR's falling edge into a reset, or by switching its power off and
on through a Modbus relay module (hil/devices/relay_switch.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import serial

from hil.devices.relay_switch import RelaySwitch
from hil.errors import HilError

RESETS = {"dtr": "DTR pulse", "relay": "Modbus relay power cycle"}
DTR_LOW_S = 0.05          # far longer than the Uno's reset pulse through its 100 nF capacitor needs
PORT_BACK_S = 10.0        # after power-on: a USB board's device node reappears within this


class SerialPortDevice:
    """Nothing to start: the board is powered by its USB cable; we only know where it is.

    `opener` opens the port for a DTR pulse (pyserial's serial_for_url; a test records the line
    with a port whose DTR it can see, a pty having none)."""

    def __init__(self, port: str, *, reset: str = "none", baudrate: int = 115200, relay: RelaySwitch | None = None,
                 relay_off_s: float = 0.5, opener: Callable[..., serial.SerialBase] = serial.serial_for_url) -> None:
        if reset not in (*RESETS, "none"):
            raise ValueError(f"reset {reset!r} is not one of {', '.join(RESETS)}, none")
        if reset == "relay" and relay is None:
            raise ValueError("reset 'relay' needs a RelaySwitch")
        self.port = port
        self.reset_mode = reset
        self.baudrate = baudrate
        self.relay = relay
        self.relay_off_s = relay_off_s
        self._opener = opener

    @property
    def url(self) -> str:
        return self.port

    def start(self) -> str:
        return self.port

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.close()

    def failure(self) -> str | None:
        return None

    # -- device faults (docs/device-control.md) -----------------------------------------------

    def reset_method(self) -> str | None:
        return RESETS.get(self.reset_mode)

    def reset(self) -> dict:
        """Pulse DTR, or power-cycle the board; returns when it has been restarted (it is then
        booting: the rig's boot_wait_s covers a bootloader)."""
        started = time.perf_counter()
        if self.reset_mode == "dtr":
            self._dtr_pulse()
            return {"method": RESETS["dtr"], "took_s": time.perf_counter() - started}
        if self.reset_mode == "relay":
            switched = self.relay.power_cycle(self.relay_off_s)
            self._wait_for_port()
            return {"method": RESETS["relay"], "took_s": time.perf_counter() - started, **switched}
        raise HilError(f"the board on {self.port} cannot be reset: its rig names no reset "
                       "(reset = \"dtr\" or \"relay\")")

    def _dtr_pulse(self) -> None:
        # A second handle on the port: the modem lines belong to the tty, not to one open file,
        # and whoever holds the port open (the host, or the link proxy) keeps it open, so closing
        # this handle does not drop DTR a second time.
        try:
            port = self._opener(self.port, baudrate=self.baudrate)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise HilError(f"cannot open {self.port} for a DTR pulse: {exc}") from None
        try:
            port.dtr = False                # falling edge: the board resets
            time.sleep(DTR_LOW_S)
            port.dtr = True
        except (serial.SerialException, OSError) as exc:
            raise HilError(f"cannot pulse DTR on {self.port}: {exc}") from None
        finally:
            port.close()

    def _wait_for_port(self) -> None:
        """A board on USB goes away while unpowered; wait until its device node is back (a URL
        such as rfc2217:// or socket:// is not a path here: nothing to wait for)."""
        if "://" in self.port:
            return
        deadline = time.monotonic() + PORT_BACK_S
        while not os.path.exists(self.port):
            if time.monotonic() > deadline:
                raise HilError(f"{self.port} did not come back within {PORT_BACK_S:g} s of power-on")
            time.sleep(0.01)

    def slow_method(self) -> str | None:
        return None       # a board's step is its firmware's; nothing to slow from here

    def slow(self, step_delay_us: int) -> None:
        raise HilError(f"the board on {self.port} cannot have its control step slowed")
