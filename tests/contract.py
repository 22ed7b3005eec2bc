"""The two implementations of the device contract (docs/realtime.md, docs/controller.md), driven
the same way: the Python reference's register bank and the C core through ctypes, each on a
clock the test sets.

A test that takes the `implementation` fixture (tests/conftest.py) runs once per implementation;
`device(implementation, clock)` gives a register bank with read, write and poll (as the RTU
server calls them), probe() (the controller's inner state by the Python names) and
controller_link_lost(t_us) (the controller's own watchdog entry). Where the two differ on purpose,
the difference is named in KNOWN_DIFFERENCES and a test shows it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from hil import icd
from hil.devices.c_core import CCoreRegisters
from hil.devices.controller_registers import ControllerRegisters
from hil.reference import CommandOutput, ReferenceController

IMPLEMENTATIONS = ("python", "c")
SIL_KIND = int(icd.DeviceKind.SIL)
C_BUILD_ID = 0x000100        # the core's default FW_BUILD_ID

# The differences between the two on purpose, each shown by the test named after it.
KNOWN_DIFFERENCES = {
    "float32 arithmetic": "the C computes in float32, the reference in float64: values agree to "
                          "float32 rounding, not bit for bit (test_contract_controller.py::"
                          "test_inner_state_agrees_to_float32_rounding). In closed loop some "
                          "configurations amplify it, and a command a rounding error off a clamp "
                          "(throttle_min, 1.0) winds the integrator up on one side only "
                          "(benchmarks/back_to_back.py measures both; docs/firmware.md, Verification)",
    "exact ties": "a value that meets its threshold exactly (to the float32 bit) may be taken one "
                  "cycle apart: the C compares float32 values, the reference float64 sums "
                  "(docs/firmware.md, \"Exact ties\"; test_contract_controller.py::"
                  "test_a_threshold_met_exactly_may_be_taken_a_cycle_apart)",
}


MASK = 0xFFFFFFFF
T0 = 5_000_000            # where a FakeClock starts: far from 0 and from the wrap


class FakeClock:
    """The device clock a test sets: u32 microseconds, wrapping."""

    def __init__(self, t: int = T0) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t & MASK

    def at(self, t: int) -> FakeClock:
        self.t = t
        return self


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def sensor_frame(frame: int, t_us: int = 0, altitude: float = 1500.0, vx: float = 0.0) -> list[int]:
    """A sensor block: a fresh radar sample every frame, descending at 70 m/s."""
    return icd.SENSORS.encode([frame, t_us, frame & 0xFFFF, altitude, vx, 0.0, -70.0, 0.0, 0.0, 3.711, 0.0,
                               int(icd.SensorFlags.RADAR_VALID), 0, 1.0])


def config(**values) -> dict:
    """The ICD defaults with these values over them."""
    return {**icd.config_defaults(), **values}


class PythonDevice:
    """ControllerRegisters around a ReferenceController, with the probe the C library has."""

    def __init__(self, clock_us: Callable[[], int]) -> None:
        self.regs = ControllerRegisters(ReferenceController(), device_kind=SIL_KIND, build_id=C_BUILD_ID,
                                        clock_us=clock_us)

    def read(self, address: int, count: int) -> list[int]:
        return self.regs.read(address, count)

    def write(self, address: int, values) -> None:
        self.regs.write(address, values)

    def poll(self) -> float | None:
        return self.regs.poll()

    def controller_link_lost(self, t_us: int) -> CommandOutput:
        return self.regs.controller.link_lost(t_us)

    def probe(self) -> dict:
        c = self.regs.controller
        return {"state": int(c.state), "started": c.prev_frame >= 0, "prev_frame": c.prev_frame,
                "prev_t_us": c.prev_t_us, "link_lost": self.regs.link_lost, "step_count": self.regs.step_count,
                "hover_est": c.hover_est, "nav_altitude": c.nav.altitude, "nav_velocity": tuple(c.nav.velocity),
                "baseline": c.baseline}


def device(implementation: str, clock_us: Callable[[], int]):
    """A fresh device of that implementation at the ICD defaults (a new C device resets the library's one)."""
    if implementation == "python":
        return PythonDevice(clock_us)
    if implementation == "c":
        return CCoreRegisters(clock_us=clock_us)
    raise ValueError(implementation)
