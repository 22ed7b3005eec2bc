"""hil replay: a recorded run's frames fed open loop to a controller, its answers compared (docs/replay.md)."""

import json
import shutil
import subprocess

import pytest

from hil import icd
from hil.api import Rig, land
from hil.cli import main
from hil.reference.controller import duration_us
from hil.replay import REPLAY_FILE, load_recording
from hil.telemetry import read_telemetry
from tests.conftest import HIL, ROOT, write_scenario

pytestmark = pytest.mark.timeout(60)
needs_gcc = pytest.mark.skipif(shutil.which("make") is None or shutil.which("gcc") is None,
                               reason="the SIL firmware needs make and gcc")


@pytest.fixture(scope="module")
def loopback_run(tmp_path_factory):
    """terminal-descent (the shortest shipped landing) on the pty loopback, with every output."""
    out = tmp_path_factory.mktemp("recorded") / "loopback"
    result = land("terminal-descent", rig="loopback", out=out)
    assert result.error is None
    return out


def replay(*args):
    return subprocess.run([*HIL, "replay", *map(str, args)], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          check=False)


def assert_one_line_error(code, err, fragment):
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("hil: error:") and fragment in lines[0], err


@needs_gcc
def test_a_loopback_run_replayed_into_sil_agrees(loopback_run, tmp_path):
    proc = replay(loopback_run, "--rig", ROOT / "rigs/sil.toml", "--out", tmp_path / "r")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "AGREE within tolerances" in proc.stdout and "no differing cycle" in proc.stdout
    report = json.loads((tmp_path / "r" / REPLAY_FILE).read_text())
    rows = len(read_telemetry(loopback_run / "telemetry.csv")["cycle"])
    assert report["agree"] and report["first_difference"] is None
    assert report["steps_replayed"] == report["cycles_compared"] == rows
    assert report["device"]["device_kind_name"] == "SIL"
    assert all(r["offset"] == 0 for rows in report["transitions"].values() for r in rows)
    # float32 firmware against the float64 reference, open loop: well inside the tolerance
    assert 0 < report["fields"]["throttle"]["max_abs_diff"] < report["tolerances"]["command"] / 5


def test_one_config_value_changed_differs_at_the_first_cycle_it_can_act_on(loopback_run, tmp_path, capsys):
    """cut_delay_s 0.5 -> 0.3 s: the cut comes at the first frame 0.3 s (as the controller counts
    it: whole microseconds of its float32 value) after the recorded touchdown declaration."""
    code = main(["replay", str(loopback_run), "--rig", "mil", "--controller", "cut_delay_s=0.3",
                 "--out", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert code == 1, out
    columns = read_telemetry(loopback_run / "telemetry.csv")
    declared = next(t for t in columns["cmd_td_time_us"] if t != icd.TD_NOT_DECLARED)
    def first_cycle_after(delay_s):
        return next(int(c) for c, t in zip(columns["cycle"], columns["sensor_t"])
                    if round(t * 1e6) - declared >= duration_us(delay_s))
    expected = first_cycle_after(0.3)
    report = json.loads((tmp_path / "r" / REPLAY_FILE).read_text())
    first = report["first_difference"]
    assert first["cycle"] == expected
    assert first["fields"]["state"] == {"recorded": icd.ControllerState.TOUCHDOWN,
                                        "replayed": icd.ControllerState.FLYAWAY}
    assert first["fields"]["discretes"]["replayed"] == icd.Discretes.SEPARATE | icd.Discretes.CUT
    flyaway = next(r for r in report["transitions"]["state"] if r["state"] == icd.ControllerState.FLYAWAY)
    assert flyaway["cycle_b"] == expected
    assert flyaway["cycle_a"] == first_cycle_after(0.5) and flyaway["offset"] == expected - first_cycle_after(0.5)
    assert f"first differing cycle {expected}: state TOUCHDOWN recorded, FLYAWAY replayed" in out
    assert "DIFFERENT within tolerances" in out
    assert report["config_overrides"] == {"cut_delay_s": 0.3}


@pytest.mark.realtime
def test_a_real_time_recording_replays_on_the_device_clock(tmp_path, capsys):
    """A real-time run's controller stepped on its own clock; rebuilt from the command block's
    ticks, a lockstep replay gives the same answers, touchdown time included."""
    scenario = write_scenario(tmp_path, "short-rt", extra="max_time_s = 3")
    land(str(scenario), rig=Rig(timing="realtime"), out=tmp_path / "rt")
    recording = load_recording(tmp_path / "rt")
    assert recording.timing == "realtime" and recording.same_clock
    steps = sorted({int(n) for n in read_telemetry(tmp_path / "rt" / "telemetry.csv")["cmd_step_count"]} - {0})
    if steps != list(range(1, len(steps) + 1)) or recording.notes:
        pytest.skip("a busy machine: the device ran a step whose answer no reply carried (it cannot be replayed)")
    code = main(["replay", str(tmp_path / "rt"), "--rig", "mil", "--cycle-tol", "0"])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads((tmp_path / "rt" / "replay-mil" / REPLAY_FILE).read_text())
    assert report["fields"]["throttle"]["max_abs_diff"] == 0.0   # the same Python controller, the same inputs


def test_bad_inputs_are_one_line_errors(loopback_run, tmp_path, capsys):
    def error(*args):
        code = main(["replay", *map(str, args)])
        return code, capsys.readouterr().err

    (tmp_path / "empty").mkdir()
    assert_one_line_error(*error(tmp_path / "empty", "--rig", "mil"), "has no telemetry.csv")

    other_icd = tmp_path / "v3"
    shutil.copytree(loopback_run, other_icd, ignore=shutil.ignore_patterns("replay-*"))
    summary = json.loads((other_icd / "summary.json").read_text())
    summary["icd"]["version"] = icd.ICD_VERSION - 1
    (other_icd / "summary.json").write_text(json.dumps(summary))
    assert_one_line_error(*error(other_icd, "--rig", "mil"), f"recorded with ICD v{icd.ICD_VERSION - 1}")

    assert_one_line_error(*error(loopback_run, "--rig", ROOT / "rigs/sil-realtime.toml"), "use a lockstep rig")

    old = tmp_path / "old"     # a telemetry.csv without the told-fault columns (recorded before ICD v4)
    shutil.copytree(loopback_run, old, ignore=shutil.ignore_patterns("replay-*"))
    lines = (old / "telemetry.csv").read_text().splitlines()
    drop = lines[0].split(",").index("sensor_health")
    (old / "telemetry.csv").write_text("\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != drop)
                                                 for line in lines) + "\n")
    assert_one_line_error(*error(old, "--rig", "mil"), "lacks the columns sensor_health")

    assert_one_line_error(*error(loopback_run, "--rig", "mil", "--out", loopback_run, "--replace"),
                          "holds the run being replayed")
    assert (loopback_run / "telemetry.csv").is_file()


def test_errors_reach_the_shell_as_one_line_without_a_traceback(tmp_path):
    proc = replay(tmp_path, "--rig", "mil")
    assert_one_line_error(proc.returncode, proc.stderr, "has no telemetry.csv")
