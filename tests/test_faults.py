"""Fault schedules (plant/faults.py, hil/fault_injection.py): parsing and refusal, triggers,
one fault per channel, what each kind does, and faults seen in the outputs on every rig."""

import dataclasses
import json
import math
import pickle
import subprocess

import numpy as np
import pytest

from hil.api import land
from hil.run import NO_FILES, Outputs, Run
from plant import events
from plant.faults import FaultError, FaultSchedule, parse_fault, parse_faults
from plant.model import Plant
from plant.params import InitialConditions, PlantParams
from plant.scenario import ScenarioError, load_scenario
from plant.sensors import SensorFrame
from tests.conftest import HIL, ROOT, write_scenario

pytestmark = pytest.mark.timeout(120)


# -- parsing: bad input is one line naming the fault and the field ------------------------------

@pytest.mark.parametrize("table, complaint", [
    ({"kind": "radar.nope"}, "unknown fault kind 'radar.nope'"),
    ({}, "kind must be given"),
    ({"kind": "radar.bias", "alt": 3.0}, "radar.bias has no field 'alt'"),
    ({"kind": "engines.out", "count": 9}, "count = 9 is outside 1..7"),
    ({"kind": "engines.out", "count": 1.5}, "count must be a whole number"),
    ({"kind": "imu.scale", "factor": float("nan")}, "factor must be a finite number"),
    ({"kind": "radar.invalid", "at_s": 250.0}, "at_s 250 s can never fire: the run ends at 200 s"),
    ({"kind": "radar.invalid", "height_below_m": 0.0}, "height_below_m 0 can never fire"),
    ({"kind": "radar.invalid", "height_below_m": 10.0, "height_above_m": 20.0}, "can never hold together"),
    ({"kind": "radar.invalid", "at_s": 1.0, "state": "SKY_CRANE"}, "give at_s or conditions"),
    ({"kind": "radar.invalid", "state": "HOVER"}, "unknown controller state 'HOVER'"),
    ({"kind": "radar.invalid", "event": "landing"}, "unknown plant event 'landing'"),
    ({"kind": "radar.invalid", "combine": "some"}, "combine must be 'all' or 'any'"),
    ({"kind": "radar.invalid", "duration_s": 0.0}, "duration_s must be > 0"),
    ({"kind": "radar.invalid", "onset_per_s": -1.0}, "onset_per_s must be >= 0"),
    ({"kind": "radar.invalid", "told": "yes"}, "told must be true or false"),
    ({"kind": "bud.snag", "told": True}, "bud.snag cannot be told"),
    ({"kind": "link.cut", "told": True}, "link.cut cannot be told"),
    ({"kind": "link.drop", "rate": 1.5}, "rate = 1.5 is outside 0..1"),
    ({"kind": "device.reset", "duration_s": 1.0}, "device.reset takes down_s"),
    ({"kind": "device.slow", "step_delay_us": 2.5}, "step_delay_us must be a whole number"),
])
def test_a_bad_fault_is_refused_in_one_line(table, complaint):
    with pytest.raises(FaultError) as err:
        parse_fault(table, "f.toml: faults[0]", max_time_s=200.0)
    assert complaint in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("f.toml: faults[0]")


def test_two_faults_with_one_name_are_refused():
    with pytest.raises(FaultError, match="name 'dust' is used twice"):
        parse_faults([{"kind": "radar.invalid", "name": "dust"}, {"kind": "radar.stuck", "name": "dust"}], "x")


def test_a_scenario_carries_its_faults_and_refuses_bad_ones(tmp_path):
    good = write_scenario(tmp_path, "lost-engine", extra='[[faults]]\nkind = "engines.out"\ncount = 2\n'
                                                          'height_below_m = 100.0\nstate = "POWERED_DESCENT"\n')
    (fault,) = load_scenario(str(good)).faults
    assert fault.kind == "engines.out" and fault.param("count") == 2
    assert dict(fault.conditions) == {"height_below_m": 100.0, "state": ("POWERED_DESCENT",)}
    assert pickle.loads(pickle.dumps(fault)) == fault          # a Run with faults goes to campaign workers
    bad = write_scenario(tmp_path, "bad", extra='[[faults]]\nkind = "engines.out"\ncount = 8\n')
    with pytest.raises(ScenarioError, match=r"bad.toml: faults\[0\]: count = 8 is outside 1..7"):
        load_scenario(str(bad))


