"""`hil test`: the acceptance suite shipped with the package, run as a user runs it."""

import subprocess
import xml.etree.ElementTree as ET

import pytest

from hil.api import land
from hil.requirements import load_requirements
from hil.run import NO_FILES
from hil.suite.test_acceptance import check_state_machine
from tests.conftest import HIL, ROOT
from tests.test_requirements import read_matrix

pytestmark = pytest.mark.timeout(300)
SCENARIOS = ("nominal", "curiosity", "fault-engine-out")   # a pass, the other payload, an expected FAIL


def test_the_shipped_suite_passes_on_the_in_process_rig_with_junit_and_a_report(tmp_path):
    junit = tmp_path / "suite.xml"
    # Three scenarios, not all of them: tests/test_flown_numbers.py flies every shipped one already.
    proc = subprocess.run([*HIL, "test", "--rig", "mil", "--seeds", "1", "--out", str(tmp_path / "runs"),
                           *(f"--scenario={name}" for name in SCENARIOS), f"--junitxml={junit}", "-q"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=280)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "warning" not in proc.stdout.lower()
    suite = ET.parse(junit).getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    shipped = [n for n in cases if n.startswith("test_scenario_lands_as_the_catalogue_expects")]
    assert sorted(shipped) == sorted(f"test_scenario_lands_as_the_catalogue_expects[{name}-seed1]" for name in SCENARIOS)
    must_fail = [n for n in cases if n.startswith("test_the_harness_fails_a_broken_controller")]
    assert len(must_fail) == 3 and all(cases[n].find("failure") is None for n in must_fail)
    assert cases["test_real_time_landing_is_judged_on_timing"].find("skipped") is not None  # mil has no clock
    props = {p.get("name"): p.get("value") for p in cases[next(n for n in shipped if "nominal" in n)].iter("property")}
    assert props["rig"] == "mil" and props["verdict"] == "PASS" and "requirement" in props
    report = tmp_path / "runs/report.html"
    assert 100_000 < report.stat().st_size < 3_000_000
    assert len(list((tmp_path / "runs").iterdir())) >= 6       # a run folder per landing, and the report
    # The requirements matrix (docs/requirements.toml, hil/requirements.py): untested ones first,
    # every requirement listed, the envelope verified by the nominal landing on this rig.
    rows = read_matrix(tmp_path / "runs/requirements.csv")
    statuses = [rows[rid][0]["status"] for rid in rows]
    assert statuses == sorted(statuses, key=["no test", "failed", "not verified", "verified"].index)
    assert len(rows) == len(load_requirements(ROOT / "docs/requirements.toml"))
    for rid in ("CTRL-TD-001", "CTRL-TD-002", "CTRL-TD-003", "CTRL-TD-004", "CTRL-ENV-001", "TB-VERDICT-003",
                "CTRL-SM-001", "CTRL-SM-002"):
        assert rows[rid][0]["status"] == "verified" and all(r["rig"] == "mil" for r in rows[rid]), rows[rid]
    assert any("test_scenario_lands_as_the_catalogue_expects[nominal-seed1]" in r["test"] for r in rows["CTRL-TD-001"])
    assert "requirements verified by a passing test on rig mil" in proc.stdout
    assert "<h2>Requirements</h2>" in report.read_text()


def test_a_bad_rig_is_one_line_exit_2_before_pytest_starts(tmp_path):
    proc = subprocess.run([*HIL, "test", "--rig", str(tmp_path / "nope.toml")], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "rig file not found" in proc.stderr and "Traceback" not in proc.stderr


def test_the_state_machine_check_fails_a_controller_that_lowers_too_fast_or_skips_a_state():
    """The suite's CTRL-SM-001 check (hil/suite/test_acceptance.py) can fail: it passes the
    reference controller and refuses one lowering at 1.0 m/s and one that never arms touchdown
    detection."""
    check_state_machine(land("nominal", rig="mil", outputs=NO_FILES).record)
    with pytest.raises(AssertionError, match="lowered the rover at 0.9"):
        check_state_machine(land("nominal", rig="mil", outputs=NO_FILES, controller={"v_cv_mps": 1.0}).record)
    with pytest.raises(AssertionError) as caught:
        check_state_machine(land("nominal", rig="mil", outputs=NO_FILES, controller={"td_enable": 0}).record)
    assert str(caught.value).splitlines()[0] == \
        "the controller went through STANDBY -> POWERED_DESCENT -> CONSTANT_VELOCITY -> SKY_CRANE"
