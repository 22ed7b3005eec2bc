"""The device contract of docs/realtime.md, over the Python device and the C core: new runs,
lockstep, the real-time timer, stale frames, the watchdog, read_tick_us.

Each test drives the register bank directly (as the RTU server does) on a fake device clock, once
per implementation (tests/contract.py); both must pass the same assertions.
"""

from __future__ import annotations

import pytest

from hil import icd
from hil.devices.rtu_server import IllegalAddress, IllegalValue
from hil.icd import ControllerState as S
from hil.icd import Faults
from tests import contract
from tests.contract import FakeClock, config, f32, sensor_frame

T0 = contract.T0


class Device:
    """One implementation's register bank on a fake clock, with the host's operations spelled out;
    read, write, poll and probe go straight to it."""

    def __init__(self, implementation: str, **values) -> None:
        self.clock = FakeClock()
        self.regs = contract.device(implementation, self.clock)
        self.configure(**values)

    def __getattr__(self, name: str):
        return getattr(self.regs, name)

    def configure(self, **values) -> None:
        self.regs.write(icd.CONFIG.base, icd.encode_config(config(**values)))

    def send(self, frame: int, **kw) -> None:
        self.regs.write(icd.SENSORS.base, sensor_frame(frame, **kw))

    def command(self) -> dict:
        return icd.COMMANDS.decode_map(self.regs.read(icd.COMMANDS.base, icd.COMMANDS.length))

    def poll_at(self, t: int) -> float | None:
        self.clock.at(t)
        return self.regs.poll()


def realtime(implementation: str, **values) -> Device:
    return Device(implementation, **{"timing_mode": 1, "control_rate_hz": 50.0, **values})


INITIAL = {"frame": 0, "state": 0, "throttle": 0.0, "tilt_x_rad": 0.0, "tilt_y_rad": 0.0, "discretes": 0,
           "td_time_us": icd.TD_NOT_DECLARED, "faults": 0, "state_since_us": 0, "step_time_us": 0, "step_count": 0,
           "frame_rx_tick_us": 0, "step_tick_us": 0}


def without_read_tick(command: dict) -> dict:
    return {k: v for k, v in command.items() if k != "read_tick_us"}


pytestmark = pytest.mark.timeout(30)


# -- a config write starts a new run --------------------------------------------------------------

@pytest.mark.timeout(10)
@pytest.mark.parametrize("mode", [0, 1])
def test_a_config_write_resets_controller_command_block_step_count_and_schedule(implementation, mode):
    d = Device(implementation, timing_mode=mode)
    for i in range(1, 4):
        d.send(i, t_us=i * 20_000)
        d.poll_at(T0 + i * 20_000)
    assert d.command()["step_count"] == 3 and d.probe()["state"] == S.POWERED_DESCENT
    d.clock.at(T0 + 100_000)
    d.write(icd.CONFIG.address_of("kp_vz"), icd.CONFIG.encode_map(config())[
        icd.CONFIG.address_of("kp_vz") - icd.CONFIG.base:][:2])          # one field, FC16
    assert without_read_tick(d.command()) == INITIAL
    assert d.probe()["state"] == S.STANDBY and d.probe()["prev_frame"] == -1
    assert d.read(icd.SENSORS.base, icd.SENSORS.length) == [0] * icd.SENSORS.length  # frame forgotten
    assert d.poll_at(T0 + 200_000) is None and d.command()["step_count"] == 0            # nothing scheduled


@pytest.mark.timeout(10)
def test_a_refused_config_write_changes_nothing(implementation):
    d = Device(implementation, )
    d.send(1, t_us=20_000)
    before = d.command()
    with pytest.raises(IllegalValue):
        d.write(icd.CONFIG.base, icd.encode_config(config(td_drop_frac=0.95)))
    assert d.command() == before and d.probe()["state"] == S.POWERED_DESCENT


@pytest.mark.timeout(10)
def test_the_config_write_resets_with_the_new_config(implementation):
    d = Device(implementation, )
    d.configure(throttle_init=0.6)
    assert d.probe()["hover_est"] == pytest.approx(0.6)


# -- lockstep -----------------------------------------------------------------------------------

@pytest.mark.timeout(10)
def test_lockstep_steps_at_each_write_on_the_frame_clock_and_never_schedules(implementation):
    d = Device(implementation, timing_mode=0)
    assert d.poll() is None
    for i in range(1, 6):
        d.clock.at(T0 + 7 * i)                    # device time has nothing to do with frame time
        d.send(i, t_us=i * 20_000)
        c = d.command()
        assert (c["frame"], c["step_count"]) == (i, i)
        assert c["frame_rx_tick_us"] == c["step_tick_us"] == T0 + 7 * i
        assert d.probe()["prev_t_us"] == i * 20_000
        assert d.poll() is None and not c["faults"] & (Faults.STALE_FRAME | Faults.WATCHDOG)