# -- triggers and channels ----------------------------------------------------------------------

def _schedule(*tables, seed=0):
    return FaultSchedule(parse_faults(list(tables), "test"), np.random.default_rng(seed))


def test_time_and_condition_triggers_with_all_and_any():
    s = _schedule({"kind": "radar.invalid", "name": "timed", "at_s": 1.0, "duration_s": 0.5},
                  {"kind": "imu.dropout", "name": "both", "height_below_m": 20.0, "state": "SKY_CRANE"},
                  {"kind": "engines.stuck", "name": "either", "combine": "any", "event": events.ROVER_CONTACT,
                   "after_s": 5.0})
    names = lambda changed: {fs.fault.name for fs in changed}
    assert names(s.update(0.98, 25.0, "POWERED_DESCENT", set())) == set()
    assert names(s.update(1.0, 25.0, "POWERED_DESCENT", set())) == {"timed"}
    assert names(s.update(1.2, 19.0, "CONSTANT_VELOCITY", set())) == set()     # height alone is not all
    assert names(s.update(1.5, 19.0, "SKY_CRANE", set())) == {"timed", "both"}  # timed ends, both starts
    assert names(s.update(2.0, 18.0, "SKY_CRANE", {events.ROVER_CONTACT})) == {"either"}
    assert [fs.active for fs in s.states] == [False, True, True]
    assert s.active_mask() == 0b110
    assert s.transitions[0] == (1.0, "timed", "start", "POWERED_DESCENT")


def test_a_fault_fires_once_and_one_fault_holds_a_channel():
    s = _schedule({"kind": "radar.invalid", "name": "first", "at_s": 1.0, "duration_s": 1.0},
                  {"kind": "radar.stuck", "name": "second", "at_s": 1.5})
    s.update(1.0, 50.0, "POWERED_DESCENT", set())
    s.update(1.5, 50.0, "POWERED_DESCENT", set())
    assert s.active("radar").fault.name == "first"                    # second waits for the channel
    s.update(2.0, 50.0, "POWERED_DESCENT", set())
    assert s.active("radar").fault.name == "second"
    first = s.states[0]
    assert (first.started_t, first.ended_t) == (1.0, 2.0)
    for t in (3.0, 4.0):
        s.update(t, 50.0, "POWERED_DESCENT", set())
    assert first.started_t == 1.0 and not first.active                # never again


def test_a_random_onset_comes_from_the_seed():
    def onset(seed):
        s = _schedule({"kind": "radar.invalid", "at_s": 0.0, "onset_per_s": 0.5}, seed=seed)
        t = 0.0
        while not s.states[0].active:
            t += 0.02
            s.update(t, 50.0, "POWERED_DESCENT", set())
        return t
    assert onset(1) == onset(1) and len({onset(seed) for seed in range(6)}) > 1
    mean = np.mean([onset(seed) for seed in range(200)])
    assert 1.4 < mean < 2.6                                           # 1 / (0.5 per second)


def test_link_and_device_faults_say_what_the_wire_does_each_cycle():
    s = _schedule({"kind": "link.cut", "name": "cut", "at_s": 1.0, "duration_s": 0.5},
                  {"kind": "device.reset", "name": "reset", "at_s": 2.0, "down_s": 0.3})
    seen = []
    for t in np.arange(0.0, 3.0, 0.1):
        s.update(round(t, 6), 50.0, "POWERED_DESCENT", set())
        seen.append((round(t, 6), s.outage()))
    assert [t for t, wire in seen if wire == "faulty"] == [1.0, 1.1, 1.2, 1.3, 1.4]
    assert [t for t, wire in seen if wire == "down"] == [2.0, 2.1, 2.2]     # down for down_s
    assert s.states[1].fault.duration_s == 0.3


