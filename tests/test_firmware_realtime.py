"""The firmware's real-time mode (docs/realtime.md, "The device side"): steps on the device's
own timer, the watchdog, the device clock ticks, on the SIL and on the emulated MCUs.

Timing margins: the SIL is a sanitizer build on a shared machine, so host-side pacing (sleep)
jitters by a millisecond or more; the device's own step ticks are what is checked tightly
(median spacing within 3 % of the period), rates over a host-measured interval loosely (10 %).
"""

from __future__ import annotations

import shutil
import statistics
import time

import pytest

from hil import icd
from hil.api import land
from hil.devices.process import ProcessDevice
from hil.errors import LinkTimeout
from hil.handshake import configure
from hil.link.rtu_client import RtuClient
from hil.rig import load_rig
from tests.conftest import ROOT

pytestmark = pytest.mark.realtime     # the firmware's own timer against the wall clock

HAVE_SIL = shutil.which("make") is not None and shutil.which("gcc") is not None
HAVE_AVR = all(shutil.which(t) for t in ("avr-gcc", "avr-size", "make", "simavr"))
HAVE_STM32 = all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm", "make"))

FLAGS = int(icd.SensorFlags.RADAR_VALID | icd.SensorFlags.IMU_VALID)
S = icd.ControllerState
F = icd.Faults
WRAP = 1 << 32


def _frame(k: int, t_us: int | None = None, vx: float = 2.0) -> list[int]:
    """Sensor block k of a powered descent at 1500 m (t_us: plant time, 20 ms a frame)."""
    return icd.SENSORS.encode([k, 20_000 * k if t_us is None else t_us, k, 1500.0, vx, 0.0, -70.0,
                               0.0, 0.0, 3.711, 0.0, FLAGS, 0, 1.0])


def _ticks(later: int, earlier: int) -> int:
    """Microseconds from one device tick to another, modulo 2^32 (signed)."""
    d = (later - earlier) % WRAP
    return d - WRAP if d >= WRAP // 2 else d


class Device:
    """A started controller program and an RTU client on its pty."""

    def __init__(self, process: ProcessDevice, timeout_s: float, boot_wait_s: float = 0.0):
        self.process = process
        path = process.start()
        time.sleep(boot_wait_s)
        self.link = RtuClient(path, timeout_s=timeout_s)
        self.link.open()

    def configure(self, **values) -> None:
        config = icd.config_defaults()
        config.update(values)
        configure(self.link, config)

    def send(self, k: int, **kw):
        """Write sensor frame k (FC23) and return the command block read with it."""
        return icd.COMMANDS.decode_record(
            self.link.read_write(icd.SENSORS.base, _frame(k, **kw), icd.COMMANDS.base, icd.COMMANDS.length))

    def commands(self):
        return icd.COMMANDS.decode_record(self.link.read_holding(icd.COMMANDS.base, icd.COMMANDS.length))

    def close(self) -> str | None:
        self.link.close()
        self.process.stop()
        return self.process.failure()


def _sil_process(*extra: str) -> ProcessDevice:
    rig = load_rig(ROOT / "rigs/sil.toml")
    return ProcessDevice(ROOT / "firmware", list(rig.make), [*rig.command, *extra], rig.pty_pattern)


@pytest.fixture
def sil():
    if not HAVE_SIL:
        pytest.skip("needs make and gcc")
    dev = Device(_sil_process(), timeout_s=0.5)
    yield dev
    assert dev.close() is None  # no sanitizer report, no crash


def _stream(dev: Device, *, seconds: float, frame_every_s: float, read_every_s: float, first: int = 1,
            **frame_kw):
    """Send frames every frame_every_s and read the command block every read_every_s in between,
    paced on the host clock; returns (commands in order, host time of the first frame, host time
    of the last read, next frame number)."""
    seen = []
    k = first
    t0 = time.monotonic()
    next_frame = next_read = t0
    end = t0 + seconds
    while (now := time.monotonic()) < end:
        if now >= next_frame:
            seen.append(dev.send(k, **frame_kw))
            k += 1
            next_frame += frame_every_s
        elif now >= next_read:
            seen.append(dev.commands())
            next_read += read_every_s
        else:
            time.sleep(min(next_frame, next_read) - now)
    seen.append(dev.commands())
    return seen, t0, time.monotonic(), k


