"""Whole landings on the plugin's `land` fixture (the rig from --rig, loopback by default): the
nominal one passes, the same seed repeats, broken controllers FAIL."""

import csv
import json

import pytest

from plant.scenario import load_scenario
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(90)


def _rows(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def test_nominal_landing_passes_and_writes_the_run_folder(land):
    result = land("nominal")
    folder = result.out_dir
    m = result.metrics
    assert 0.6 <= m["rover_vz_at_contact_mps"] <= 0.8      # MSL flew 0.6, M2020 ~0.75
    assert m["rover_vh_at_contact_mps"] <= 0.2
    assert 14.0 <= m["contact_time_s"] - m["separation_time_s"] <= 19.0  # MSL: 15.67 predicted, 17.9 flown
    assert 0.2 <= m["td_latency_s"] <= 3.0
    assert m["flyaway_distance_m"] >= 150.0
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["verdict"] == "PASS" and summary["seed"] == 1
    assert summary["icd"]["layout_hash"].startswith("0x") and summary["versions"]["skycrane_hil"]
    assert summary["device"]["device_kind_name"] == "REFERENCE"
    assert summary["device_step_time_us"]["max"] >= summary["device_step_time_us"]["p50"] >= 0
    names = [e["name"] for e in summary["events"]]
    assert names[:2] == ["rover_separation", "bridles_full"]
    assert names.index("rover_contact") < names.index("touchdown_declared") < names.index("bridle_cut")
    assert names[-1] == "ds_ground_contact"
    rows = _rows(folder / "telemetry.csv")
    assert len(rows) == summary["cycles"] == len(result.record) > 3000
    assert {"truth_ds_z", "sensor_altitude_m", "cmd_throttle", "state_name"} <= rows[0].keys()
    assert [float(r["truth_ds_z"]) for r in rows] == result.record["truth_ds_z"].tolist()
    assert (folder / "landing.png").stat().st_size > 20_000
    assert (folder / "report.html").stat().st_size > 10_000


DEVICE_CLOCK_COLUMNS = {"cmd_step_time_us", "cmd_frame_rx_tick_us", "cmd_step_tick_us", "cmd_read_tick_us"}


def _trajectory(path):
    # Everything but the device's own clock readings, which are wall-clock measurements.
    return [{k: v for k, v in row.items() if k not in DEVICE_CLOCK_COLUMNS} for row in _rows(path)]


def test_same_seed_gives_the_same_landing_and_another_seed_does_not(land):
    runs = {name: land("nominal", seed=seed) for name, seed in (("a", 7), ("b", 7), ("c", 8))}
    telemetry = {name: _trajectory(run.out_dir / "telemetry.csv") for name, run in runs.items()}
    assert telemetry["a"] == telemetry["b"]
    assert runs["a"].metrics == runs["b"].metrics
    assert telemetry["a"] != telemetry["c"]


def test_touchdown_detection_disabled_fails(land, tmp_path):
    scenario = load_scenario(str(write_scenario(tmp_path, "no-detect", {"td_enable": 0})))
    result = land(scenario, expect="FAIL")
    failed = {row["metric"] for row in result.checks if row["passed"] is False}
    # Never declared, never cut: the stage keeps descending onto the rover and never flies away.
    assert {"td_latency_s", "min_clearance_m", "flyaway_distance_m"} <= failed
    assert json.loads((result.out_dir / "summary.json").read_text())["verdict"] == "FAIL"


def test_cut_as_soon_as_the_bridles_are_out_fails(land):
    eager = {"td_arm_delay_s": 0.0, "td_drop_frac": 0.0, "td_persist_s": 0.0, "cut_delay_s": 0.0}
    result = land("nominal", controller=eager, expect="FAIL")
    assert result.metrics["cut_before_contact"] is True
    failed = {row["metric"] for row in result.checks if row["passed"] is False}
    assert {"cut_before_contact", "rover_vz_at_contact_mps"} <= failed  # the rover falls ~4 m


def test_criteria_file_overrides_a_default(land, tmp_path):
    strict = tmp_path / "strict.toml"
    strict.write_text("[rover_vz_at_contact_mps]\nmax = 0.5\n")
    result = land("nominal", criteria=str(strict), expect="FAIL")
    row = next(r for r in result.checks if r["metric"] == "rover_vz_at_contact_mps")
    assert row["criterion"] == "<= 0.5" and not row["passed"] and not result.passed