@pytest.mark.timeout(10)
def test_lockstep_has_no_watchdog(implementation):
    d = Device(implementation, timing_mode=0, watchdog_s=0.1)
    d.send(1, t_us=20_000)
    d.clock.at(T0 + 10_000_000)
    assert d.poll() is None
    d.send(2, t_us=40_000)
    assert d.command()["state"] == S.POWERED_DESCENT and d.command()["faults"] == 0


# -- real-time schedule ----------------------------------------------------------------------------

@pytest.mark.timeout(10)
def test_realtime_write_only_stores_and_step_0_is_due_at_the_first_arrival(implementation):
    d = realtime(implementation, )
    assert d.poll_at(T0) is None                       # no frame yet: idle
    d.clock.at(T0 + 1_000)
    d.send(1)
    assert without_read_tick(d.command()) == INITIAL   # stored, not stepped
    assert d.poll_at(T0 + 1_000) == pytest.approx(0.020)
    c = d.command()
    assert (c["step_count"], c["frame"], c["state"]) == (1, 1, S.POWERED_DESCENT)
    assert c["step_tick_us"] == c["frame_rx_tick_us"] == T0 + 1_000 and c["faults"] == 0


@pytest.mark.timeout(10)
def test_realtime_steps_fall_on_multiples_of_the_period_from_the_first_arrival(implementation):
    d = realtime(implementation, )
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
def test_a_step_more_than_a_period_late_does_not_make_up_the_missed_ones(implementation):
    d = realtime(implementation, )
    d.clock.at(T0)
    d.send(1)
    d.poll_at(T0)
    assert d.poll_at(T0 + 60_500) == pytest.approx(0.0195)   # steps 1 and 2 missed: next at 80 000
    assert d.command()["step_count"] == 2
    assert d.poll_at(T0 + 79_999) == pytest.approx(1e-6) and d.command()["step_count"] == 2
    d.poll_at(T0 + 80_000)
    assert d.command()["step_count"] == 3


@pytest.mark.timeout(10)
def test_a_step_without_a_new_frame_is_stale_and_uses_the_newest_frame(implementation):
    d = realtime(implementation, watchdog_s=0.0)
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
def test_the_controller_clock_is_device_time_since_the_first_arrival(implementation):
    d = realtime(implementation, watchdog_s=0.0)
    d.clock.at(T0)
    d.send(1, t_us=999_999_999)                      # the frame's own timestamps are ignored
    d.poll_at(T0 + 300)
    assert d.probe()["prev_t_us"] == 300
    for i in range(2, 5):
        d.clock.at(T0 + (i - 1) * 20_000 - 100)
        d.send(i, t_us=0)                            # would be CLOCK_BACKWARDS in lockstep
        d.poll_at(T0 + (i - 1) * 20_000 + 50)
        assert d.probe()["prev_t_us"] == (i - 1) * 20_000 + 50
        assert not d.command()["faults"] & Faults.CLOCK_BACKWARDS


@pytest.mark.timeout(10)
def test_the_schedule_and_the_controller_clock_survive_the_tick_wrapping(implementation):
    d = realtime(implementation, watchdog_s=0.0)
    first = (1 << 32) - 30_000
    d.clock.at(first)
    d.send(1)
    d.poll_at(first)
    assert d.poll_at((1 << 32) - 10_000) == pytest.approx(0.020)        # step 1
    assert d.poll_at((1 << 32) + 9_000) == pytest.approx(0.001)         # not yet
    assert d.poll_at((1 << 32) + 10_000) == pytest.approx(0.020)        # step 2, after the wrap
    c = d.command()
    assert c["step_count"] == 3 and c["step_tick_us"] == 10_000 and d.probe()["prev_t_us"] == 40_000


# -- watchdog -----------------------------------------------------------------------------------

def _burning_then_silent(implementation, **values) -> Device:
    d = realtime(implementation, watchdog_s=0.1, **values)
    for i in range(3):                                       # frames at 0, 20, 40 ms, tilted
        d.clock.at(T0 + i * 20_000)
        d.send(i + 1, vx=0.5)
        d.poll_at(T0 + i * 20_000)
    return d


@pytest.mark.timeout(10)
def test_silence_longer_than_the_watchdog_enters_link_lost_at_a_due_step(implementation):
    d = _burning_then_silent(implementation)
    before = d.command()
    assert before["state"] == S.POWERED_DESCENT and before["tilt_x_rad"] != 0.0 and before["step_count"] == 3
    for k in range(3, 8):                                    # 60..140 ms: silence <= 100 ms, stale steps
        assert d.poll_at(T0 + k * 20_000) is not None
        assert d.command()["faults"] & Faults.STALE_FRAME
    assert d.poll_at(T0 + 160_000) is None                   # 120 ms > 100 ms
    c = d.command()
    assert c["state"] == S.LINK_LOST and c["faults"] == Faults.WATCHDOG
    assert c["tilt_x_rad"] == c["tilt_y_rad"] == 0.0
    assert c["throttle"] == f32(d.probe()["hover_est"]) > 0.0
    assert c["frame"] == 3 and c["discretes"] == before["discretes"] and c["td_time_us"] == before["td_time_us"]
    assert c["step_count"] == 3 + 5 + 1 and c["step_tick_us"] == T0 + 160_000