def _steps(seen):
    """One record per distinct step, in order (a read repeats the last step until the next)."""
    steps = {}
    for c in seen:
        if c.step_count > 0:
            steps.setdefault(c.step_count, c)
    return [steps[n] for n in sorted(steps)]


def _spacing(steps) -> list[float]:
    """Device-clock spacing per step between consecutive steps seen."""
    return [_ticks(b.step_tick_us, a.step_tick_us) / (b.step_count - a.step_count)
            for a, b in zip(steps, steps[1:])]


def _realtime_rate_check(dev: Device, rate_hz: float, seconds: float, rate_tol: float, spacing_tol: float):
    """Frames at the control rate for `seconds`; returns (steps per host second, median device spacing)."""
    dev.configure(timing_mode=1, control_rate_hz=rate_hz, watchdog_s=0.25)
    seen, t0, t1, _ = _stream(dev, seconds=seconds, frame_every_s=1.0 / rate_hz, read_every_s=1e9)
    steps = _steps(seen)
    rate = seen[-1].step_count / (t1 - t0)
    spacing = statistics.median(_spacing(steps))
    period = 1e6 / rate_hz
    print(f"{rate:.2f} steps per host second, median step spacing {spacing:.0f} us "
          f"(spread {min(_spacing(steps)):.0f}..{max(_spacing(steps)):.0f})")
    assert abs(rate - rate_hz) <= rate_tol * rate_hz, f"{rate:.1f} steps/s over {t1 - t0:.2f} s host time"
    assert abs(spacing - period) <= spacing_tol * period, f"median step spacing {spacing:.0f} us"
    for c in steps:
        assert 0 <= _ticks(c.step_tick_us, c.frame_rx_tick_us) < WRAP // 2  # frame arrived before the step
        assert c.state != S.LINK_LOST
    return rate, spacing


# --- SIL ---------------------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_sil_realtime_steps_on_its_own_timer(sil):
    rate, spacing = _realtime_rate_check(sil, 50.0, 1.2, rate_tol=0.10, spacing_tol=0.03)
    # the frame each step used arrived at most one period (plus scheduling slack) before it
    seen, _, _, _ = _stream(sil, seconds=0.5, frame_every_s=0.02, read_every_s=1e9, first=100)
    for c in _steps(seen):
        if not c.faults & F.STALE_FRAME:
            assert 0 <= _ticks(c.step_tick_us, c.frame_rx_tick_us) <= 20_000 + 5_000


@pytest.mark.timeout(60)
def test_sil_realtime_does_not_step_per_frame(sil):
    """Frames at 10 Hz, control at 50 Hz: still 50 steps a second, two thirds of them stale."""
    sil.configure(timing_mode=1, control_rate_hz=50.0, watchdog_s=0.5)
    seen, t0, t1, k = _stream(sil, seconds=1.2, frame_every_s=0.06, read_every_s=0.005)
    steps = _steps(seen)
    rate = seen[-1].step_count / (t1 - t0)
    assert abs(rate - 50.0) <= 5.0, rate
    assert seen[-1].step_count > 2 * (k - 1)  # many more steps than frames
    stale = [c for c in steps if c.faults & F.STALE_FRAME]
    assert 0.45 <= len(stale) / len(steps) <= 0.85, (len(stale), len(steps))
    by_count = {c.step_count: c for c in steps}
    for c in stale:
        assert c.faults & F.FRAME_SKIP  # the number did not follow
        before = by_count.get(c.step_count - 1)
        if before is not None:
            assert c.frame == before.frame  # the frame the previous step used
    fresh = [c for c in steps if not c.faults & F.STALE_FRAME]
    assert fresh and all(c.frame != by_count[c.step_count - 1].frame
                         for c in fresh if c.step_count - 1 in by_count)


