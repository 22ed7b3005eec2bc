"""The two control loops: lockstep (the plant drives time) and real-time (the wall clock does).

Both make one FC23 exchange per control cycle: the sensor frame goes out, the command block
comes back and is applied to the plant. A failed exchange is handled by the link policy
(hil/link_policy.py): retried in lockstep, counted as a miss in real time.
"""

from __future__ import annotations

import gc
import math
import sys
import time
from collections.abc import Callable

from hil import icd
from hil.errors import FrameError, LinkError, LinkLost, ModbusExceptionReply
from hil.icd import ControllerState, Discretes, SensorFlags
from hil.link_policy import DeviceWatchdog, LinkGaveUp, LinkPolicy, LinkTally, failure_kind
from hil.pacing import Pacer
from hil.phase import PhaseAligner
from hil.timing import CommandTiming, TimingRecorder

SWITCH_INTERVAL_S = 1e-4
# frame, truth, sensors, command record, failed exchanges before it: retries (lockstep), misses (real time)
CycleObserver = Callable[[int, object, object, tuple, int, int], None]


class LockstepExecutive:
    """Sample sensors, exchange one frame, apply the commands, integrate to the next cycle.

    Deterministic: nothing here reads the wall clock except to measure the link, so the same
    scenario and seed give the same landing at any link speed.
    """

    def __init__(self, plant, link, control_rate_hz: float, observers: list[CycleObserver],
                 policy: LinkPolicy = LinkPolicy()) -> None:
        self.plant = plant
        self.link = link
        self.dt = 1.0 / control_rate_hz
        self.observers = observers
        self.policy = policy
        self.link_tally = LinkTally()
        self.cycles = 0  # completed cycles; the frame in flight is cycles + 1
        self.round_trips_us: list[float] = []
        self.device_step_us: list[int] = []  # the control step's duration as the device measured it
        self.phase = "STANDBY"               # the controller state last applied
        self.last_command = None             # what the plant keeps while a fault loses cycles
        self.outage_cycles = 0               # cycles a scheduled link or device fault lost
        # a faulty line's frame is waited for this long (a lost one would cost the full timeout)
        self.fault_reply_timeout_s = min(getattr(link, "timeout_s", 0.5), max(0.05, 2.0 / control_rate_hz))

    def run(self, max_time_s: float) -> str:
        """Fly until the descent stage is on the ground or the time limit; returns why it stopped."""
        plant = self.plant
        outage = getattr(plant, "outage", None)     # a fault schedule's link and device faults
        while not plant.ended:
            if plant.t >= max_time_s - 1e-9:
                return f"time limit {max_time_s:g} s"
            frame = self.cycles + 1
            sensors = plant.sense()
            registers = icd.SENSORS.encode(sensor_block(frame, sensors))
            wire = outage() if outage is not None else None
            misses = 0
            if wire is None:
                command = self._exchange(frame, registers)
                self.last_command = command
                retries = self.link_tally.succeeded()
                self.device_step_us.append(command.step_time_us)
            else:
                command, lost = self._through_fault(frame, registers, wire)
                retries, misses = 0, int(lost)
            truth = plant.truth()
            apply_command(plant, command)
            self.phase = state_name(command.state)
            for observe in self.observers:
                observe(frame, truth, sensors, command, retries, misses)
            self.cycles = frame  # completed and recorded
            # Advance to the cycle's nominal end, not by a fixed dt: when the substep rate is not a
            # multiple of the control rate, the plant's rounding to whole substeps cannot drift.
            plant.advance(max(0.0, frame * self.dt - plant.t))
        return "descent stage on the ground"

    def _through_fault(self, frame: int, registers: list[int], wire: str):
        """A cycle while the schedule's link or device fault is active. Time does not stop for a
        fault: a board that is down ("down") gets no frame, and on a faulty line ("faulty") the
        frame is tried once with a short deadline; either way a lost cycle is a miss, the plant
        keeps the last command and flies on (docs/faults.md). Returns the command and whether
        the cycle was lost."""
        if self.last_command is None:
            self.last_command = icd.COMMANDS.decode_record(_POWER_UP_COMMAND)
        if wire == "down":
            self.outage_cycles += 1
            return self.last_command, True
        link = self.link
        pending = None
        try:
            pending = link.send_read_write(icd.SENSORS.base, registers, icd.COMMANDS.base, icd.COMMANDS.length,
                                           frame=frame, timeout_s=self.fault_reply_timeout_s)
            command = self._answer(frame, link.wait_reply(pending))
        except ModbusExceptionReply:
            raise
        except LinkError as exc:
            self.outage_cycles += 1              # an expected loss: not a failure for the link policy
            if failure_kind(exc) == "io":
                raise LinkLost(str(exc), t=self.plant.t, phase=self.phase, frame=frame) from exc
            try:
                link.abandon(pending)
            except LinkError:
                pass
            return self.last_command, True
        self.last_command = command
        self.device_step_us.append(command.step_time_us)
        return command, False

    def _answer(self, frame: int, reply: list[int]):
        """The command block of a reply, which must answer this frame (the frame echo)."""
        command = icd.COMMANDS.decode_record(reply)
        if command.frame != frame:
            raise FrameError(f"device answered frame {command.frame} to frame {frame}", port=self.link.port,
                             frame=frame)
        return command

    def _exchange(self, frame: int, registers: list[int]):
        """One FC23 exchange, retried within the frozen cycle by the link policy."""
        link, tally = self.link, self.link_tally
        while True:
            started = time.perf_counter()
            try:
                command = self._answer(frame, link.read_write(icd.SENSORS.base, registers, icd.COMMANDS.base,
                                                              icd.COMMANDS.length, frame=frame))
            except ModbusExceptionReply:
                raise        # the device refused the frame: a deliberate answer, not a line fault
            except LinkError as exc:
                tally.failed(exc)
                if failure_kind(exc) == "io":   # the port itself failed (device gone, cable out): no retry helps
                    raise LinkLost(str(exc), t=self.plant.t, phase=self.phase, frame=frame) from exc
                if tally.consecutive > self.policy.retries:
                    raise LinkGaveUp(f"the link policy gave up after {tally.consecutive} failed attempts "
                                     f"of one exchange ({exc})", t=self.plant.t, phase=self.phase,
                                     frame=frame) from exc
                continue
            self.round_trips_us.append((time.perf_counter() - started) * 1e6)
            return command


