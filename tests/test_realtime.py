"""Real-time building blocks: pacing and the overrun policy, scheduling, the split FC23, timing figures, criteria."""

import io
import os
import time

import pytest

from hil import icd
from hil.cli import LiveLine
from hil.errors import ConfigError, LinkTimeout
from hil.link.rtu_client import RtuClient
from hil.pacing import OverrunAbort, OverrunPolicy, Pacer, Scheduling
from hil.rig import load_rig
from hil.timing import CommandTiming, attribution, clock_fit, stats
from hil.verdict import invalid_reason, judge, load_criteria
from tests.conftest import write_rig

pytestmark = [pytest.mark.timeout(30), pytest.mark.realtime]


def _pace(pacer, steps, dt, stall_at=None, stall_s=0.0):
    pacer.start()
    for i in range(1, steps + 1):
        pacer.wait(i * dt)
        if i == stall_at:
            time.sleep(stall_s)


def test_pacer_holds_the_wall_clock_and_measures_lateness():
    pacer = Pacer(OverrunPolicy(grace_s=0.0))
    started = time.monotonic()
    _pace(pacer, 200, 0.001)
    assert time.monotonic() - started == pytest.approx(0.2, abs=0.02)
    assert len(pacer.lateness_us) == 200
    assert stats(pacer.lateness_us)["p50"] < 200  # spun to the deadline, not slept past it


def test_a_stalled_step_is_an_overrun_and_warned_once():
    warnings = []
    pacer = Pacer(OverrunPolicy(overrun_ms=1.0, grace_s=0.0), warn=warnings.append)
    _pace(pacer, 100, 0.001, stall_at=50, stall_s=0.005)
    assert pacer.overruns >= 1
    assert pacer.largest_overrun_us > 3000
    assert pacer.first_overrun_t == pytest.approx(0.051, abs=0.002)
    assert len(warnings) == 1 and "overrun at t=0.051" in warnings[0]


@pytest.mark.parametrize("grace_s", [0.0, 0.08])
def test_grace_period_forgives_start_up(grace_s):
    """A 40 ms stall at t=0.02 s: an overrun without a grace, forgiven inside one. The 25 ms
    threshold keeps a loaded machine's own stalls after the grace from counting."""
    pacer = Pacer(OverrunPolicy(overrun_ms=25.0, grace_s=grace_s))
    _pace(pacer, 150, 0.001, stall_at=20, stall_s=0.040)
    if grace_s:
        assert pacer.overruns == 0
        assert len(pacer.lateness_us) == 71  # steps at t >= 0.08 s are judged
    else:
        assert pacer.overruns >= 1


def test_abort_after_n_overruns():
    pacer = Pacer(OverrunPolicy(overrun_ms=0.5, action="abort", abort_after=1, grace_s=0.0))
    with pytest.raises(OverrunAbort, match="aborted after 1 overruns"):
        _pace(pacer, 100, 0.001, stall_at=10, stall_s=0.004)


def test_abort_on_lateness():
    pacer = Pacer(OverrunPolicy(overrun_ms=0.5, action="abort", abort_lateness_ms=3.0, grace_s=0.0))
    with pytest.raises(OverrunAbort, match="ms late"):
        _pace(pacer, 100, 0.001, stall_at=10, stall_s=0.006)


def test_warn_policy_does_not_abort():
    pacer = Pacer(OverrunPolicy(overrun_ms=0.5, action="warn", abort_after=1, grace_s=0.0))
    _pace(pacer, 50, 0.001, stall_at=10, stall_s=0.004)
    assert pacer.overruns >= 1


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux scheduling calls")
def test_scheduling_is_undone_on_exit():
    before = (os.sched_getaffinity(0), os.sched_getscheduler(0))
    warnings = []
    with Scheduling(10, -1, warn=warnings.append) as sched:
        during = os.sched_getaffinity(0)
        assert ("SCHED_FIFO" in sched.description) != bool(warnings)  # granted, or said so once
        if "pinned" in sched.description:
            assert len(during) == 1
    assert (os.sched_getaffinity(0), os.sched_getscheduler(0)) == before
    with Scheduling(0, -1) as sched:
        assert sched.description.startswith("normal scheduling")


def test_split_fc23_polls_without_blocking(served_controller):
    path, registers, _ = served_controller
    with RtuClient(path, timeout_s=0.5) as link:
        frame = icd.SENSORS.encode([1, 0, 0, 100.0, 0.0, 0.0, -1.0, 0.0, 0.0, 3.7, 0.0, 9, 0, 1.0])
        pending = link.send_read_write(icd.SENSORS.base, frame, icd.COMMANDS.base, icd.COMMANDS.length, frame=1)
        first = link.poll_reply(pending)  # returns at once, usually before the reply is here
        regs = first if first is not None else link.wait_reply(pending)
        assert icd.COMMANDS.decode_record(regs).frame == 1
        assert pending.sent_ns > 0