@pytest.mark.timeout(60)
def test_sil_realtime_controller_runs_on_the_device_clock(sil):
    """Every frame carries the same t_us: lockstep sees the clock stand still (CLOCK_BACKWARDS),
    real-time ignores the frame's t_us and never does."""
    sil.configure(timing_mode=0)
    lock = [sil.send(k, t_us=1_000) for k in range(1, 6)]
    assert all(c.faults & F.CLOCK_BACKWARDS for c in lock[1:]), lock
    sil.configure(timing_mode=1, control_rate_hz=50.0)
    seen, _, _, _ = _stream(sil, seconds=0.6, frame_every_s=0.02, read_every_s=1e9, t_us=1_000)
    steps = _steps(seen)
    assert len(steps) >= 20
    assert not any(c.faults & F.CLOCK_BACKWARDS for c in steps), [c.faults for c in steps]
    assert all(c.state == S.POWERED_DESCENT for c in steps)


@pytest.mark.timeout(60)
def test_sil_watchdog_latches_link_lost_until_a_config_write(sil):
    sil.configure(timing_mode=1, control_rate_hz=50.0, watchdog_s=0.1)
    seen, _, _, k = _stream(sil, seconds=0.3, frame_every_s=0.02, read_every_s=1e9)
    time.sleep(0.03)  # let a step use the last frame (one period), well inside the watchdog
    flying = sil.commands()
    assert flying.state == S.POWERED_DESCENT and flying.tilt_x_rad < -0.05 and flying.throttle > 0.0
    time.sleep(0.3)
    lost = sil.commands()
    assert lost.state == S.LINK_LOST
    assert lost.faults == F.WATCHDOG
    assert lost.tilt_x_rad == 0.0 and lost.tilt_y_rad == 0.0
    assert 0.02 <= lost.throttle <= 1.0  # the hover estimate: the engines were burning
    assert lost.frame == flying.frame and lost.discretes == flying.discretes
    assert lost.td_time_us == 0xFFFFFFFF  # unchanged: not declared
    # tripped when a step fell due after watchdog_s without a frame (control-rate granularity)
    silent = _ticks(lost.step_tick_us, lost.frame_rx_tick_us)
    assert 100_000 < silent <= 100_000 + 20_000 + 10_000, silent
    time.sleep(0.2)
    assert sil.commands().step_count == lost.step_count  # stopped
    sil.send(k)                                          # a late frame does not resume stepping
    time.sleep(0.1)
    after = sil.commands()
    assert (after.state, after.step_count) == (S.LINK_LOST, lost.step_count)
    sil.configure(timing_mode=1, control_rate_hz=50.0, watchdog_s=0.1)
    reset = sil.commands()
    assert (reset.state, reset.step_count, reset.faults, reset.td_time_us, reset.throttle) == \
        (S.STANDBY, 0, 0, 0xFFFFFFFF, 0.0)
    time.sleep(0.1)
    assert sil.commands().step_count == 0  # no frame yet: nothing scheduled
    sil.send(1)
    time.sleep(0.05)
    assert sil.commands().state == S.POWERED_DESCENT


@pytest.mark.timeout(60)
def test_sil_lockstep_steps_once_per_frame(sil):
    sil.configure(timing_mode=0)
    for k in range(1, 11):
        sil.send(k)
        c = sil.commands()
        assert (c.frame, c.step_count) == (k, k)
        assert c.frame_rx_tick_us == c.step_tick_us
        time.sleep(0.003 * k)
    time.sleep(0.2)
    assert sil.commands().step_count == 10  # no timer in lockstep
    sil.configure(timing_mode=0)
    assert sil.commands().step_count == 0


@pytest.mark.timeout(60)
def test_sil_read_tick_follows_the_host_clock(sil):
    a0 = time.monotonic()
    first = sil.commands()
    a1 = time.monotonic()
    time.sleep(0.1)
    b0 = time.monotonic()
    second = sil.commands()
    b1 = time.monotonic()
    host_us = ((b0 + b1) - (a0 + a1)) / 2 * 1e6
    device_us = _ticks(second.read_tick_us, first.read_tick_us)
    assert abs(device_us - host_us) <= 5_000 + ((a1 - a0) + (b1 - b0)) * 1e6, (device_us, host_us)
    assert device_us >= 100_000


