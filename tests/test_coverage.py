"""Coverage of the controller's code over landings: gcov of the firmware core on the coverage SIL,
coverage.py of the reference controller on an in-process MIL rig (docs/coverage.md)."""

import json
import shutil
import subprocess

import pytest

from hil.coverage import recorder_for
from hil.rig import load_rig
from hil.run import NO_FILES, Run
from hil.session import Session
from tests.conftest import HIL, ROOT, write_rig

SIL_COVERAGE = ROOT / "rigs/sil-coverage.toml"
needs_gcc = pytest.mark.skipif(not all(shutil.which(tool) for tool in ("make", "gcc", "gcov")),
                               reason="needs make, gcc and gcov")
SHORT = "terminal-descent"      # the last 60 s of nominal: every phase, from sky crane to flyaway


def _calls(summary: dict, file: str, function: str) -> int:
    return next(fn["calls"] for fn in summary["files"][file]["functions"] if fn["name"] == function)


def _plausible(fig: dict) -> bool:
    return fig["total"] > 0 and 0 < fig["percent"] <= 100


@needs_gcc
@pytest.mark.timeout(60)
def test_a_landing_on_the_coverage_rig_writes_core_figures_per_file_and_function(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([*HIL, "land", "--rig", str(SIL_COVERAGE), "--scenario", SHORT, "--quiet", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=55, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "coverage of firmware/core (gcov" in proc.stdout and "touchdown detection" in proc.stdout
    summary = json.loads((out / "coverage.json").read_text())
    assert summary["subject"] == "firmware/core" and summary["landings"] == 1
    assert set(summary["files"]) >= {"core/ctl_controller.c", "core/ctl_navigation.c", "core/app.c",
                                     "core/mb_server.c", "core/mb_crc.c"}
    assert all(name.startswith("core/") for name in summary["files"])      # not the host port
    for name, entry in summary["files"].items():
        assert _plausible(entry["lines"]), name
        assert all(0 <= fn["lines"]["covered"] <= fn["lines"]["total"] for fn in entry["functions"]), name
    assert _plausible(summary["totals"]["lines"]) and _plausible(summary["totals"]["branches"])
    assert summary["totals"]["lines"]["percent"] < 100          # the watchdog path is not flown here
    # One control step per cycle of a 60 s landing at 50 Hz.
    assert _calls(summary, "core/ctl_controller.c", "ctl_controller_step") >= 2900
    step = next(fn for fn in summary["files"]["core/ctl_controller.c"]["functions"]
                if fn["name"] == "ctl_controller_step")
    assert _plausible(step["lines"]) and _plausible(step["branches"])
    assert "ctl_controller_link_lost" in {fn["name"] for fn in summary["files"]["core/ctl_controller.c"]["functions"]}
    assert summary["concepts"]["touchdown detection"]["lines"]["covered"] > 0
    page = (out / "coverage.html").read_text()
    assert "ctl_controller_link_lost" in page and 'class="no"' in page     # an unreached line, shown


@needs_gcc
@pytest.mark.timeout(60)
def test_landings_add_up_and_a_new_recorder_starts_from_zero(tmp_path):
    """Two landings in one session, then a landing after a device restart, add up; a new
    recorder on the same folder (a fresh `hil land` or `hil test`) starts from zero."""
    rig = load_rig(SIL_COVERAGE)
    run = Run.create(SHORT, rig=rig, outputs=NO_FILES)

    def fly(recorder, landings: int) -> dict:
        with Session(rig, coverage=recorder) as session:
            for _ in range(landings):
                assert session.fly(run).verdict == "PASS"
        return recorder.collect()            # the device has stopped: its counts are written

    first = recorder_for(rig, tmp_path)
    first.begin()
    one = fly(first, 1)
    three = fly(first, 2)                    # a second device process adds to the same counts
    steps = _calls(one, "core/ctl_controller.c", "ctl_controller_step")
    assert steps > 2900
    assert _calls(three, "core/ctl_controller.c", "ctl_controller_step") == 3 * steps   # deterministic landings
    assert three["landings"] == 3 and three["device_starts"] == 2
    again = recorder_for(rig, tmp_path)
    again.begin()
    fresh = fly(again, 1)
    assert _calls(fresh, "core/ctl_controller.c", "ctl_controller_step") == steps


@needs_gcc
@pytest.mark.timeout(30)
def test_a_sil_rig_without_a_coverage_build_is_refused_in_one_line(tmp_path):
    rig = write_rig(tmp_path, (SIL_COVERAGE.read_text().replace("host-coverage", "host")
                               .replace('"../firmware"', f'"{ROOT / "firmware"}"')))
    proc = subprocess.run([*HIL, "land", "--rig", str(rig), "--quiet", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, cwd=ROOT, timeout=25, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "no gcov notes" in proc.stderr and "host-coverage" in proc.stderr


@pytest.mark.timeout(30)
@pytest.mark.parametrize("body", [
    'kind = "emulator"\nfirmware_dir = "."\ncommand = ["qemu-system-arm"]\ncoverage = true\n',
    'kind = "serial"\nport = "/dev/ttyACM0"\ncoverage = true\n',
    'kind = "loopback"\ncoverage = true\n',
    'kind = "sil"\nfirmware_dir = "."\ncommand = ["x"]\ncoverage = "yes"\n',
], ids=["emulator", "bench", "loopback", "not-a-bool"])
def test_a_coverage_option_the_rig_cannot_honour_is_one_line_exit_2(tmp_path, body):
    rig = write_rig(tmp_path, body)
    proc = subprocess.run([*HIL, "land", "--rig", str(rig), "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, cwd=ROOT, timeout=25, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "coverage" in proc.stderr and not (tmp_path / "run").exists()


@pytest.mark.timeout(60)
def test_the_reference_controller_is_measured_on_a_mil_rig_and_compares_per_concept(tmp_path):
    pytest.importorskip("coverage")
    out = tmp_path / "run"
    proc = subprocess.run([*HIL, "land", "--rig", str(ROOT / "rigs/mil-coverage.toml"), "--scenario", SHORT,
                           "--quiet", "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=55, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((out / "coverage.json").read_text())
    assert summary["subject"] == "hil/reference"
    assert set(summary["files"]) >= {"hil/reference/controller.py", "hil/reference/navigation.py"}
    assert _plausible(summary["totals"]["lines"]) and _plausible(summary["totals"]["branches"])
    step = next(fn for fn in summary["files"]["hil/reference/controller.py"]["functions"]
                if fn["name"] == "ReferenceController.step")
    assert step["lines"]["percent"] > 50
    for concept in ("state machine", "navigation", "touchdown detection"):
        assert summary["concepts"][concept]["lines"]["covered"] > 0, concept
    # Side by side with a firmware summary (a small stand-in: the table is what is checked).
    firmware = dict(summary, subject="firmware/core")
    (tmp_path / "c.json").write_text(json.dumps(firmware))
    table = subprocess.run([*HIL, "coverage", str(tmp_path / "c.json"), str(out)], capture_output=True, check=False,
                           text=True, cwd=ROOT, timeout=25)
    assert table.returncode == 0, table.stderr
    assert "firmware/core lines" in table.stdout and "hil/reference lines" in table.stdout
    assert "touchdown detection" in table.stdout