def test_split_fc23_times_out_on_a_silent_device(served_controller):
    path, _, server = served_controller
    server.stop()
    with RtuClient(path, timeout_s=0.1) as link:
        frame = icd.SENSORS.encode([1, 0, 0, 100.0, 0.0, 0.0, -1.0, 0.0, 0.0, 3.7, 0.0, 9, 0, 1.0])
        pending = link.send_read_write(icd.SENSORS.base, frame, icd.COMMANDS.base, icd.COMMANDS.length, frame=7)
        assert link.poll_reply(pending) is None
        with pytest.raises(LinkTimeout, match=r"0 of \d+ bytes within 0.1 s.*frame 7"):
            link.wait_reply(pending)
        time.sleep(0.12)
        with pytest.raises(LinkTimeout):
            link.poll_reply(pending)


def _row(i, host_us, device_us, fresh=True):
    return CommandTiming(i, int(host_us * 1e3), int((host_us + 400) * 1e3), i * 0.02 + 0.021, i, i * 0.02,
                         int(host_us * 1e3), i, fresh, int(device_us) % 2**32, int(device_us + 300) % 2**32,
                         80, int(device_us + 800) % 2**32)


def test_clock_fit_recovers_offset_and_drift_across_a_wrap():
    drift = 50e-6
    rows = [_row(i, 1e6 + i * 20000.0, 2**32 - 500000 + (i * 20000.0 + 200) * (1 + drift) - 800)
            for i in range(200)]
    fit = clock_fit(rows)
    assert fit["drift_ppm"] == pytest.approx(50.0, abs=0.5)
    assert fit["residual_p99_us"] < 2.0
    assert clock_fit(rows[:2]) == {}


def _exchange(k):
    """Exchange k at k * 20 ms: frame k out, back (0.4 ms later) the step that used frame k - 1,
    which arrived 0.2 ms after its send, waited 0.3 ms for the device timer and took 80 us; the
    block was read 0.2 ms into exchange k; the reply took effect at the next 1 ms physics tick.
    Device clock = host clock, in us."""
    ms = 1_000_000
    used_rx = (k - 1) * 20_000 + 200
    return CommandTiming(k, k * 20 * ms, k * 20 * ms + 400_000, k * 0.02 + 0.001, k - 1, (k - 1) * 0.02,
                         (k - 1) * 20 * ms, k - 1, True, used_rx, used_rx + 300, 80, k * 20_000 + 200)


def test_attribution_splits_the_age():
    parts = attribution([_exchange(k) for k in range(2, 50)], 0)["median_ms"]
    assert parts["age"] == pytest.approx(21.0)
    assert parts["host_sample_to_send"] == pytest.approx(0.0)
    assert parts["device_timer_wait"] == pytest.approx(0.3)
    assert parts["device_step"] == pytest.approx(0.08)
    assert parts["device_hold_until_read"] == pytest.approx(19.62)
    assert parts["link_round_trip"] == pytest.approx(0.4)
    assert parts["host_reply_to_apply"] == pytest.approx(0.6)
    assert parts["other"] == pytest.approx(0.0, abs=1e-9)


def test_timing_criteria_do_not_apply_to_lockstep_but_judge_real_time():
    criteria = load_criteria()
    landing = {"rover_vz_at_contact_mps": 0.7, "rover_vh_at_contact_mps": 0.0, "td_latency_s": 1.0,
               "cut_before_contact": False, "min_clearance_m": 6.0, "flyaway_distance_m": 300.0}
    passed, rows = judge(landing, criteria)
    assert passed
    assert {r["metric"] for r in rows if not r["applies"]} == {"overruns", "lateness_p99_ms",
                                                                "command_age_p99_ms", "device_step_p99_ms"}
    timing = {"overruns": 0, "lateness_p99_ms": 0.1, "command_age_p99_ms": 30.0, "device_step_p99_ms": 0.2,
              "link_round_trip_p99_ms": 0.5}
    assert judge({**landing, **timing}, criteria)[0]
    assert invalid_reason(judge({**landing, **timing}, criteria)[1], timing) is None
    # Overruns are the rig's and the machine's: over budget, the run is not a valid test (INCONCLUSIVE),
    # and the controller is not failed for it.
    stalled = {**landing, **timing, "overruns": 2, "overruns_machine": 2, "overruns_testbed": 0}
    passed, rows = judge(stalled, criteria)
    assert passed and [r["metric"] for r in rows if r["passed"] is False] == ["overruns"]
    reason = invalid_reason(rows, stalled)
    assert reason.startswith("the rig could not hold real time: physics overruns 2 outside <= 0")
    assert "2 late wake-ups of this machine, 0 ticks whose own work ran past the deadline" in reason
    # Command age over its limit fails the controller when the device's own part (its timer's wait
    # and its step) is what made it old...
    slow = {**landing, **timing, "command_age_p99_ms": 95.0, "command_age_device_p99_ms": 70.0}
    passed, rows = judge(slow, criteria)
    assert not passed and [r["metric"] for r in rows if r["passed"] is False] == ["command_age_p99_ms"]
    assert invalid_reason(rows, slow) is None
    # ... or when the device's step time fails too (a slow controller: the rest follows from it) ...
    slow_step = {**slow, "device_step_p99_ms": 30.0, "command_age_device_p99_ms": 40.0}
    passed, rows = judge(slow_step, criteria)
    assert not passed and invalid_reason(rows, slow_step) is None
    # ... but when the device answered in time and the host, the machine or the link delayed the
    # commands, the run did not test the controller (seen: an emulated Uno on a loaded machine).
    host_late = {**slow, "command_age_device_p99_ms": 22.0}
    passed, rows = judge(host_late, criteria)
    assert not passed
    reason = invalid_reason(rows, host_late)
    assert reason.startswith("command age p99 95.000 ms outside <= 60, but the device's own part") and "22.000 ms" in reason


