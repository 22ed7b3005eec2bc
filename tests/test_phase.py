"""Phase alignment (hil/phase.py) on synthetic clocks: one frame per device step; on the plant's
control grid when the grid leaves enough time before the step, else a margin before it;
whatever the offset between the two clocks, and however the device's clock drifts."""

import pytest

from hil.phase import WRAP, PhaseAligner

pytestmark = pytest.mark.timeout(30)

PERIOD_US, MARGIN_US, TICK_US, ROUND_TRIP_US = 20_000, 2_000, 1_000, 400
LEAD_US = MARGIN_US + ROUND_TRIP_US // 2          # the aligner's margin: base plus half the round trip


def _fly(clock_offset_us: int, first_step_us: int, drift_ppm: float = 0.0, seconds: float = 2.0):
    """Host ticks every TICK_US with a control tick every PERIOD_US (host time 0, 20 ms, ...); the
    device steps every PERIOD_US of its own clock from host time `first_step_us`
    (device = host * (1 + drift) + offset, wrapping). Returns (host time, lead before the
    device's next step) of every send, the lead in device microseconds."""
    aligner = PhaseAligner(PERIOD_US, MARGIN_US, TICK_US)

    def device(host_us: float) -> int:
        return int(host_us * (1 + drift_ppm * 1e-6) + clock_offset_us) % WRAP

    first_step_dev = device(first_step_us)
    sends = []
    for tick in range(int(seconds * 1e6 / TICK_US)):
        host_us = tick * TICK_US
        dev_now = device(host_us)
        since = (dev_now - first_step_dev) % WRAP
        last_step = (first_step_dev + (since // PERIOD_US) * PERIOD_US) % WRAP
        if tick % 20 == 5:   # a reply arrives now and then: the clocks and the schedule it carries
            mid = host_us - ROUND_TRIP_US / 2
            aligner.observe(int((mid - ROUND_TRIP_US / 2) * 1e3), int((mid + ROUND_TRIP_US / 2) * 1e3),
                            device(mid), last_step, fresh=True)
        on_grid = host_us % PERIOD_US == 0
        next_grid_us = (host_us // PERIOD_US + (0 if on_grid else 1)) * PERIOD_US
        if aligner.due(host_us * 1000, on_grid, next_grid_us * 1000):
            sends.append((host_us, (last_step + PERIOD_US - dev_now) % WRAP))
    return aligner, sends[3:]        # after the first few replies


@pytest.mark.parametrize("clock_offset_us", [0, 7_345, WRAP - 3_000])
def test_frames_stay_on_the_control_grid_when_the_device_steps_a_margin_after_it(clock_offset_us):
    # What the held first frame gives: the device's steps fall a margin (and the uplink) after each tick.
    aligner, sends = _fly(clock_offset_us, first_step_us=LEAD_US + ROUND_TRIP_US // 2)
    assert aligner.active and aligner.margin_us == LEAD_US
    assert 90 <= len(sends) <= 99                          # one per 20 ms step
    assert all(host % PERIOD_US == 0 for host, _ in sends), sends[:5]
    assert all(lead >= LEAD_US for _, lead in sends)


@pytest.mark.parametrize("first_step_us", [200, 19_900])
def test_a_step_too_close_to_the_grid_gets_its_frame_early(first_step_us):
    aligner, sends = _fly(0, first_step_us=first_step_us)
    assert 90 <= len(sends) <= 99
    assert all(LEAD_US <= lead < LEAD_US + TICK_US for _, lead in sends), sends[:5]
    assert all(host % PERIOD_US != 0 for host, _ in sends)


def test_it_follows_a_drifting_device_clock():
    # QEMU's SysTick ran 0.2 % slow: 40 us a period, the steps walk across the grid. Every step
    # still gets one frame, never after the step and never less than half the margin before it.
    _, sends = _fly(5_000, first_step_us=LEAD_US, drift_ppm=-2_000.0, seconds=8.0)
    assert 390 <= len(sends) <= 398
    assert all(LEAD_US // 2 <= lead < PERIOD_US + TICK_US for _, lead in sends), [s for s in sends if s[1] < 1100][:5]


def test_nothing_is_due_before_the_first_reply():
    aligner = PhaseAligner(PERIOD_US, MARGIN_US, TICK_US)
    assert not aligner.active and not aligner.due(123_456_000, True, 123_456_000)