class RealtimeExecutive:
    """Physics paced to the wall clock, one substep per tick; a sensor frame at each control tick.

    The FC23 request goes out at the control tick and the plant keeps running while the reply is
    on the wire; the reply's command takes effect at the first physics tick after it is complete
    (so a slow link delays the command, as on the bench, and does not stall the plant). The
    device steps on its own timer, so a reply carries the newest command the device has, computed
    from an earlier frame: its age is measured, not assumed.
    """

    def __init__(self, plant, link, control_rate_hz: float, observers: list[CycleObserver], pacer: Pacer,
                 timing: TimingRecorder, policy: LinkPolicy = LinkPolicy(), phase_margin_ms: float | None = 2.0,
                 reply_timeout_s: float | None = None) -> None:
        self.plant = plant
        self.link = link
        self.policy = policy
        self.link_tally = LinkTally()
        self.control_dt = 1.0 / control_rate_hz
        # A reply missing this long is a miss (no frame goes out while one is awaited, so this
        # must stay well inside the device's watchdog: flight.py passes half of it).
        self.reply_timeout_s = reply_timeout_s or getattr(link, "timeout_s", 1.0)
        self.physics_dt = 1.0 / plant.params.substep_hz
        self.observers = observers
        self.pacer = pacer
        self.timing = timing
        self.cycles = 0                      # replies applied
        self.frames_sent = 0
        self.control_ticks = 0               # frames due (a frame is not sent while a reply is overdue)
        self.phase = "STANDBY"
        self._sent: dict[int, tuple[float, int, object]] = {}  # frame -> (plant t, sent ns, sensors)
        self._last_step_count = -1
        self._pending = None   # the request on the wire
        self._reply = None     # (pending, registers, received ns): complete, applied at the next tick
        self._held = None      # the first frame, sampled at plant time 0, until first_hold_s
        self._frame_t: list[float] = []       # plant time each frame was sampled at (frame n at [n-1])
        self._outage = getattr(plant, "outage", None)   # a fault schedule's link faults
        self.outage_cycles = 0                # misses while a scheduled link fault was active
        self.link_lost_t: float | None = None  # plant time the device entered LINK_LOST
        self.left_link_lost = False
        # The device's step 0 falls due when the first frame arrives, and every period after.
        # Holding that frame for the phase margin puts every later step a margin after a control
        # tick, so frames keep being sampled on the plant's control grid (as in lockstep) and
        # still reach the device before its step.
        self.first_hold_s = 0.0 if phase_margin_ms is None else phase_margin_ms * 1e-3
        # Send each frame phase_margin_ms before the device's step (hil/phase.py); None: on the plain schedule.
        self.aligner = None if phase_margin_ms is None else PhaseAligner(
            round(1e6 * self.control_dt), round(phase_margin_ms * 1e3), round(1e6 * self.physics_dt))

    @property
    def round_trips_us(self) -> list[float]:
        return [r.round_trip_us for r in self.timing.rows]

    @property
    def device_step_us(self) -> list[int]:
        """The device's step times, once per step (a repeated command is not a new step)."""
        return [r.step_time_us for r in self.timing.rows if r.fresh]

    def _look_for_reply(self) -> None:
        """Non-blocking: note the reply's registers and arrival time once it is complete."""
        pending = self._pending
        if pending is None:
            return
        try:
            registers = self.link.poll_reply(pending)
        except LinkError as exc:
            self._miss(exc, pending)
            return
        if registers is not None:
            self._reply = (pending, registers, time.monotonic_ns())
            self._pending = None

    def _miss(self, exc: LinkError, pending) -> None:
        """A failed exchange: the plant keeps the last command; the run ends only after
        max_misses in a row (the device's watchdog normally decides first). A miss while the
        schedule's link fault is active is expected: it does not count towards giving up."""
        self._pending = None
        if self._outage is not None and self._outage() is not None:
            self.outage_cycles += 1                 # expected: not a failure for the link policy
            self.link_tally.since_cycle += 1        # still a miss for the cycle's record
        else:
            self.link_tally.failed(exc)
        frame = pending.frame if pending else None
        if failure_kind(exc) == "io":   # the port itself failed (device gone, cable out): not a line fault
            raise LinkLost(str(exc), t=self.plant.t, phase=self.phase, frame=frame) from exc
        try:
            self.link.abandon(pending)
        except LinkError:
            pass                                    # the line is gone: the next send will say so
        if self.link_tally.consecutive >= self.policy.max_misses:
            raise LinkGaveUp(f"the link policy gave up after {self.link_tally.consecutive} failed exchanges "
                             f"in a row ({exc})", t=self.plant.t, phase=self.phase, frame=frame) from exc

    def run(self, max_time_s: float) -> str:
        plant, pacer = self.plant, self.pacer
        tick = 0
        period_ns = round(self.physics_dt * 1e9)
        gc_was_enabled = gc.isenabled()
        gc.collect()
        gc.disable()  # a collection in the loop is a multi-millisecond stall
        # A device thread in this process (the loopback device) holds the GIL while it steps;
        # a short switch interval bounds how long the loop waits for it after waking.
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        try:
            self.timing.t0_ns = pacer.start()
            while not plant.ended:
                if plant.t >= max_time_s - 1e-9:
                    return f"time limit {max_time_s:g} s"
                pacer.wait(tick * self.physics_dt, self._look_for_reply if self._pending else None)
                started = time.monotonic_ns()
                work = []  # what this tick does besides physics, for an overrun's cause
                self._look_for_reply()
                if self._reply is not None:
                    self._apply(*self._reply)
                    work.append("apply a reply")
                if self._held is not None:
                    if plant.t >= self._held[3] + self.first_hold_s - 1e-9:
                        self._pending, self._held = self._write(self._held), None
                        work.append("send a frame")
                elif self._frame_due(started):
                    if self._pending is None:
                        sample = self._sample()
                        if self.frames_sent == 1 and self.aligner is not None:
                            self._held = sample   # the first frame sets the device's phase: see first_hold_s
                        else:
                            self._pending = self._write(sample)
                            work.append("send a frame")
                    else:
                        # The previous reply is overdue. Modbus RTU allows one request on the
                        # line, so this frame is not sent; the plant goes on (a slow device
                        # shows as older commands, not as a stalled plant).
                        self.timing.late_replies += 1
                plant.advance(self.physics_dt)
                tick += 1
                pacer.note_work(" + ".join(work + ["physics"]), time.monotonic_ns() - started, period_ns)
            return "descent stage on the ground"
        finally:
            sys.setswitchinterval(switch_interval)
            if gc_was_enabled:
                gc.enable()

    def _link_faults_flown(self) -> bool:
        """The schedule has cut or spoiled the line: LINK_LOST is then the controller's answer
        to the fault (judged by the scenario's expectation), not the rig failing the test."""
        return bool(getattr(self.plant, "link_faults_started", False))

    def _note_link_lost(self, command) -> None:
        """When the device entered LINK_LOST, in plant time: the watchdog trips on the device
        (step_tick_us) that long after the last frame it received arrived (frame_rx_tick_us),
        and that frame was sampled at a known plant time. And whether it ever left again."""
        if self.link_lost_t is None:
            frame_t = self._frame_t[command.frame - 1] if 0 < command.frame <= len(self._frame_t) else math.nan
            waited_us = (command.step_tick_us - command.frame_rx_tick_us) & 0xFFFFFFFF
            self.link_lost_t = frame_t + waited_us * 1e-6
        elif command.state != _LINK_LOST:
            self.left_link_lost = True

    def _frame_due(self, now_ns: int) -> bool:
        """A frame is due: at the plant's control tick, as in lockstep; once the device's phase
        is known, earlier if that tick would reach the device too close to its step."""
        on_grid = self.plant.t >= self.control_ticks * self.control_dt - 1e-9
        if on_grid:
            self.control_ticks += 1
        if self.aligner is not None and self.aligner.active:
            next_grid_ns = self.pacer.wall_ns(self.control_ticks * self.control_dt)
            return self.aligner.due(now_ns, on_grid, next_grid_ns)
        return on_grid

    def _sample(self) -> tuple:
        """The next frame: its number, registers, sensor values and plant time."""
        frame = self.frames_sent + 1
        sensors = self.plant.sense()
        self.frames_sent = frame
        self._frame_t.append(self.plant.t)
        return frame, icd.SENSORS.encode(sensor_block(frame, sensors)), sensors, self.plant.t

    def _write(self, sample: tuple):
        """Put a sampled frame on the line; the pending reply, or None (a miss)."""
        frame, registers, sensors, sampled_t = sample
        try:
            pending = self.link.send_read_write(icd.SENSORS.base, registers, icd.COMMANDS.base,
                                                icd.COMMANDS.length, frame=frame, timeout_s=self.reply_timeout_s)
        except LinkError as exc:
            self._miss(exc, None)
            return None
        self._sent[frame] = (sampled_t, pending.sent_ns, sensors)
        self._sent.pop(frame - 64, None)  # a device never answers with a frame this old
        return pending

    def _apply(self, pending, registers, received_ns: int) -> None:
        self._reply = None
        plant = self.plant
        command = icd.COMMANDS.decode_record(registers)
        if command.state == _LINK_LOST or self.link_lost_t is not None:
            self._note_link_lost(command)
        if command.state == _LINK_LOST and not self._link_faults_flown():
            raise DeviceWatchdog("the device's watchdog tripped (no sensor frame for watchdog_s); it reports "
                                 "LINK_LOST", t=plant.t, phase=self.phase, frame=pending.frame)
        misses = self.link_tally.succeeded()
        truth = plant.truth()
        apply_command(plant, command)
        self.phase = state_name(command.state)
        used_t, used_sent_ns, _ = self._sent.get(command.frame, (math.nan, 0, None))
        fresh = command.step_count != self._last_step_count
        self._last_step_count = command.step_count
        if self.aligner is not None:
            self.aligner.observe(pending.sent_ns, received_ns, command.read_tick_us, command.step_tick_us, fresh)
        row = CommandTiming(pending.frame, pending.sent_ns, received_ns, plant.t, command.frame, used_t,
                            used_sent_ns, command.step_count, fresh, command.frame_rx_tick_us,
                            command.step_tick_us, command.step_time_us, command.read_tick_us)
        self.timing.record(row)
        self.cycles += 1
        sensors = self._sent[pending.frame][2]
        for observe in self.observers:
            observe(pending.frame, truth, sensors, command, 0, misses)


