"""Real-time landings end to end: loopback, SIL and emulated STM32 pass with timing figures; a slow
device fails a timing criterion; a lost link and a tripped device watchdog end the run cleanly.

Each landing flies a short scenario (40 m, 3 m/s down: separation, touchdown, flyaway) in real
time, about 43 s of wall clock.

The landings are judged with the default criteria except that up to REALTIME_MAX_OVERRUNS
overruns (1 % of the physics steps) are tolerated: CI runs in a shared virtual machine whose CPUs stall for a few
milliseconds now and then (on the dev VM the bare pacing loop, with no plant and no device, saw 0
to 20 overruns a minute, depending on the neighbours). Those stalls are not what these tests are
about; `hil bench --realtime` measures them against that baseline, and tests/test_realtime.py shows
that overruns are counted, attributed and judged. A run whose machine stalled beyond that budget
is INCONCLUSIVE (the controller is not judged on it): such a test checks what the run still
shows about the controller, then skips with the reason.
"""

import json
import shutil
import time
from dataclasses import replace

import numpy as np
import pytest

from hil import icd
from hil.api import land
from hil.cli import main
from hil.devices.loopback import LoopbackDevice
from hil.errors import LinkLost
from hil.executive import RealtimeExecutive
from hil.handshake import configure
from hil.link.rtu_client import RtuClient
from hil.pacing import OverrunPolicy, Pacer
from hil.rig import Rig, load_rig
from hil.timing import TimingRecorder
from plant.model import Plant
from tests.conftest import REALTIME_MAX_OVERRUNS, ROOT

pytestmark = [pytest.mark.timeout(240), pytest.mark.realtime]
HAVE_SIL = shutil.which("make") is not None and shutil.which("gcc") is not None
HAVE_STM32 = all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm", "make"))
needs_sil = pytest.mark.skipif(not HAVE_SIL, reason="needs make and gcc")
SIL = ROOT / "rigs/sil.toml"


def _assert_real_time_pass(result, max_drift_ppm=1000.0):
    """The controller passes; the timing figures are there and sane. A machine that stalled more
    than the CI budget makes the run INCONCLUSIVE: the test then could not be done, and skips."""
    _skip_if_the_machine_stalled(result)
    assert result.error is None, result.error
    assert all(r["passed"] for r in result.checks if r["applies"] and r["judges"] == "controller"), result.checks
    timing = result.summary["timing"]
    assert timing["mode"] == "realtime"
    assert timing["overruns"] == timing["overruns_machine"] + timing["overruns_testbed"]
    assert timing["commands_applied"] > 1500
    assert 20.0 <= timing["command_age_ms"]["p50"] <= 45.0  # one to two 50 Hz periods plus the link
    assert timing["device_step_time_us"]["max"] > 0
    assert abs(timing["device_clock"]["drift_ppm"]) < max_drift_ppm
    judged = {r["metric"]: r for r in result.checks}
    assert judged["command_age_p99_ms"]["applies"] and judged["command_age_p99_ms"]["passed"]
    assert (result.out_dir / "timing.png").stat().st_size > 10_000
    assert (result.out_dir / "timing.csv").read_text().count("\n") == timing["commands_applied"] + 1
    # Wall clock and plant time agree: it was real time, not as fast as possible.
    assert result.summary["wall_time_s"] >= result.summary["sim_time_s"]
    assert result.verdict == "PASS"
    return timing


def _skip_if_the_machine_stalled(result) -> None:
    """A run this machine's stalls made INCONCLUSIVE says nothing about the controller."""
    if result.verdict == "INCONCLUSIVE":
        # A host stalled so long that no frame reached the device within its watchdog is the
        # machine's doing too (seen on the emulated STM32 in CI with the machine loaded).
        assert result.invalid.startswith("the rig could not hold real time") or \
            "made the commands late" in result.invalid or "watchdog tripped" in result.invalid, result.invalid
        pytest.skip(f"this machine did not hold real time: {result.invalid}")


def test_loopback_lands_in_real_time(short_landing, realtime_criteria, tmp_path):
    result = land(short_landing, rig=replace(Rig(), timing="realtime"), out=tmp_path / "run", criteria=realtime_criteria)
    _assert_real_time_pass(result)