@pytest.mark.timeout(60)
def test_sil_step_delay_makes_a_slow_device():
    if not HAVE_SIL:
        pytest.skip("needs make and gcc")
    normal = Device(_sil_process(), timeout_s=0.5)
    try:
        normal.configure(timing_mode=0)
        normal.send(1)
        assert normal.commands().step_time_us < 5_000
    finally:
        assert normal.close() is None
    slow = Device(_sil_process("--step-delay-us", "5000"), timeout_s=0.5)
    try:
        slow.configure(timing_mode=0)
        slow.send(1)
        assert 5_000 <= slow.commands().step_time_us < 50_000
        slow.configure(timing_mode=1, control_rate_hz=50.0)
        seen, _, _, _ = _stream(slow, seconds=0.3, frame_every_s=0.02, read_every_s=1e9)
        steps = _steps(seen)
        assert len(steps) >= 10 and all(c.step_time_us >= 5_000 for c in steps)
    finally:
        assert slow.close() is None


# --- emulated MCUs -----------------------------------------------------------------------------

def _emulated(rig_name: str) -> Device:
    rig = load_rig(ROOT / "rigs" / rig_name)
    process = ProcessDevice(ROOT / "firmware", list(rig.make), list(rig.command), rig.pty_pattern)
    return Device(process, timeout_s=rig.timeout_s, boot_wait_s=rig.boot_wait_s)


def _watchdog_trips(dev: Device, silence_s: float) -> None:
    dev.configure(timing_mode=1, control_rate_hz=50.0, watchdog_s=0.1)
    _stream(dev, seconds=0.4, frame_every_s=0.02, read_every_s=1e9)
    time.sleep(silence_s)
    lost = dev.commands()
    assert (lost.state, lost.faults, lost.tilt_x_rad) == (S.LINK_LOST, F.WATCHDOG, 0.0), lost
    time.sleep(0.2)
    assert dev.commands().step_count == lost.step_count


@pytest.mark.timeout(300)
@pytest.mark.skipif(not HAVE_STM32, reason="needs gcc-arm-none-eabi, qemu-system-arm")
def test_stm32_in_qemu_steps_in_real_time_and_trips_the_watchdog():
    """QEMU runs guest time on the host clock: the rate holds in host time too. SysTick (1 kHz)
    wakes the loop, so a step starts within 1 ms of being due."""
    dev = _emulated("emu-stm32.toml")
    try:
        _realtime_rate_check(dev, 50.0, 2.0, rate_tol=0.10, spacing_tol=0.03)
        _watchdog_trips(dev, silence_s=0.4)
    finally:
        dev.close()


@pytest.mark.timeout(300)
@pytest.mark.skipif(not HAVE_AVR, reason="needs gcc-avr, avr-libc, simavr, libsimavr-dev")
def test_uno_in_simavr_steps_on_its_timer_and_trips_the_watchdog():
    """simavr's clock is not the host's: the runner runs the AVR as fast as it can and blocks
    (at most 20 ms a time) only while it sleeps, so emulated time runs ahead of host time while
    requests come in. On the device clock the spacing is exact; in host time the rate is only
    bounded loosely (measured: see docs/firmware-avr.md)."""
    dev = _emulated("emu-uno.toml")
    try:
        dev.configure(timing_mode=1, control_rate_hz=50.0, watchdog_s=0.25)
        seen, t0, t1, _ = _stream(dev, seconds=2.0, frame_every_s=0.02, read_every_s=1e9)
        steps = _steps(seen)
        spacing = statistics.median(_spacing(steps))
        assert abs(spacing - 20_000) <= 0.03 * 20_000, spacing
        rate = seen[-1].step_count / (t1 - t0)
        device_s = _ticks(seen[-1].step_tick_us, steps[0].step_tick_us) / 1e6
        print(f"simavr: {rate:.1f} steps per host second, device/host time {device_s / (t1 - t0):.2f}")
        assert 20.0 <= rate <= 200.0, rate
        assert all(c.state != S.LINK_LOST for c in steps)
        _watchdog_trips(dev, silence_s=0.5)
    finally:
        dev.close()


# --- simavr paced to the host clock (simavr-runner --realtime) ----------------------------------

