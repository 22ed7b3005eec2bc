"""The pytest plugin as a user's CI meets it: options, markers, errors versus failures, JUnit, Ctrl-C.

Each test runs a real pytest in a subprocess (pytester) on a small test file, so the plugin is
loaded through its entry point exactly as in a user's project.
"""

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hil import icd
from tests.conftest import ROOT, write_rig

pytestmark = pytest.mark.timeout(180)


def run(pytester, source: str, *args):
    pytester.makepyfile(test_user=source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def junit(pytester, result_args=()) -> ET.Element:
    return ET.parse(pytester.path / "junit.xml").getroot()


def case_properties(case: ET.Element) -> dict:
    return {p.get("name"): p.get("value") for p in case.iter("property")}


PASSING = """
import pytest

@pytest.mark.requirement("REQ-1", "REQ-2")
def test_lands(land):
    result = land("nominal", seed=2)
    assert result.record["truth_ds_z"][0] > 1000
"""


def test_a_passing_landing_carries_its_provenance_into_junit(pytester):
    outcome = run(pytester, PASSING, "--rig", "mil", "--junitxml=junit.xml")
    outcome.assert_outcomes(passed=1)
    root = junit(pytester)
    suite = {p.get("name"): p.get("value") for p in root.find("testsuite/properties")}
    assert suite["rig"] == "mil" and suite["skycrane_hil_version"] and suite["layout_hash"].startswith("0x")
    assert suite["git_revision"]
    props = case_properties(root.find(".//testcase"))
    assert props["scenario"] == "nominal" and props["seed"] == "2" and props["verdict"] == "PASS"
    assert props["device_kind"] == "REFERENCE" and props["icd_version"] == str(icd.ICD_VERSION)
    assert 0.5 < float(props["rover_vz_at_contact_mps"]) < 1.0 and "td_latency_s" in props
    assert (Path(props["run_folder"]) / "summary.json").exists()
    requirements = [p.get("value") for p in root.iter("property") if p.get("name") == "requirement"]
    assert requirements == ["REQ-1", "REQ-2"]


def test_a_landing_outside_its_criteria_is_a_failure_naming_the_criteria(pytester):
    source = """
def test_broken(land):
    land("nominal", controller={"td_enable": 0})
"""
    outcome = run(pytester, source, "--rig", "mil", "--junitxml=junit.xml")
    outcome.assert_outcomes(failed=1)
    text = outcome.stdout.str()
    assert "nominal (seed 1) on mil: FAIL, expected PASS" in text
    assert "contact to touchdown declared not measured, criterion 0.2 .. 3" in text
    assert "Traceback" not in text
    failure = junit(pytester).find(".//testcase/failure")
    assert failure is not None and "FAIL" in failure.get("message")


def test_expect_fail_passes_on_a_broken_controller_and_fails_on_a_good_one(pytester):
    source = """
def test_broken_fails(land):
    land("nominal", controller={"td_enable": 0}, expect="FAIL")

def test_good_does_not_fail(land):
    land("nominal", expect="FAIL")
"""
    outcome = run(pytester, source, "--rig", "mil")
    outcome.assert_outcomes(passed=1, failed=1)
    assert "on mil: PASS, expected FAIL" in outcome.stdout.str()


def test_an_unreachable_rig_is_an_error_with_one_line_not_a_failure(pytester, tmp_path):
    rig = write_rig(tmp_path, 'name = "gone"\nkind = "serial"\nport = "/dev/ttyNOSUCHPORT"\n')
    outcome = run(pytester, PASSING, "--rig", str(rig), "--junitxml=junit.xml")
    outcome.assert_outcomes(errors=1)
    text = outcome.stdout.str()
    assert "rig gone" in text and "/dev/ttyNOSUCHPORT" in text
    assert "Traceback" not in text and "During handling" not in text
    case = junit(pytester).find(".//testcase")
    assert case.find("error") is not None and case.find("failure") is None


def test_a_rig_that_dies_mid_flight_is_an_error_not_a_failure(pytester):
    source = """
import threading

def test_device_stops_mid_flight(land, hil_session):
    threading.Timer(0.4, hil_session.device.stop).start()   # the loopback device's server goes away
    land("nominal")
"""
    outcome = run(pytester, source, "--rig", "loopback", "--junitxml=junit.xml")
    outcome.assert_outcomes(errors=1)
    text = outcome.stdout.str()
    assert "not a verdict on the controller" in text and "link lost" in text
    root = junit(pytester)
    case = root.find(".//testcase")
    assert case.find("error") is not None and case.find("failure") is None
    suite = root.find("testsuite")
    assert suite.get("errors") == "1" and suite.get("failures") == "0"


@pytest.mark.parametrize("args, fragment", [
    (("--rig", "nosuch.toml"), "--rig nosuch.toml: rig file not found"),
    (("--rig", "mil", "--hil-scenario", "nominl"), "unknown scenario 'nominl'"),
    (("--rig", "mil", "--hil-seeds", "0"), "--hil-seeds must be at least 1"),
])
def test_bad_options_are_one_usage_error_line(pytester, args, fragment):
    outcome = run(pytester, PASSING, *args)
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in outcome.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and fragment in errors[0], outcome.stderr.str()
    assert "Traceback" not in outcome.stderr.str()


def test_a_malformed_rig_file_is_a_usage_error_naming_the_file(pytester, tmp_path):
    rig = write_rig(tmp_path, 'kind = "loopback"\nbaudrate = \n')
    outcome = run(pytester, PASSING, "--rig", str(rig))
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{rig}: malformed TOML" in outcome.stderr.str() and "Traceback" not in outcome.stderr.str()


@pytest.mark.parametrize("marker, fragment", [
    ('requirement(3)', "requirement marker needs one or more ids"),
    ('requirement()', "requirement marker needs one or more ids"),
    ('needs("warp-drive")', "needs marker takes capabilities"),
])
def test_a_marker_with_a_bad_argument_is_a_usage_error(pytester, marker, fragment):
    source = f"""
import pytest

@pytest.mark.{marker}
def test_x(land):
    land("nominal")
"""
    outcome = run(pytester, source, "--rig", "mil")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    assert fragment in outcome.stderr.str() and "test_user.py::test_x" in outcome.stderr.str()


def test_needs_skips_with_the_reason_where_the_rig_lacks_it(pytester):
    source = """
import pytest

@pytest.mark.needs("realtime")
def test_timing(land):
    land("terminal-descent")

@pytest.mark.needs("mil")
def test_in_process(land):
    land("nominal")
"""
    outcome = run(pytester, source, "--rig", "mil", "-rs")
    outcome.assert_outcomes(passed=1, skipped=1)
    assert "rig mil lacks realtime" in outcome.stdout.str()


def test_the_session_starts_the_device_once_unless_reset_is_asked(pytester):
    source = """
def test_one(land, hil_session):
    land("nominal")
    print("STARTS", hil_session.starts)

def test_two(land, hil_session):
    land("nominal")
    print("STARTS", hil_session.starts)
"""
    once = run(pytester, source, "--rig", "loopback", "-s", "--hil-outputs", "none")
    once.assert_outcomes(passed=2)
    assert once.stdout.str().count("STARTS 1") == 2 and "STARTS 2" not in once.stdout.str()
    every = run(pytester, source, "--rig", "loopback", "-s", "--hil-outputs", "none", "--hil-reset", "test")
    every.assert_outcomes(passed=2)
    assert "STARTS 1" in every.stdout.str() and "STARTS 2" in every.stdout.str()


def test_the_example_file_runs_as_a_user_would_run_it(tmp_path):
    """examples/ is what we tell users to copy; it must pass on the in-process rig."""
    proc = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "examples"), "--rig", "mil", "-p",
                           "no:cacheprovider", f"--junitxml={tmp_path / 'junit.xml'}", "--hil-out",
                           str(tmp_path / "runs"), "--hil-outputs", "none", "-q"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=170)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed, 1 skipped" in proc.stdout
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite.get("failures") == "0" and suite.get("errors") == "0"


