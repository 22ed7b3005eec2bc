"""Phase alignment (hil/phase.py) on synthetic clocks: a frame goes out once per device step, a
margin before it, whatever the offset between the clocks and however it drifts."""

import pytest

from hil.phase import WRAP, PhaseAligner

pytestmark = pytest.mark.timeout(30)

PERIOD_US, MARGIN_US, TICK_US = 20_000, 2_000, 1_000


def _fly(offset_us: int, drift_ppm: float = 0.0, seconds: float = 2.0, round_trip_us: int = 400):
    """Tick the host clock every TICK_US; the device steps every PERIOD_US on its own clock
    (device = host * (1 + drift) + offset, wrapping). Returns the sends as device-clock lead times
    before the next device step."""
    aligner = PhaseAligner(PERIOD_US, MARGIN_US, TICK_US)

    def device(host_us: float) -> int:
        return int(host_us * (1 + drift_ppm * 1e-6) + offset_us) % WRAP

    first_step_dev = device(0)
    leads = []
    for tick in range(int(seconds * 1e6 / TICK_US)):
        host_us = tick * TICK_US
        dev_now = device(host_us)
        since = (dev_now - first_step_dev) % WRAP
        last_step = (first_step_dev + (since // PERIOD_US) * PERIOD_US) % WRAP
        if tick % 20 == 5:   # a reply arrives now and then: the clocks and the schedule it carries
            mid = host_us - round_trip_us / 2
            aligner.observe(int((mid - round_trip_us / 2) * 1e3), int((mid + round_trip_us / 2) * 1e3),
                            device(mid), last_step, fresh=True)
        if aligner.due(host_us * 1000):
            next_step = (last_step + PERIOD_US) % WRAP
            leads.append((next_step - dev_now) % WRAP)
    return aligner, leads


@pytest.mark.parametrize("offset_us", [0, 7_345, 19_999, WRAP - 3_000])
def test_one_frame_per_step_a_margin_before_it(offset_us):
    aligner, leads = _fly(offset_us)
    assert aligner.active
    assert 95 <= len(leads) <= 100                          # one per 20 ms step over ~2 s
    margin = aligner.margin_us                               # 2 ms plus half the 0.4 ms round trip
    assert margin == MARGIN_US + 200
    assert all(margin <= lead < margin + TICK_US for lead in leads), leads[:10]


def test_it_follows_a_drifting_device_clock():
    # QEMU's SysTick ran 0.2 % slow: 40 us a period. The offset is a median of the last 16 replies,
    # so it lags the drift by a few hundred microseconds; the frames still lead the step by about
    # the margin, and never fall behind it (which would make the command a period older).
    _, leads = _fly(5_000, drift_ppm=-2_000.0, seconds=8.0)
    assert 395 <= len(leads) <= 401
    assert all(MARGIN_US <= lead < MARGIN_US + 200 + TICK_US + 400 for lead in leads[20:]), leads[20:40]


def test_nothing_is_due_before_the_first_reply():
    aligner = PhaseAligner(PERIOD_US, MARGIN_US, TICK_US)
    assert not aligner.active and not aligner.due(123_456_000)