@pytest.mark.timeout(300)
@pytest.mark.skipif(not HAVE_AVR, reason="needs gcc-avr, avr-libc, simavr, libsimavr-dev")
def test_uno_in_simavr_realtime_runner_steps_at_the_rate_in_host_time():
    """With --realtime the runner paces emulated time to the host clock, so unlike the test above
    the rate holds in host time whatever the traffic (measured: docs/firmware-avr.md)."""
    dev = _emulated("emu-uno-realtime.toml")
    traffic = (("frames every 20 ms", 0.02, 1e9), ("frames every 100 ms", 0.1, 1e9),
               ("frames every 100 ms, reads every 5 ms", 0.1, 0.005), ("reads only, every 5 ms", 1e9, 0.005))
    try:
        for name, frame_every_s, read_every_s in traffic:
            try:
                dev.configure(timing_mode=1, control_rate_hz=50.0, watchdog_s=10.0)
            except LinkTimeout:
                # Known and not yet understood (docs/firmware-avr.md): after the saturated
                # pattern the --realtime runner now and then loses the next request (about one
                # run in three); the device answers the retry. The rate is what this test checks.
                dev.configure(timing_mode=1, control_rate_hz=50.0, watchdog_s=10.0)
            # a frame at once starts the schedule; with frame_every_s = 1e9 it is the only one
            seen, t0, t1, _ = _stream(dev, seconds=2.0, frame_every_s=frame_every_s, read_every_s=read_every_s)
            rate = (seen[-1].step_count - seen[0].step_count) / (t1 - t0)
            device_s = _ticks(seen[-1].read_tick_us, seen[0].read_tick_us) / 1e6
            spacing = statistics.median(_spacing(_steps(seen)))
            print(f"simavr --realtime, {name}: {rate:.1f} steps per host second, device/host time "
                  f"{device_s / (t1 - t0):.3f}, median step spacing {spacing:.0f} us")
            assert 45.0 <= rate <= 55.0, (name, rate)
            assert 0.97 <= device_s / (t1 - t0) <= 1.03, (name, device_s, t1 - t0)
            assert all(c.state != S.LINK_LOST for c in seen), name
            if read_every_s > 1:  # a line kept busy delays steps behind the polled transmit
                assert abs(spacing - 20_000) <= 0.03 * 20_000, (name, spacing)
        _watchdog_trips(dev, silence_s=0.5)
    finally:
        assert dev.close() is None





@pytest.mark.timeout(240)
@pytest.mark.skipif(not HAVE_AVR, reason="needs gcc-avr, avr-libc, simavr, libsimavr-dev")
def test_uno_in_simavr_lands_in_real_time(short_landing, realtime_criteria, tmp_path):
    """A real-time landing against the Uno image under simavr-runner --realtime (about 43 s of wall
    clock). The device clock follows the host's; a command is one to two 50 Hz periods old plus
    the line (an FC23 with 22 registers out and 26 back is ~10 ms at 115200 baud)."""
    result = land(short_landing, rig=load_rig(ROOT / "rigs/emu-uno-realtime.toml"), out=tmp_path / "run", criteria=realtime_criteria)
    assert result.error is None, result.error
    if result.verdict == "INCONCLUSIVE":   # the machine, not the controller: the test could not be done
        assert result.invalid.startswith("the rig could not hold real time") or \
            "made the commands late" in result.invalid, result.invalid
        pytest.skip(f"this machine did not hold real time: {result.invalid}")
    failed = [r for r in result.checks if r["applies"] and r["judges"] == "controller" and not r["passed"]]
    assert not failed, failed
    timing = result.summary["timing"]
    clock = timing["device_clock"]
    print(f"simavr --realtime landing: command age p50 {timing['command_age_ms']['p50']:.1f} ms, "
          f"p99 {timing['command_age_ms']['p99']:.1f} ms; round trip p50 "
          f"{timing['link_round_trip_us']['p50'] / 1e3:.1f} ms; device step p50 "
          f"{timing['device_step_time_us']['p50'] / 1e3:.2f} ms; clock drift {clock['drift_ppm']:.0f} ppm; "
          f"overruns {timing['overruns']}")
    assert timing["mode"] == "realtime"
    assert abs(clock["drift_ppm"]) <= 2000, clock
    assert 20.0 <= timing["command_age_ms"]["p50"] <= 60.0, timing["command_age_ms"]
    assert timing["device_step_time_us"]["max"] > 0
    assert result.summary["wall_time_s"] >= result.summary["sim_time_s"]
    assert result.verdict == "PASS"