# -- what the sensor faults do --------------------------------------------------------------------

FRAME = SensorFrame(t=1.0, radar_valid=True, radar_seq=7, altitude_m=30.0, vx_mps=0.1, vy_mps=0.0, vz_mps=-0.75,
                    imu_valid=True, imu_fx=0.0, imu_fy=0.0, imu_fz=3.711, bridle_length_m=0.0, separated=False,
                    cut=False)


def fresh(**changes) -> SensorFrame:
    """A new frame, as Plant.sense() gives one per call (corrupt() changes it in place)."""
    return dataclasses.replace(FRAME, **changes)


def _active(table, seed=0):
    s = _schedule({**table, "at_s": 0.0}, seed=seed)
    s.update(0.0, 50.0, "POWERED_DESCENT", set())
    return s


def test_radar_faults():
    assert not _active({"kind": "radar.invalid"}).corrupt(fresh()).radar_valid
    stuck = _active({"kind": "radar.stuck"})
    stuck.corrupt(fresh())
    later = stuck.corrupt(fresh(radar_seq=9, altitude_m=20.0, vz_mps=-2.0))
    assert (later.altitude_m, later.vz_mps, later.radar_seq) == (30.0, -0.75, 9)    # frozen, still "fresh"
    biased = _active({"kind": "radar.bias", "altitude_m": 2.0, "vz_mps": 0.5}).corrupt(fresh())
    assert (biased.altitude_m, biased.vz_mps) == (32.0, -0.25)
    glitchy = _active({"kind": "radar.glitch", "rate": 0.5, "size_mps": 3.0})
    errors = [glitchy.corrupt(fresh(radar_seq=i)).vz_mps + 0.75 for i in range(400)]
    assert set(np.round(errors, 9)) == {-3.0, 0.0, 3.0} and 0.4 < np.mean(np.abs(errors) > 0) < 0.6


def test_imu_faults():
    dropped = _active({"kind": "imu.dropout"}).corrupt(fresh())
    assert not dropped.imu_valid and math.isnan(dropped.imu_fz)
    assert _active({"kind": "imu.bias", "fz": 0.5}).corrupt(fresh()).imu_fz == pytest.approx(4.211)
    assert _active({"kind": "imu.scale", "factor": 1.1}).corrupt(fresh()).imu_fz == pytest.approx(4.0821)


def test_a_told_fault_sets_the_health_flags_and_an_untold_one_does_not():
    def health(table):
        frame = _active(table).corrupt(fresh())
        return getattr(frame, "health", 0), getattr(frame, "thrust_avail", 1.0)
    assert health({"kind": "radar.stuck"}) == (0, 1.0)                       # must be detected
    assert health({"kind": "radar.stuck", "told": True}) == (1, 1.0)         # RADAR_FAILED
    assert health({"kind": "imu.bias", "fz": 0.5, "told": True}) == (2, 1.0)  # IMU_FAILED
    assert health({"kind": "engines.out", "count": 2, "told": True}) == (4, 0.75)   # 6 of 8 engines
    assert health({"kind": "engines.thrust_scale", "scale": 0.85, "told": True}) == (4, 0.85)
    assert health({"kind": "engines.slow", "told": True}) == (4, 1.0)
    assert not _active({"kind": "engines.out"}).sensors_faulty()              # untold: the frame is as sensed


# -- what the plant faults do -----------------------------------------------------------------------

def _plant():
    return Plant(PlantParams(), InitialConditions(altitude_m=100.0, vz_mps=-5.0, throttle=0.5), np.random.default_rng(1))


def test_engines_out_and_thrust_scale_cut_the_thrust_and_restore_it():
    plant = _plant()
    plant.advance(1.0)
    full = plant.truth().thrust_n
    plant.retune(thrust_scale=6 / 8)
    plant.advance(0.01)
    assert plant.truth().thrust_n == pytest.approx(full * 6 / 8, rel=1e-3)
    plant.retune()
    plant.advance(0.01)
    assert plant.truth().thrust_n == pytest.approx(full, rel=1e-3)