@pytest.mark.timeout(10)
def test_state_since_us_tells_when_the_watchdog_tripped_on_the_controller_clock(implementation):
    """The host measures how long after the frames stopped the device entered LINK_LOST: the
    controller clock is the device time since the first frame (here T0)."""
    d = _burning_then_silent(implementation)
    assert (d.command()["state"], d.command()["state_since_us"]) == (S.POWERED_DESCENT, 0)   # the first step
    for k in range(3, 8):
        d.poll_at(T0 + k * 20_000)
    assert d.command()["state_since_us"] == 0
    d.poll_at(T0 + 160_000 + 7)
    c = d.command()
    assert (c["state"], c["state_since_us"]) == (S.LINK_LOST, 160_007)
    assert c["state_since_us"] - 40_000 == c["step_tick_us"] - c["frame_rx_tick_us"]   # after the last frame


@pytest.mark.timeout(10)
def test_lockstep_state_since_us_is_the_frame_time_of_the_transition(implementation):
    d = Device(implementation)
    d.send(1, t_us=1_000_000, altitude=1500.0)
    assert (d.command()["state"], d.command()["state_since_us"]) == (S.POWERED_DESCENT, 1_000_000)
    d.send(2, t_us=1_020_000, altitude=21.0)
    assert (d.command()["state"], d.command()["state_since_us"]) == (S.CONSTANT_VELOCITY, 1_020_000)
    d.send(3, t_us=1_040_000, altitude=21.0)
    assert d.command()["state_since_us"] == 1_020_000


@pytest.mark.timeout(10)
def test_link_lost_is_latched_until_the_config_is_written(implementation):
    d = _burning_then_silent(implementation)
    d.poll_at(T0 + 200_000)
    lost = d.command()
    assert lost["state"] == S.LINK_LOST
    for i in range(5):                                       # frames come back: stored, no step
        d.clock.at(T0 + 210_000 + i * 20_000)
        d.send(10 + i)
        assert d.poll() is None
    assert without_read_tick(d.command()) == without_read_tick(lost)
    assert icd.SENSORS.decode(d.read(icd.SENSORS.base, icd.SENSORS.length))[0] == 14   # stored
    d.configure(timing_mode=1, watchdog_s=0.1)
    assert without_read_tick(d.command()) == INITIAL and d.probe()["state"] == S.STANDBY
    d.clock.at(T0 + 400_000)
    d.send(1)
    d.poll_at(T0 + 400_000)
    assert d.command()["state"] == S.POWERED_DESCENT and d.command()["step_count"] == 1


@pytest.mark.timeout(10)
def test_link_lost_before_the_engines_burn_commands_zero_throttle(implementation):
    d = realtime(implementation, watchdog_s=0.1)
    d.clock.at(T0)
    d.write(icd.SENSORS.base, icd.SENSORS.encode([1, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 1.0]))
    d.poll_at(T0)
    assert d.command()["state"] == S.STANDBY                 # no navigation yet
    d.poll_at(T0 + 200_000)
    c = d.command()
    assert c["state"] == S.LINK_LOST and c["throttle"] == 0.0


@pytest.mark.timeout(10)
def test_watchdog_zero_never_trips(implementation):
    d = realtime(implementation, watchdog_s=0.0)
    d.clock.at(T0)
    d.send(1)
    d.poll_at(T0)
    for k in range(1, 6):
        assert d.poll_at(T0 + k * 2_000_000) is not None      # 10 s of silence
    c = d.command()
    assert c["state"] == S.POWERED_DESCENT and c["step_count"] == 6 and c["faults"] & Faults.STALE_FRAME


@pytest.mark.timeout(10)
def test_each_new_frame_restarts_the_watchdog(implementation):
    d = realtime(implementation, watchdog_s=0.1, control_rate_hz=10.0)       # 100 ms period
    for k in range(6):                                       # a frame every 90 ms keeps it alive
        d.clock.at(T0 + k * 90_000)
        d.send(k + 1)
        d.poll_at(T0 + k * 90_000)
    assert d.command()["state"] == S.POWERED_DESCENT


# -- read_tick_us ---------------------------------------------------------------------------------

