"""The Python device's side of docs/realtime.md: new runs, lockstep, the real-time timer, the watchdog.

Most tests drive ControllerRegisters directly with a fake device clock (deterministic); a few
fly the loopback device over Modbus RTU on a pty with the real clock and keep their bounds loose.
"""

from __future__ import annotations

import statistics
import struct
import time

import numpy as np
import pytest

from hil import handshake, icd
from hil.devices.controller_registers import ControllerRegisters, monotonic_clock_us, period_us, watchdog_us
from hil.devices.loopback import LoopbackDevice
from hil.icd import ControllerState as S
from hil.icd import Faults
from hil.link.rtu_client import RtuClient
from hil.reference import ReferenceController

MASK = 0xFFFFFFFF
T0 = 5_000_000
RADAR = icd.SensorFlags.RADAR_VALID


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def sensor_frame(frame: int, t_us: int = 0, altitude: float = 1500.0, vx: float = 0.0) -> list[int]:
    return icd.SENSORS.encode([frame, t_us, frame & 0xFFFF, altitude, vx, 0.0, -70.0, 0.0, 0.0, 3.711, 0.0,
                               int(RADAR)])


def config(**values) -> dict:
    out = icd.config_defaults()
    out.update(values)
    return out


class FakeClock:
    def __init__(self, t: int = T0) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t & MASK

    def at(self, t: int) -> FakeClock:
        self.t = t
        return self


class Device:
    """ControllerRegisters on a fake clock, with the host's operations spelled out."""

    def __init__(self, **values) -> None:
        self.clock = FakeClock()
        self.regs = ControllerRegisters(ReferenceController(), device_kind=1, build_id=1, clock_us=self.clock)
        self.configure(**values)

    def configure(self, **values) -> None:
        self.regs.write(icd.CONFIG.base, icd.encode_config(config(**values)))

    def send(self, frame: int, **kw) -> None:
        self.regs.write(icd.SENSORS.base, sensor_frame(frame, **kw))

    def command(self) -> dict:
        return icd.COMMANDS.decode_map(self.regs.read(icd.COMMANDS.base, icd.COMMANDS.length))

    def poll_at(self, t: int) -> float | None:
        self.clock.at(t)
        return self.regs.poll()


def realtime(**values) -> Device:
    return Device(**{"timing_mode": 1, "control_rate_hz": 50.0, **values})


INITIAL = {"frame": 0, "state": 0, "throttle": 0.0, "tilt_x_rad": 0.0, "tilt_y_rad": 0.0, "discretes": 0,
           "td_time_us": icd.TD_NOT_DECLARED, "faults": 0, "step_time_us": 0, "step_count": 0,
           "frame_rx_tick_us": 0, "step_tick_us": 0}


def without_read_tick(command: dict) -> dict:
    return {k: v for k, v in command.items() if k != "read_tick_us"}


# -- clocks and periods ---------------------------------------------------------------------------

pytestmark = pytest.mark.timeout(30)


def test_period_is_the_float32_rounding_the_firmware_does():
    assert period_us(50.0) == 20_000 and period_us(30.0) == 33_333 and period_us(500.0) == 2_000
    for rate in np.arange(10.0, 500.0, 0.37, dtype=np.float32):   # (uint32_t)(1e6f / rate + 0.5f)
        assert period_us(float(rate)) == int(np.float32(np.float32(1e6) / rate) + np.float32(0.5)), rate
    assert period_us(f32(10.249)) == 97_571    # float64 would round 97570.4985 to 97570


def test_watchdog_microseconds_as_the_firmware_computes_them():
    assert watchdog_us(0.25) == 250_000 and watchdog_us(0.0) == 0
    assert watchdog_us(f32(0.1)) == 100_000    # the register's float32 is 0.10000000149 s
    assert watchdog_us(f32(0.3000003)) == 300_000 and watchdog_us(f32(0.3000006)) == 300_001
    assert watchdog_us(8.0002) == 8_000_201    # float32 product 8000200.5, where float64 says 8000200.27