@pytest.mark.realtime
def test_ctrl_c_keeps_the_run_folders_and_the_partial_report(pytester):
    pytester.makepyfile(test_user="""
def test_quick(land):
    land("nominal")

def test_long(land):
    land("nominal", timing="realtime")    # ~80 s of wall clock: interrupted long before the end
""")
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rig", "loopback",
                             "--hil-out", "runs", "--hil-report", "report.html", "-q"],
                            cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    quick = pytester.path / "runs" / "test_user.py_test_quick" / "summary.json"
    long_telemetry = pytester.path / "runs" / "test_user.py_test_long" / "telemetry.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (quick.exists() and long_telemetry.exists()
                                               and long_telemetry.stat().st_size > 5_000):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    assert json.loads(quick.read_text())["verdict"] == "PASS"
    summary = json.loads((long_telemetry.parent / "summary.json").read_text())
    assert summary["verdict"] == "ERROR" and "interrupted" in summary["error"]
    report = (pytester.path / "report.html").read_text()
    assert "test_quick" in report


CAMPAIGNS = """
def test_sound_controller(hil_campaign):
    result = hil_campaign("terminal-descent", runs=3, target=0.3)
    assert result.summary["passes"] == 3

def test_broken_controller(hil_campaign):
    hil_campaign("terminal-descent", runs=2, target=0.3, controller={"td_enable": 0})
"""


def test_the_campaign_fixture_passes_a_sound_controller_and_fails_a_broken_one(pytester):
    outcome = run(pytester, CAMPAIGNS, "--rig", "mil", "--hil-workers", "2", "--junitxml=junit.xml")
    outcome.assert_outcomes(passed=1, failed=1)
    text = outcome.stdout.str()
    assert "campaign terminal-descent on mil: FAIL, expected PASS" in text and "below the target 0.3" in text
    cases = {c.get("name"): case_properties(c) for c in junit(pytester).iter("testcase")}
    sound = cases["test_sound_controller"]
    assert sound["campaign.verdict"] == "PASS" and sound["campaign.cases"] == "3"
    assert float(sound["campaign.lower_bound"]) > 0.3
    assert (Path(sound["campaign.folder"]) / "report.html").is_file()
    assert cases["test_broken_controller"]["campaign.verdict"] == "FAIL"