@pytest.mark.timeout(10)
def test_read_tick_is_the_clock_at_every_read_that_includes_it(implementation):
    d = Device(implementation, )
    at = icd.COMMANDS.address_of("read_tick_us")
    d.clock.at(T0 + 123_456)
    assert d.command()["read_tick_us"] == T0 + 123_456
    d.clock.at(T0 + 200_000)
    assert d.read(at, 2) == [(T0 + 200_000) >> 16, (T0 + 200_000) & 0xFFFF]
    d.clock.at(T0 + 300_000)
    assert d.read(at + 1, 1) == [(T0 + 300_000) & 0xFFFF]     # the low word alone
    d.clock.at((1 << 32) + 77)
    assert d.command()["read_tick_us"] == 77                      # wraps modulo 2**32
    d.clock.at(T0)
    d.read(icd.COMMANDS.base, 2)                             # a read without it leaves it alone
    assert d.read(at, 2) == [T0 >> 16, T0 & 0xFFFF]


# -- config range checks ------------------------------------------------------------------------

def _next_f32(value: float, direction: float) -> float:
    """The float32 next to value's float32, towards direction."""
    import numpy as np
    return float(np.nextafter(np.float32(value), np.float32(direction)))


def _field_write(name: str, value: float) -> tuple[int, list[int]]:
    f = icd.CONFIG.field_named(name)
    return icd.CONFIG.address_of(name), icd.Block("one", 0, "w", "", (f,)).encode([value])


@pytest.mark.parametrize("name", icd.CONFIG.names)
def test_each_config_field_takes_its_limits_and_refuses_just_outside(implementation, name):
    """Whole fields, values in range as float32, else exception 03 and nothing changes."""
    f = icd.CONFIG.field_named(name)
    d = Device(implementation)
    for good in (f.minimum, f.maximum):
        d.write(*_field_write(name, good))
        assert icd.CONFIG.decode_map(d.read(icd.CONFIG.base, icd.CONFIG.length))[name] == pytest.approx(good)
    bad = [f.minimum - 1, f.maximum + 1] if f.type == "u16" else \
        [_next_f32(f.minimum, -1e30), _next_f32(f.maximum, 1e30), float("nan"), float("inf")]
    d.send(1, t_us=20_000)                                  # a run under way: a refused write keeps it
    before = (d.read(icd.CONFIG.base, icd.CONFIG.length), d.command())
    for value in bad:
        if f.type == "u16" and not 0 <= value <= 0xFFFF:
            continue                                         # not representable in the register
        with pytest.raises(IllegalValue):
            d.write(*_field_write(name, value))
        assert (d.read(icd.CONFIG.base, icd.CONFIG.length), d.command()) == before, value


def test_a_write_that_splits_a_float_or_spans_blocks_is_refused_with_02(implementation):
    d = Device(implementation)
    with pytest.raises(IllegalAddress):
        d.write(icd.CONFIG.address_of("kp_vz") + 1, [0])
    with pytest.raises(IllegalAddress):
        d.write(icd.CONFIG.base + icd.CONFIG.length - 1, [0, 0])


@pytest.mark.parametrize("address,count", [(icd.IDENTITY.base, icd.IDENTITY.length + 1), (0x0030, 1),
                                           (icd.COMMANDS.base + icd.COMMANDS.length - 1, 2)])
def test_reads_outside_one_block_are_refused_with_02(implementation, address, count):
    with pytest.raises(IllegalAddress):
        Device(implementation).read(address, count)


def test_read_only_blocks_and_partial_sensor_frames_are_refused_with_02(implementation):
    d = Device(implementation)
    for address, values in ((icd.IDENTITY.base, [1]), (icd.COMMANDS.base, [1]), (icd.SENSORS.base, [1]),
                            (icd.SENSORS.base + 1, [0] * (icd.SENSORS.length - 1))):
        with pytest.raises(IllegalAddress):
            d.write(address, values)
    assert d.command()["step_count"] == 0


def test_identity_names_the_icd_the_layout_and_the_kind(implementation):
    ident = icd.IDENTITY.decode_map(Device(implementation).read(icd.IDENTITY.base, icd.IDENTITY.length))
    assert ident == {"icd_version": icd.ICD_VERSION, "layout_hash": icd.LAYOUT_HASH,
                     "device_kind": contract.SIL_KIND, "build_id": contract.C_BUILD_ID}


def test_lockstep_answers_a_repeated_frame_without_stepping_again(implementation):
    """The host retrying an exchange whose reply it lost (docs/architecture.md, link policy)."""
    d = Device(implementation, timing_mode=0)
    d.send(1, t_us=20_000)
    first = d.command()
    d.clock.at(T0 + 5_000)
    d.send(1, t_us=20_000)                                  # the same block again
    assert without_read_tick(d.command()) == without_read_tick(first) and first["step_count"] == 1
    d.send(2, t_us=40_000)
    assert d.command()["step_count"] == 2