def test_the_device_clock_is_monotonic_microseconds_modulo_2_32():
    before = (time.monotonic_ns() // 1000) & MASK
    tick = monotonic_clock_us()
    after = (time.monotonic_ns() // 1000) & MASK
    assert 0 <= tick <= MASK
    assert (tick - before) & MASK <= (after - before) & MASK < 1_000_000


# -- a config write starts a new run --------------------------------------------------------------

@pytest.mark.timeout(10)
@pytest.mark.parametrize("mode", [0, 1])
def test_a_config_write_resets_controller_command_block_step_count_and_schedule(mode):
    d = Device(timing_mode=mode)
    for i in range(1, 4):
        d.send(i, t_us=i * 20_000)
        d.poll_at(T0 + i * 20_000)
    assert d.command()["step_count"] == 3 and d.regs.controller.state == S.POWERED_DESCENT
    d.clock.at(T0 + 100_000)
    d.regs.write(icd.CONFIG.address_of("kp_vz"), icd.CONFIG.encode_map(config())[
        icd.CONFIG.address_of("kp_vz") - icd.CONFIG.base:][:2])          # one field, FC16
    assert without_read_tick(d.command()) == INITIAL
    assert d.regs.controller.state == S.STANDBY and d.regs.controller.prev_frame == -1
    assert d.regs.read(icd.SENSORS.base, icd.SENSORS.length) == [0] * icd.SENSORS.length  # frame forgotten
    assert d.poll_at(T0 + 200_000) is None and d.command()["step_count"] == 0            # nothing scheduled


@pytest.mark.timeout(10)
def test_a_refused_config_write_changes_nothing():
    d = Device()
    d.send(1, t_us=20_000)
    before = d.command()
    with pytest.raises(Exception):
        d.regs.write(icd.CONFIG.base, icd.encode_config(config(td_drop_frac=0.95)))
    assert d.command() == before and d.regs.controller.state == S.POWERED_DESCENT


@pytest.mark.timeout(10)
def test_the_config_write_resets_with_the_new_config():
    d = Device()
    d.configure(throttle_init=0.6)
    assert d.regs.controller.hover_est == pytest.approx(0.6)


# -- lockstep -----------------------------------------------------------------------------------

@pytest.mark.timeout(10)
def test_lockstep_steps_at_each_write_on_the_frame_clock_and_never_schedules():
    d = Device(timing_mode=0)
    assert d.regs.poll() is None
    for i in range(1, 6):
        d.clock.at(T0 + 7 * i)                    # device time has nothing to do with frame time
        d.send(i, t_us=i * 20_000)
        c = d.command()
        assert (c["frame"], c["step_count"]) == (i, i)
        assert c["frame_rx_tick_us"] == c["step_tick_us"] == T0 + 7 * i
        assert d.regs.controller.prev_t_us == i * 20_000
        assert d.regs.poll() is None and not c["faults"] & (Faults.STALE_FRAME | Faults.WATCHDOG)


@pytest.mark.timeout(10)
def test_lockstep_has_no_watchdog():
    d = Device(timing_mode=0, watchdog_s=0.1)
    d.send(1, t_us=20_000)
    d.clock.at(T0 + 10_000_000)
    assert d.regs.poll() is None
    d.send(2, t_us=40_000)
    assert d.command()["state"] == S.POWERED_DESCENT and d.command()["faults"] == 0


# -- real-time schedule ----------------------------------------------------------------------------

@pytest.mark.timeout(10)
def test_realtime_write_only_stores_and_step_0_is_due_at_the_first_arrival():
    d = realtime()
    assert d.poll_at(T0) is None                       # no frame yet: idle
    d.clock.at(T0 + 1_000)
    d.send(1)
    assert without_read_tick(d.command()) == INITIAL   # stored, not stepped
    assert d.poll_at(T0 + 1_000) == pytest.approx(0.020)
    c = d.command()
    assert (c["step_count"], c["frame"], c["state"]) == (1, 1, S.POWERED_DESCENT)
    assert c["step_tick_us"] == c["frame_rx_tick_us"] == T0 + 1_000 and c["faults"] == 0


@pytest.mark.timeout(10)
def test_realtime_steps_fall_on_multiples_of_the_period_from_the_first_arrival():
    d = realtime()
    d.clock.at(T0)
    d.send(1)
    d.poll_at(T0)
    assert d.poll_at(T0 + 5_000) == pytest.approx(0.015)     # not due: nothing happens
    assert d.command()["step_count"] == 1
    assert d.poll_at(T0 + 20_300) == pytest.approx(0.0197)   # 300 us late: next still at 40 000
    assert d.command()["step_count"] == 2 and d.command()["step_tick_us"] == T0 + 20_300
    assert d.poll_at(T0 + 40_000) == pytest.approx(0.020)
    assert d.command()["step_count"] == 3


@pytest.mark.timeout(10)
def test_a_step_more_than_a_period_late_does_not_make_up_the_missed_ones():
    d = realtime()
    d.clock.at(T0)
    d.send(1)
    d.poll_at(T0)
    assert d.poll_at(T0 + 60_500) == pytest.approx(0.0195)   # steps 1 and 2 missed: next at 80 000
    assert d.command()["step_count"] == 2
    assert d.poll_at(T0 + 79_999) == pytest.approx(1e-6) and d.command()["step_count"] == 2
    d.poll_at(T0 + 80_000)
    assert d.command()["step_count"] == 3


@pytest.mark.timeout(10)
def test_a_step_without_a_new_frame_is_stale_and_uses_the_newest_frame():
    d = realtime(watchdog_s=0.0)
    d.clock.at(T0)
    d.send(1)
    d.poll_at(T0)
    d.poll_at(T0 + 20_000)
    c = d.command()
    assert c["frame"] == 1 and c["faults"] & Faults.STALE_FRAME and c["faults"] & Faults.FRAME_SKIP
    assert c["frame_rx_tick_us"] == T0
    d.clock.at(T0 + 25_000)
    d.send(2)
    d.clock.at(T0 + 30_000)
    d.send(3)                                               # two frames between steps: the newest wins
    d.poll_at(T0 + 40_000)
    c = d.command()
    assert c["frame"] == 3 and c["frame_rx_tick_us"] == T0 + 30_000
    assert not c["faults"] & Faults.STALE_FRAME and c["faults"] & Faults.FRAME_SKIP
    d.clock.at(T0 + 50_000)
    d.send(4)
    d.poll_at(T0 + 60_000)
    assert d.command()["faults"] == 0


@pytest.mark.timeout(10)
def test_the_controller_clock_is_device_time_since_the_first_arrival():
    d = realtime(watchdog_s=0.0)
    d.clock.at(T0)
    d.send(1, t_us=999_999_999)                      # the frame's own timestamps are ignored
    d.poll_at(T0 + 300)
    assert d.regs.controller.prev_t_us == 300
    for i in range(2, 5):
        d.clock.at(T0 + (i - 1) * 20_000 - 100)
        d.send(i, t_us=0)                            # would be CLOCK_BACKWARDS in lockstep
        d.poll_at(T0 + (i - 1) * 20_000 + 50)
        assert d.regs.controller.prev_t_us == (i - 1) * 20_000 + 50
        assert not d.command()["faults"] & Faults.CLOCK_BACKWARDS


@pytest.mark.timeout(10)
def test_the_schedule_and_the_controller_clock_survive_the_tick_wrapping():
    d = realtime(watchdog_s=0.0)
    first = (1 << 32) - 30_000
    d.clock.at(first)
    d.send(1)
    d.poll_at(first)
    assert d.poll_at((1 << 32) - 10_000) == pytest.approx(0.020)        # step 1
    assert d.poll_at((1 << 32) + 9_000) == pytest.approx(0.001)         # not yet
    assert d.poll_at((1 << 32) + 10_000) == pytest.approx(0.020)        # step 2, after the wrap
    c = d.command()
    assert c["step_count"] == 3 and c["step_tick_us"] == 10_000 and d.regs.controller.prev_t_us == 40_000


# -- watchdog -----------------------------------------------------------------------------------

def _burning_then_silent(**values) -> Device:
    d = realtime(watchdog_s=0.1, **values)
    for i in range(3):                                       # frames at 0, 20, 40 ms, tilted
        d.clock.at(T0 + i * 20_000)
        d.send(i + 1, vx=0.5)
        d.poll_at(T0 + i * 20_000)
    return d


@pytest.mark.timeout(10)
def test_silence_longer_than_the_watchdog_enters_link_lost_at_a_due_step():
    d = _burning_then_silent()
    before = d.command()
    assert before["state"] == S.POWERED_DESCENT and before["tilt_x_rad"] != 0.0 and before["step_count"] == 3
    for k in range(3, 8):                                    # 60..140 ms: silence <= 100 ms, stale steps
        assert d.poll_at(T0 + k * 20_000) is not None
        assert d.command()["faults"] & Faults.STALE_FRAME
    assert d.poll_at(T0 + 160_000) is None                   # 120 ms > 100 ms
    c = d.command()
    assert c["state"] == S.LINK_LOST and c["faults"] == Faults.WATCHDOG
    assert c["tilt_x_rad"] == c["tilt_y_rad"] == 0.0
    assert c["throttle"] == f32(d.regs.controller.hover_est) > 0.0
    assert c["frame"] == 3 and c["discretes"] == before["discretes"] and c["td_time_us"] == before["td_time_us"]
    assert c["step_count"] == 3 + 5 + 1 and c["step_tick_us"] == T0 + 160_000


@pytest.mark.timeout(10)
def test_link_lost_is_latched_until_the_config_is_written():
    d = _burning_then_silent()
    d.poll_at(T0 + 200_000)
    lost = d.command()
    assert lost["state"] == S.LINK_LOST
    for i in range(5):                                       # frames come back: stored, no step
        d.clock.at(T0 + 210_000 + i * 20_000)
        d.send(10 + i)
        assert d.regs.poll() is None
    assert without_read_tick(d.command()) == without_read_tick(lost)
    assert icd.SENSORS.decode(d.regs.read(icd.SENSORS.base, icd.SENSORS.length))[0] == 14   # stored
    d.configure(timing_mode=1, watchdog_s=0.1)
    assert without_read_tick(d.command()) == INITIAL and d.regs.controller.state == S.STANDBY
    d.clock.at(T0 + 400_000)
    d.send(1)
    d.poll_at(T0 + 400_000)
    assert d.command()["state"] == S.POWERED_DESCENT and d.command()["step_count"] == 1


@pytest.mark.timeout(10)
def test_link_lost_before_the_engines_burn_commands_zero_throttle():
    d = realtime(watchdog_s=0.1)
    d.clock.at(T0)
    d.regs.write(icd.SENSORS.base, icd.SENSORS.encode([1, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0]))
    d.poll_at(T0)
    assert d.command()["state"] == S.STANDBY                 # no navigation yet
    d.poll_at(T0 + 200_000)
    c = d.command()
    assert c["state"] == S.LINK_LOST and c["throttle"] == 0.0


@pytest.mark.timeout(10)
def test_watchdog_zero_never_trips():
    d = realtime(watchdog_s=0.0)
    d.clock.at(T0)
    d.send(1)
    d.poll_at(T0)
    for k in range(1, 6):
        assert d.poll_at(T0 + k * 2_000_000) is not None      # 10 s of silence
    c = d.command()
    assert c["state"] == S.POWERED_DESCENT and c["step_count"] == 6 and c["faults"] & Faults.STALE_FRAME


@pytest.mark.timeout(10)
def test_each_new_frame_restarts_the_watchdog():
    d = realtime(watchdog_s=0.1, control_rate_hz=10.0)       # 100 ms period
    for k in range(6):                                       # a frame every 90 ms keeps it alive
        d.clock.at(T0 + k * 90_000)
        d.send(k + 1)
        d.poll_at(T0 + k * 90_000)
    assert d.command()["state"] == S.POWERED_DESCENT


# -- read_tick_us ---------------------------------------------------------------------------------

@pytest.mark.timeout(10)
def test_read_tick_is_the_clock_at_every_read_that_includes_it():
    d = Device()
    at = icd.COMMANDS.address_of("read_tick_us")
    d.clock.at(T0 + 123_456)
    assert d.command()["read_tick_us"] == T0 + 123_456
    d.clock.at(T0 + 200_000)
    assert d.regs.read(at, 2) == [(T0 + 200_000) >> 16, (T0 + 200_000) & 0xFFFF]
    d.clock.at(T0 + 300_000)
    assert d.regs.read(at + 1, 1) == [(T0 + 300_000) & 0xFFFF]     # the low word alone
    d.clock.at((1 << 32) + 77)
    assert d.command()["read_tick_us"] == 77                      # wraps modulo 2**32
    d.clock.at(T0)
    d.regs.read(icd.COMMANDS.base, 2)                             # a read without it leaves it alone
    assert d.regs.read(at, 2) == [T0 >> 16, T0 & 0xFFFF] and d.regs._commands[at - icd.COMMANDS.base] == T0 >> 16


# -- over Modbus RTU on a pty, the real clock -----------------------------------------------------

@pytest.fixture
def loopback():
    device = LoopbackDevice()
    path = device.start()
    try:
        with RtuClient(path, timeout_s=0.5) as client:
            yield client, device.registers
    finally:
        device.stop()


def exchange(client, frame: int, **kw) -> dict:
    reply = client.read_write(icd.SENSORS.base, sensor_frame(frame, **kw), icd.COMMANDS.base,
                              icd.COMMANDS.length)
    return icd.COMMANDS.decode_map(reply)


def read_command(client) -> dict:
    return icd.COMMANDS.decode_map(client.read_holding(icd.COMMANDS.base, icd.COMMANDS.length))


def fly_frames(client, seconds: float, interval_s: float, first: int = 1) -> list[dict]:
    """Frames every interval_s (paced on the wall clock, no drift) for `seconds`; the replies."""
    replies, start = [], time.perf_counter()
    n = int(seconds / interval_s)
    for i in range(n):
        delay = start + i * interval_s - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        replies.append(exchange(client, first + i, t_us=i * 20_000))
    return replies


def tick_spacing_us(commands: list[dict]) -> float:
    """Median device time per step between successive distinct steps seen."""
    seen = {c["step_count"]: c["step_tick_us"] for c in commands if c["step_count"] > 0}
    counts = sorted(seen)
    return statistics.median(((seen[b] - seen[a]) & MASK) / (b - a) for a, b in zip(counts, counts[1:]))


@pytest.mark.timeout(20)
def test_realtime_device_steps_at_the_control_rate_on_its_own_timer(loopback):
    client, registers = loopback
    handshake.configure(client, config(timing_mode=1, control_rate_hz=50.0, watchdog_s=0.0))
    started = time.perf_counter()
    replies = fly_frames(client, 1.0, 0.020)
    last = read_command(client)
    elapsed = time.perf_counter() - started
    assert 0.7 * 50 * elapsed <= last["step_count"] <= 1.3 * 50 * elapsed + 2
    assert 19_000 <= tick_spacing_us(replies + [last]) <= 21_000
    assert last["state"] == S.POWERED_DESCENT and last["frame"] >= 45
    # frames stopped (no watchdog): the device's timer keeps stepping, on the stale frame
    time.sleep(0.3)
    later = read_command(client)
    assert 0.7 * 15 <= later["step_count"] - last["step_count"] <= 1.3 * 15 + 5
    assert later["faults"] & Faults.STALE_FRAME and later["frame"] == len(replies)


@pytest.mark.timeout(20)
def test_frames_slower_than_the_rate_give_stale_steps(loopback):
    client, _ = loopback
    handshake.configure(client, config(timing_mode=1, control_rate_hz=50.0, watchdog_s=1.0))
    replies = fly_frames(client, 0.6, 0.060)          # one frame per ~3 steps
    stale = sum(1 for c in replies if c["faults"] & Faults.STALE_FRAME)
    assert stale >= len(replies) // 2
    assert replies[-1]["step_count"] >= 2 * len(replies) - 2   # the timer, not the frames, sets the pace


@pytest.mark.timeout(20)
def test_the_watchdog_over_the_link(loopback):
    client, registers = loopback
    handshake.configure(client, config(timing_mode=1, control_rate_hz=50.0, watchdog_s=0.1))
    replies = fly_frames(client, 0.3, 0.020, first=1)
    assert replies[-1]["state"] == S.POWERED_DESCENT and replies[-1]["throttle"] > 0.0
    time.sleep(0.3)                                   # silence longer than the watchdog
    lost = read_command(client)
    assert lost["state"] == S.LINK_LOST and lost["faults"] == Faults.WATCHDOG
    assert lost["tilt_x_rad"] == lost["tilt_y_rad"] == 0.0
    assert lost["throttle"] == f32(registers.controller.hover_est) > 0.0
    time.sleep(0.1)
    assert read_command(client)["step_count"] == lost["step_count"]      # steps stopped
    after = fly_frames(client, 0.1, 0.020, first=100)                   # frames again: no step
    time.sleep(0.05)
    again = read_command(client)
    assert all(c["state"] == S.LINK_LOST for c in after + [again])
    assert again["step_count"] == lost["step_count"] and again["frame"] == lost["frame"]
    handshake.configure(client, config(timing_mode=1, control_rate_hz=50.0, watchdog_s=0.1))
    fresh = read_command(client)
    assert (fresh["state"], fresh["step_count"], fresh["td_time_us"]) == (S.STANDBY, 0, icd.TD_NOT_DECLARED)


@pytest.mark.timeout(20)
def test_lockstep_over_the_link_counts_one_step_per_frame(loopback):
    client, _ = loopback
    handshake.configure(client, config(timing_mode=0))
    for i in range(1, 21):
        c = exchange(client, i, t_us=i * 20_000)
        assert (c["frame"], c["step_count"]) == (i, i)
        assert c["frame_rx_tick_us"] == c["step_tick_us"]
        assert 0 <= (c["read_tick_us"] - c["step_tick_us"]) & MASK < 100_000
    time.sleep(0.1)
    assert read_command(client)["step_count"] == 20     # no timer in lockstep


@pytest.mark.timeout(20)
def test_read_tick_advances_with_time_over_the_link(loopback):
    client, _ = loopback
    first = read_command(client)["read_tick_us"]
    time.sleep(0.1)
    second = read_command(client)["read_tick_us"]
    assert 90_000 <= (second - first) & MASK <= 400_000