def test_a_stuck_throttle_ignores_commands_and_a_slow_engine_lags():
    plant = _plant()
    plant.hold_throttle(True)
    plant.apply(0.9, 0.0, 0.0, False, False)
    plant.advance(1.0)
    assert plant.truth().throttle_actual == pytest.approx(0.5, abs=1e-6)
    plant.hold_throttle(False)
    slow = _plant()
    slow.retune(engine_lag_scale=10.0)
    for p in (plant, slow):
        p.apply(0.9, 0.0, 0.0, False, False)
        p.advance(0.2)
    assert plant.truth().throttle_actual > 0.85 > slow.truth().throttle_actual > 0.55


def test_bridle_faults_and_a_failed_cut():
    snagged, runaway, normal = _plant(), _plant(), _plant()
    snagged.retune(bridle_stop_m=4.0)
    runaway.retune(payout_scale=3.0)
    for p in (snagged, runaway, normal):
        p.apply(0.45, 0.0, 0.0, True, False)                      # separate: the BUD pays out
    for p in (snagged, runaway, normal):
        p.advance(2.0)
    assert runaway.truth().bridle_length_m > 2.0 * normal.truth().bridle_length_m
    snagged.advance(6.0)
    assert snagged.truth().bridle_length_m == pytest.approx(4.0)        # 0.75 m/s would be 6 m by now
    normal.fail_cut(True)
    normal.advance(8.0)
    normal.apply(0.45, 0.0, 0.0, True, True)
    assert not normal.truth().cut and normal.event_time(events.BRIDLE_CUT) is None


# -- in flight, on every rig ------------------------------------------------------------------------

RADAR_OUT = {"kind": "radar.invalid", "name": "radar out", "height_below_m": 20.0, "duration_s": 2.0}


def test_no_fault_leaves_the_landing_as_it_was_and_a_fault_is_in_every_output(tmp_path):
    clean = land("nominal", rig="mil", outputs=NO_FILES)
    same = land("nominal", rig="mil", outputs=NO_FILES, faults=[])
    assert np.array_equal(clean.record["truth_rover_vz"], same.record["truth_rover_vz"])
    faulty = land("nominal", rig="mil", out=tmp_path / "run", faults=[RADAR_OUT])
    (f,) = faulty.faults
    assert f["applied"] and f["ended_t"] == pytest.approx(f["started_t"] + 2.0, abs=0.021)
    active = faulty.record["truth_faults_active"] > 0
    t = faulty.record["truth_t"]
    assert t[active][0] == pytest.approx(f["started_t"], abs=0.021) and active.sum() == 100
    assert not faulty.record["sensor_radar_valid"][active].any()
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["faults"] == faulty.faults
    assert "truth_faults_active" in (tmp_path / "run/telemetry.csv").read_text().splitlines()[0]
    page = (tmp_path / "run/report.html").read_text()
    assert "<h2>Faults</h2>" in page and "radar out" in page and "fault active" in page   # table and plot legend
    assert (tmp_path / "run/landing.png").stat().st_size > 0                              # shaded there too


@pytest.mark.parametrize("rig", ["loopback", "rigs/sil.toml"])
def test_a_fault_schedule_flies_on_a_rig_with_a_wire(rig, tmp_path):
    """The plant-side faults need nothing of the device: the pty loopback and the C SIL alike."""
    from tests.conftest import ROOT
    result = land("terminal-descent", rig=rig if rig == "loopback" else str(ROOT / rig), outputs=NO_FILES,
                  faults=[{**RADAR_OUT, "height_below_m": 15.0}, {"kind": "engines.thrust_scale", "scale": 0.9,
                                                                    "event": "rover_separation"}])
    assert result.verdict == "PASS", result.describe()
    assert [f["applied"] for f in result.faults] == [True, True]


