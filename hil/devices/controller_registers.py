"""The device side of the ICD: a register bank around the reference controller (docs/realtime.md).

This is what the firmware's application glue (`firmware/core/app.c`) does in C: identity and
command blocks are read-only, config writes are range-checked (exception 03 leaves the old value)
and start a new run. In lockstep a write of the whole sensor block runs the controller at once,
and the same FC23 reads its answer back. In real time the write only stores the frame; the
control step runs on the device's own timer from `poll()`, which the RTU server's thread calls
between requests, and a watchdog puts the controller in LINK_LOST when the frames stop.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from hil import icd
from hil.devices.rtu_server import IllegalAddress, IllegalValue
from hil.reference import CommandOutput, ReferenceController, SensorInput

TICK_MASK = 0xFFFFFFFF
_HALF = 1 << 31
_READ_TICK = icd.COMMANDS.address_of("read_tick_us") - icd.COMMANDS.base
_INITIAL_OUTPUT = CommandOutput(0, 0, 0.0, 0.0, 0.0, 0, icd.TD_NOT_DECLARED, 0)


def monotonic_clock_us() -> int:
    """The device clock: a free-running microsecond counter that wraps modulo 2**32."""
    return (time.monotonic_ns() // 1000) & TICK_MASK


def period_us(control_rate_hz: float) -> int:
    """The real-time step period as the firmware computes it: (uint32_t)(1e6f / rate + 0.5f), float32."""
    quotient = _f32(1e6 / _f32(control_rate_hz))
    return int(_f32(quotient + 0.5))


def watchdog_us(watchdog_s: float) -> int:
    """The watchdog in microseconds as the firmware computes it: (uint32_t)(watchdog_s * 1e6f + 0.5f)."""
    return int(_f32(_f32(_f32(watchdog_s) * 1e6) + 0.5))


def _f32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _tick_diff(later: int, earlier: int) -> int:
    """later - earlier on the wrapping u32 clock, as a signed number of microseconds."""
    d = (later - earlier) & TICK_MASK
    return d - (1 << 32) if d >= _HALF else d


class ControllerRegisters:
    """Modbus register handler around a ReferenceController (the loopback device's brain).

    `clock_us` is the device clock (u32 microseconds, wrapping); tests inject a fake one.
    """

    def __init__(self, controller: ReferenceController, *, device_kind: int, build_id: int,
                 clock_us: Callable[[], int] = monotonic_clock_us) -> None:
        self.controller = controller
        self._clock_us = clock_us
        # A deliberately slow MCU (as the firmware's app.step_delay_us): every control step lasts
        # at least this long on the device clock, counted in step_time_us. 0: as fast as it runs.
        self.step_delay_us = 0
        self._identity = icd.IDENTITY.encode([icd.ICD_VERSION, icd.LAYOUT_HASH, device_kind, build_id])
        self._config = icd.encode_config(controller.config)
        self._new_run()

    # -- run state ------------------------------------------------------------------------

    def _new_run(self) -> None:
        """Contract item 1: what any accepted config write does (and power-up)."""
        self.controller.reset()
        self._sensors = [0] * icd.SENSORS.length
        self.step_count = 0
        self._frame_rx_tick = 0     # command block: when the frame the last step used arrived
        self._step_tick = 0
        self._encode(_INITIAL_OUTPUT, 0)
        # real-time schedule and watchdog
        self._held: SensorInput | None = None   # newest stored frame
        self._held_rx_tick = 0                  # its arrival
        self._fresh = False                     # stored since the previous step
        self._first_rx: int | None = None       # the first frame's arrival: step 0, the controller's epoch
        self._next_due = 0
        self._period_us = 0
        self._watchdog_us = 0                   # 0: no watchdog
        self.link_lost = False

    @property
    def realtime(self) -> bool:
        return int(self.controller.config["timing_mode"]) == icd.TimingMode.REALTIME

    # -- register access --------------------------------------------------------------------

    def _bank(self, address: int, count: int) -> tuple[icd.Block, list[int]]:
        for block, regs in ((icd.IDENTITY, self._identity), (icd.CONFIG, self._config),
                            (icd.SENSORS, self._sensors), (icd.COMMANDS, self._commands)):
            if block.base <= address and address + count <= block.base + block.length:
                return block, regs
        raise IllegalAddress(f"registers 0x{address:04X}+{count} are not inside one block")

    def read(self, address: int, count: int) -> list[int]:
        block, regs = self._bank(address, count)
        offset = address - block.base
        if block is icd.COMMANDS and offset < _READ_TICK + 2 and _READ_TICK < offset + count:
            tick = self._clock_us() & TICK_MASK       # item 5: the clock at this read
            regs[_READ_TICK] = tick >> 16
            regs[_READ_TICK + 1] = tick & 0xFFFF
        return regs[offset:offset + count]

    def write(self, address: int, values: Sequence[int]) -> None:
        block, _ = self._bank(address, len(values))
        if block is icd.CONFIG:
            self._write_config(address, values)
        elif block is icd.SENSORS:
            if address != block.base or len(values) != block.length:
                raise IllegalAddress("a sensor frame must be written as the whole block")
            if self.step_count and not self.realtime and list(values) == self._sensors:
                return  # item 2: the host retrying an exchange whose reply it lost; no second step
            self._sensors = list(values)
            self._frame_arrived()
        else:
            raise IllegalAddress(f"the {block.name} block is read-only")

    def _write_config(self, address: int, values: Sequence[int]) -> None:
        """Apply a config write only if it covers whole fields and every value is in range."""
        candidate = list(self._config)
        offset = address - icd.CONFIG.base
        candidate[offset:offset + len(values)] = values
        decoded = icd.CONFIG.decode_map(candidate)
        touched = [(a, f) for a, f in icd.CONFIG.addresses()
                   if a < address + len(values) and address < a + f.words]
        changed = {}
        for field_address, f in touched:
            if field_address < address or field_address + f.words > address + len(values):
                raise IllegalAddress(f"write splits the two registers of {f.name}")
            try:
                changed[f.name] = icd.check_config_value(f.name, decoded[f.name])
            except ValueError as exc:
                raise IllegalValue(str(exc)) from None
        self._config = candidate
        self.controller.config.update(changed)
        self._new_run()

    # -- stepping -----------------------------------------------------------------------------

    def _frame_arrived(self) -> None:
        if not self.realtime:                      # item 2: lockstep steps at once
            self._step()
            return
        now = self._clock_us() & TICK_MASK
        frame = SensorInput(*icd.SENSORS.decode(self._sensors))  # fields in ICD order
        self._held, self._held_rx_tick, self._fresh = frame, now, True   # item 3: store only
        if self._first_rx is None:
            self._first_rx = self._next_due = now  # step 0 is due at the first arrival
            self._period_us = period_us(self.controller.config["control_rate_hz"])
            self._watchdog_us = watchdog_us(self.controller.config["watchdog_s"])

    def poll(self) -> float | None:
        """Run a due real-time step (or the watchdog); seconds until the next is due, None if idle."""
        if not self.realtime or self._first_rx is None or self.link_lost:
            return None
        now = self._clock_us() & TICK_MASK
        late = _tick_diff(now, self._next_due)
        if late < 0:
            return -late / 1e6
        period = self._period_us
        self._next_due = (self._next_due + (late // period + 1) * period) & TICK_MASK  # no make-up steps
        if self._watchdog_us and _tick_diff(now, self._held_rx_tick) > self._watchdog_us:
            self._enter_link_lost(now)
            return None
        assert self._held is not None
        stale = not self._fresh
        self._fresh = False
        self._control_step(self._held, now, (now - self._first_rx) & TICK_MASK, rx_tick=self._held_rx_tick,
                           stale=stale)
        return max(0, _tick_diff(self._next_due, self._clock_us() & TICK_MASK)) / 1e6

    def _step(self) -> None:
        """Lockstep: one control step on the sensor frame just written, on the frame's clock."""
        now = self._clock_us() & TICK_MASK
        frame = SensorInput(*icd.SENSORS.decode(self._sensors))  # fields in ICD order
        self._control_step(frame, now, frame.t_us, rx_tick=now, stale=False)

    def _control_step(self, frame: SensorInput, now: int, t_us: int, *, rx_tick: int, stale: bool) -> None:
        """One control step on `frame` with the controller's clock at `t_us`; fills the command block."""
        if t_us != frame.t_us:
            frame = replace(frame, t_us=t_us)
        started = self._clock_us()
        out = self.controller.step(frame)
        if self.step_delay_us:
            self._delay(started)
        step_us = (self._clock_us() - started) & TICK_MASK
        if stale:  # the controller also flags FRAME_SKIP: the frame number did not follow
            out = replace(out, faults=int(out.faults | icd.Faults.STALE_FRAME))
        self.step_count += 1
        self._frame_rx_tick = rx_tick
        self._step_tick = now
        self._encode(out, step_us)

    def _delay(self, started: int) -> None:
        """Wait until step_delay_us have passed since `started`: asleep for most of it (the host
        shares the interpreter with this thread), the last stretch on the clock."""
        while (left := self.step_delay_us - ((self._clock_us() - started) & TICK_MASK)) > 0:
            time.sleep(left / 1e6 - 0.0002 if left > 1000 else 0)

    def _enter_link_lost(self, now: int) -> None:
        started = self._clock_us()
        out = self.controller.link_lost((now - self._first_rx) & TICK_MASK)   # the controller's clock
        step_us = (self._clock_us() - started) & TICK_MASK
        self.link_lost = True
        self.step_count += 1
        self._frame_rx_tick = self._held_rx_tick
        self._step_tick = now
        self._encode(out, step_us)

    def _encode(self, out: CommandOutput, step_us: int) -> None:
        """The command block; read_tick_us is filled in by each read that includes it."""
        self._commands = icd.COMMANDS.encode((
            out.frame, out.state, out.throttle, out.tilt_x_rad, out.tilt_y_rad, out.discretes, out.td_time_us,
            out.faults, out.state_since_us, step_us, self.step_count & TICK_MASK, self._frame_rx_tick,
            self._step_tick, 0))