@pytest.mark.parametrize("body, complaint", [
    ('timing = "fast"', "timing 'fast' is not one of lockstep, realtime"),
    ('on_overrun = "panic"', "on_overrun 'panic' is not one of warn, abort"),
    ("physics_rate_hz = 100.0", "physics_rate_hz must be 0 (the scenario's) or 500..20000"),
    ("rt_priority = 120", "rt_priority must be 0..99"),
    ("pin_cpu = -3", "pin_cpu must be a CPU number or -1"),
    ("grace_s = -1.0", "grace_s must not be negative"),
    ("overrun_ms = 0.0", "overrun_ms must be positive"),
    ('abort_after_overruns = "3"', "abort_after_overruns must be a number (whole)"),
])
def test_real_time_rig_fields_are_checked(tmp_path, body, complaint):
    path = write_rig(tmp_path, f'kind = "loopback"\n{body}\n')
    with pytest.raises(ConfigError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        load_rig(path)


def test_real_time_rig_loads(tmp_path):
    rig = load_rig(write_rig(tmp_path, 'kind = "loopback"\ntiming = "realtime"\nphysics_rate_hz = 1000.0\n'
                                       'on_overrun = "abort"\nabort_after_overruns = 3\n'))
    assert (rig.timing, rig.physics_rate_hz, rig.on_overrun, rig.abort_after_overruns) == \
        ("realtime", 1000.0, "abort", 3)


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_live_view_shows_state_altitude_velocity_throttle_and_overruns(capsys):
    stream = _Tty()
    live = LiveLine(stream=stream, interval_s=0.0)
    truth = type("T", (), {"t": 12.5, "ds_z": 1234.5, "ds_vz": -42.25, "rover_z": 1230.0})()
    command = icd.COMMANDS.decode_record(icd.COMMANDS.encode(
        [10, int(icd.ControllerState.POWERED_DESCENT), 0.61, 0.0, 0.0, 0, icd.TD_NOT_DECLARED, 0, 0, 90, 10, 0, 0, 0]))
    live.cycle(truth, command, overruns=3)
    line = stream.getvalue()
    for text in ("t=  12.50 s", "POWERED_DESCENT", "alt   1234.5 m", "vz  -42.25 m/s", "throttle 0.61",
                 "overruns 3"):
        assert text in line
    live.warn("overrun at t=1.0 s")
    assert "warning: overrun at t=1.0 s" in stream.getvalue()
    assert "POWERED_DESCENT" in capsys.readouterr().out  # the state change is logged as a line


def test_an_overrun_names_its_cause():
    pacer = Pacer(OverrunPolicy(overrun_ms=1.0, grace_s=0.0))
    pacer.start()
    pacer.wait(0.001)
    pacer.note_work("send a frame + physics", 4_000_000, 1_000_000)  # our own work ran long
    time.sleep(0.004)
    pacer.wait(0.002)
    pacer.note_work("physics", 20_000, 1_000_000)                    # short work, yet late:
    time.sleep(0.004)                                                # (a stall outside the loop's work)
    pacer.wait(0.006)
    causes = [e["cause"] for e in pacer.overrun_events]
    assert causes == ["the loop: send a frame + physics took 4.00 ms", "late wake-up (OS scheduling)"]
    assert pacer.overrun_events[0]["late_us"] > 3000


def test_a_timing_histogram_of_nearly_equal_values_is_drawn(tmp_path):
    """A run stopped after a few cycles can have command ages equal to the last float bit, which
    numpy cannot split into 60 bins (seen: a Ctrl-C'd real-time landing lost its plots)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hil.plots import _bins
    values = [22.0] * 14 + [22.000000000000004]
    assert _bins(values) == 1 and _bins([1.0, 2.0]) == 60
    fig, ax = plt.subplots()
    ax.hist(values, bins=_bins(values), log=True)
    plt.close(fig)