def test_a_failed_cut_pyro_fails_the_landing():
    """The verdict catches what the fault does: no cut, no flyaway."""
    result = land("terminal-descent", rig="mil", outputs=NO_FILES,
                  faults=[{"kind": "cut.pyro_fails", "event": "rover_separation"}])
    assert result.verdict == "FAIL"
    assert "flyaway_distance_m" in {r["metric"] for r in result.failed_criteria()}


def test_run_and_cli_take_a_faults_file_and_one_offs(tmp_path):
    path = tmp_path / "faults.toml"
    path.write_text('[[faults]]\nkind = "imu.bias"\nfz = 0.2\nevent = "rover_separation"\n')
    run = Run.create("nominal", faults=path)
    assert [f.kind for f in run.faults] == ["imu.bias"]
    done = subprocess.run([*HIL, "land", "--rig", "mil", "--quiet", "--out", str(tmp_path / "cli"), "--faults",
                           str(path), "--fault", "radar.invalid height_below_m=20 duration_s=2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "fault imu.bias: started" in done.stdout and "fault radar.invalid: started" in done.stdout
    bad = subprocess.run([*HIL, "land", "--rig", "mil", "--quiet", "--out", str(tmp_path / "bad"), "--fault",
                          "engines.out count=9"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip() == "hil: error: --fault: faults[0]: count = 9 is outside 1..7"
    assert not (tmp_path / "bad").exists()


# -- expectations: the LINK_LOST safe state -------------------------------------------------------

@pytest.mark.realtime
@pytest.mark.timeout(120)
@pytest.mark.parametrize("watchdog_s, entered", [(0.25, True), (0.8, True), (0.0, False)])
def test_the_safe_state_expectation_passes_a_watchdog_in_time_and_fails_a_late_or_missing_one(watchdog_s, entered):
    """fault-link-lost cuts the line for 1 s in real time; the device must enter LINK_LOST within
    0.5 s and stay there. A watchdog of 0.8 s enters too late, none (0) never: both FAIL."""
    result = land("fault-link-lost", rig="loopback", outputs=NO_FILES, controller={"watchdog_s": watchdog_s})
    if result.verdict == "INCONCLUSIVE":
        pytest.skip(f"the machine made the run an invalid test: {result.invalid}")
    after = result.metrics["link_lost_after_s"]
    assert result.error is None
    if not entered:
        assert math.isnan(after) and result.verdict == "FAIL"
    elif watchdog_s < 0.5:
        # the last frame the device had was sampled a control period (20 ms) before the onset
        assert watchdog_s - 0.035 <= after <= watchdog_s + 0.05 and result.verdict == "PASS", after
    else:
        assert after > 0.5 and result.verdict == "FAIL", after
    assert result.metrics["link_lost_left"] is False
    assert result.faults[0]["applied"] and result.faults[0]["rig"]["rule"] == "both:drop:every"


# -- link and device faults on a rig --------------------------------------------------------------

@pytest.mark.parametrize("rig, fault, complaint", [
    ("mil", "link.cut at_s=5 duration_s=1", "rig mil cannot apply fault 'link.cut' (link.cut): the in-process "
                                            "MIL rig has no wire"),
    ("mil", "device.reset at_s=5", "rig mil cannot apply fault 'device.reset' (device.reset): the in-process"),
    ("rigs/emu-stm32.toml", "device.slow at_s=5", "cannot apply fault 'device.slow' (device.slow): its device's "
                                                  "control step cannot be slowed"),
    ("rigs/sil-realtime.toml", "device.reset at_s=5", "a reset mid-flight runs in lockstep only for now"),
])
def test_a_fault_the_rig_cannot_apply_is_refused_before_the_run(tmp_path, rig, fault, complaint):
    done = subprocess.run([*HIL, "land", "--rig", rig, "--quiet", "--out", str(tmp_path / "run"), "--fault", fault],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2 and complaint in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "run").exists()


def test_a_line_cut_loses_cycles_on_the_wire_and_the_plant_flies_on(tmp_path):
    """fault-link-cut on the pty loopback: the proxy drops every frame for 1 s (50 cycles), the
    host counts them as lost, not as link failures, and the landing is the catalogue's PASS."""
    result = land("fault-link-cut", rig="loopback", out=tmp_path / "run")
    assert result.verdict == "PASS" and result.metrics["fault_lost_cycles"] == 50
    assert result.summary["link"]["failures"] == 0
    proxy = result.summary["link"]["proxy"]
    assert proxy["request"]["dropped"] == 50 and proxy["rules"][-1] == {"rule": "both:drop:every", "hits": 50,
                                                                       "scheduled": True}
    columns = result.record.columns() if result.record else None
    frames = np.asarray(columns["cmd_frame"]) if columns else None
    if frames is not None:
        assert np.max(np.diff(frames)) == 51          # the device's first frame after the cut skips 50
        assert np.sum(columns["link_misses"]) == 50   # each lost cycle recorded as a miss, no other


def test_a_board_reset_restarts_the_sil_mid_flight_and_it_resumes(tmp_path):
    """fault-board-reset on the SIL: the process is restarted behind the link proxy, the host sends
    nothing for down_s, then the cold-booted firmware counts its steps from 1 again and lands."""
    result = land("fault-board-reset", rig=ROOT / "rigs" / "sil.toml", out=tmp_path / "run")
    assert result.verdict == "PASS", result.failed_criteria()
    (fault,) = result.faults
    assert fault["rig"]["method"] == "process restart" and fault["ended_t"] - fault["started_t"] == pytest.approx(0.5)
    assert result.metrics["fault_lost_cycles"] == 25
    steps = np.asarray(result.record.columns()["cmd_step_count"])
    restarted = np.flatnonzero(np.diff(steps) < 0)
    assert len(restarted) == 1 and steps[restarted[0] + 1] == 1


@pytest.mark.realtime
@pytest.mark.timeout(180)
def test_a_slowed_device_step_fails_the_timing_criteria_in_real_time(tmp_path):
    """device.slow on the loopback device in real time: from 1 s on, every control step takes at
    least 15 ms, beyond the 10 ms step criterion, so the controller FAILs on its own step time (a
    device too slow for its control rate is the unit's fault). The step is back to speed after."""
    scenario = write_scenario(tmp_path, "low", extra="max_time_s = 4\n[initial]\naltitude_m = 60.0\nvz_mps = -5.0\n"
                                                     "throttle = 0.35\n")
    # A few late physics ticks of a loaded VM would make the run an invalid test; they say nothing
    # about a 15 ms step, so this run allows them.
    lenient = tmp_path / "criteria.toml"
    lenient.write_text("[overruns]\nmax = 100\n[lateness_p99_ms]\nmax = 5.0\n")
    result = land(str(scenario), rig="loopback", timing="realtime", outputs=NO_FILES, criteria=lenient,
                  faults=[{"kind": "device.slow", "step_delay_us": 15000, "at_s": 1.0, "duration_s": 2.0}])
    if result.verdict == "INCONCLUSIVE":
        pytest.skip(f"the machine made the run an invalid test: {result.invalid}")
    failed = {row["metric"] for row in result.failed_criteria()}
    assert result.verdict == "FAIL" and "device_step_p99_ms" in failed, failed
    assert result.faults[0]["rig"]["method"] and result.metrics["device_step_p99_ms"] >= 15.0


def test_on_a_lossy_line_only_the_lost_cycles_are_recorded_as_misses():
    """fault-link-lossy drops 30 % of the frames each way for 6 s: a cycle whose exchange went
    through is not a miss, so the record's misses are exactly the cycles the fault lost."""
    result = land("fault-link-lossy", rig="loopback", outputs=Outputs(record=True, folder=None, telemetry=False,
                                                                        plots=False, report=False, summary=False))
    lost = result.metrics["fault_lost_cycles"]
    assert result.verdict == "PASS" and 0 < lost < 300                # 6 s at 50 Hz, some got through
    assert np.sum(result.record.columns()["link_misses"]) == lost
