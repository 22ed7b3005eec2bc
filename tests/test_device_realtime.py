"""The Python device's clock helpers, and the loopback device over Modbus RTU on a pty with the
real clock (loose bounds). The device contract itself, on a fake clock and over both the Python
and the C implementation, is tests/test_contract_device.py.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest

from hil import handshake, icd
from hil.devices.controller_registers import (
    monotonic_clock_us,
    period_us,
    watchdog_us,
)
from hil.devices.loopback import LoopbackDevice
from hil.icd import ControllerState as S
from hil.icd import Faults
from hil.link.rtu_client import RtuClient
from tests import contract
from tests.contract import config, f32, sensor_frame

MASK = contract.MASK


# -- clocks and periods ---------------------------------------------------------------------------

pytestmark = [pytest.mark.timeout(30), pytest.mark.realtime]


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