@needs_sil
def test_sil_real_time_against_lockstep_via_compare(short_landing, realtime_criteria, tmp_path, capsys):
    scenario_file = tmp_path / "short.toml"
    # Real time applies each command one control period (plus the link) after its frame was
    # sampled, lockstep at once: on this scenario that latency moves the rover's touchdown
    # velocity by about +0.024 m/s, the same every run now that frames stay on the control grid.
    code = main(["compare", "--rig", str(SIL), "--rig", str(SIL), "--timing", "lockstep", "--timing", "realtime",
                 "--scenario", str(scenario_file), "--criteria", realtime_criteria, "--out", str(tmp_path / "cmp"),
                 "--velocity-tol", "0.05"])
    captured = capsys.readouterr()
    out = captured.out
    if code == 3:
        pytest.skip(f"this machine did not hold real time: {captured.err.strip().splitlines()[-1]}")
    assert code == 0, out
    report = json.loads((tmp_path / "cmp/compare.json").read_text())
    assert report["timing"] == {"a": "lockstep", "b": "realtime"}
    assert set(report["checks"]) == {"touchdown_velocity"}
    moved = report["touchdown"]["rover_vz_at_contact_mps"]["diff"]
    assert moved is not None and abs(moved) <= 0.05
    summary = json.loads((tmp_path / "cmp/b-sil/summary.json").read_text())
    assert summary["verdict"] == "PASS" and summary["timing"]["overruns"] <= REALTIME_MAX_OVERRUNS
    # Both clocks are CLOCK_MONOTONIC: the fitted offset is within the link's half round trip.
    assert abs(summary["timing"]["device_clock"]["offset_us"]) < 2000
    assert "judged on touchdown velocity only" in out


@pytest.mark.skipif(not HAVE_STM32, reason="needs gcc-arm-none-eabi, qemu-system-arm")
def test_emulated_stm32_lands_in_real_time(short_landing, realtime_criteria, tmp_path):
    rig = replace(load_rig(ROOT / "rigs/emu-stm32.toml"), timing="realtime")
    # QEMU's SysTick runs slow against the host clock when QEMU is held up (measured -0.2 % in
    # CI, down to -2.5 % under load): the clock fit is what shows it, so it is bounded loosely.
    result = land(short_landing, rig=rig, out=tmp_path / "run", criteria=realtime_criteria)
    timing = _assert_real_time_pass(result, max_drift_ppm=50_000.0)
    assert timing["link_round_trip_us"]["p50"] > 500  # QEMU's USART: ~25 us a byte


@needs_sil
def test_a_slow_device_fails_a_timing_criterion(short_landing, realtime_criteria, tmp_path):
    rig = replace(load_rig(SIL), timing="realtime",
                  command=("{firmware}/build/host/skycrane-sil", "--step-delay-us", "30000"))
    result = land(short_landing, rig=rig, out=tmp_path / "run", criteria=realtime_criteria)
    assert result.error is None
    _skip_if_the_machine_stalled(result)
    failed = {r["metric"] for r in result.checks if r["passed"] is False and r["judges"] == "controller"}
    assert failed == {"device_step_p99_ms", "command_age_p99_ms"}  # it still lands: only timing fails
    assert result.summary["timing"]["late_replies"] > 100
    assert result.summary["timing"]["device_step_time_us"]["p50"] >= 30000
    assert result.verdict == "FAIL"


@needs_sil
def test_a_lost_link_names_time_and_phase_and_keeps_telemetry(short_landing, tmp_path):
    rig = replace(load_rig(SIL), timing="realtime",
                  command=("timeout", "-s", "KILL", "3", "{firmware}/build/host/skycrane-sil"))
    result = land(short_landing, rig=rig, out=tmp_path / "run")
    assert result.error is not None and "link lost at t=" in result.error
    lost = result.summary["link_lost"]
    assert lost["phase"] in ("POWERED_DESCENT", "CONSTANT_VELOCITY") and 1.0 < lost["t"] < 4.0
    assert result.summary["verdict"] == "ERROR"
    rows = (tmp_path / "run/telemetry.csv").read_text().count("\n") - 1
    assert rows > 50 and result.summary["cycles"] == rows


def test_a_tripped_device_watchdog_stops_the_run(short_landing):
    """A device whose watchdog has tripped (frames stopped for longer than watchdog_s) answers
    LINK_LOST; the executive ends the run on the first such reply, naming time and phase."""
    device = LoopbackDevice()
    config = {**icd.config_defaults(), "timing_mode": int(icd.TimingMode.REALTIME), "watchdog_s": 0.1}
    try:
        with RtuClient(device.start(), timeout_s=0.5) as link:
            configure(link, config)
            link.read_write(icd.SENSORS.base, icd.SENSORS.encode([1, 0, 0, 40.0, 0.0, 0.0, -3.0, 0.0, 0.0, 3.7,
                                                                  0.0, 9, 0, 1.0]),
                            icd.COMMANDS.base, icd.COMMANDS.length)
            time.sleep(0.3)  # no frames: the device's watchdog trips
            plant = Plant(short_landing.params, short_landing.initial, np.random.default_rng(1))
            executive = RealtimeExecutive(plant, link, 50.0, [], Pacer(OverrunPolicy()), TimingRecorder())
            with pytest.raises(LinkLost, match=r"link lost at t=0\.0\d\d s in STANDBY .*watchdog"):
                executive.run(10.0)
    finally:
        device.stop()