# Flag bits as plain ints: an IntFlag operation builds an enum member each time (slow per cycle).
_SEPARATE, _CUT = int(Discretes.SEPARATE), int(Discretes.CUT)
_RADAR_VALID, _SEPARATED, _CUT_FLAG, _IMU_VALID = (int(SensorFlags.RADAR_VALID), int(SensorFlags.SEPARATED),
                                                   int(SensorFlags.CUT), int(SensorFlags.IMU_VALID))
_STATE_NAMES = {s.value: s.name for s in ControllerState}
_LINK_LOST = int(ControllerState.LINK_LOST)
# Before the board's first answer: engines off, nothing declared (what a board outputs at power-up).
_POWER_UP_COMMAND = icd.COMMANDS.encode(tuple(icd.TD_NOT_DECLARED if n == "td_time_us" else 0
                                              for n in icd.COMMANDS.names))


def apply_command(plant, command) -> None:
    plant.apply(command.throttle, command.tilt_x_rad, command.tilt_y_rad,
                bool(command.discretes & _SEPARATE), bool(command.discretes & _CUT))


def state_name(state: int) -> str:
    return _STATE_NAMES.get(state) or f"state {state}"


def sensor_block(frame: int, s) -> tuple:
    """A plant SensorFrame as the ICD sensor block's field values, in order."""
    flags = ((_RADAR_VALID if s.radar_valid else 0) | (_SEPARATED if s.separated else 0)
             | (_CUT_FLAG if s.cut else 0) | (_IMU_VALID if s.imu_valid else 0))
    return (frame, round(s.t * 1e6), s.radar_seq & 0xFFFF, s.altitude_m, s.vx_mps, s.vy_mps, s.vz_mps,
            s.imu_fx, s.imu_fy, s.imu_fz, s.bridle_length_m, flags, s.health, s.thrust_avail)
