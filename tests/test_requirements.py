"""The requirements matrix: which passing test verifies which requirement, and the file's errors.

Small test files run under a real pytest (pytester, in a subprocess) with the plugin loaded from
its entry point; `hil test` runs as a user runs it. The shipped suite's own matrix is checked on
tests/test_hil_test.py's run of the whole suite (no landing is flown twice for it).
"""

import csv
import subprocess

import pytest

from hil.requirements import load_requirements
from tests.conftest import HIL, ROOT

pytestmark = pytest.mark.timeout(120)

REQUIREMENTS = """
[REQ-OK-001]
text = "verified by a passing test"
source = "testbed"

[REQ-UNTESTED-001]
text = "no test names it"
source = "testbed"

[REQ-FAILS-001]
text = "its only test fails"
source = "testbed"

[REQ-SKIPPED-001]
text = "its only test is skipped"
source = "testbed"
"""

TESTS = """
import pytest

@pytest.mark.requirement("REQ-OK-001")
def test_passes():
    pass

@pytest.mark.requirement("REQ-FAILS-001")
def test_fails():
    assert False, "deliberately"

@pytest.mark.requirement("REQ-SKIPPED-001")
@pytest.mark.skip(reason="deliberately")
def test_skipped():
    pass
"""


def read_matrix(path) -> dict[str, list[dict]]:
    rows = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows.setdefault(row["requirement"], []).append(row)
    return rows


def test_the_matrix_shows_only_passing_tests_as_verification_and_untested_requirements_first(pytester):
    pytester.makefile(".toml", requirements=REQUIREMENTS)
    pytester.makepyfile(test_user=TESTS)
    outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--rig", "mil",
                                            "--hil-requirements", "requirements.toml",
                                            "--hil-report", "out/report.html")
    outcome.assert_outcomes(passed=1, failed=1, skipped=1)
    outcome.stdout.fnmatch_lines([("hil: 1 of 4 requirements verified by a passing test on rig mil; "
                                   "1 with no test, 1 failed, 1 not verified (out/requirements.csv)")])
    csv_path = pytester.path / "out/requirements.csv"
    rows = read_matrix(csv_path)
    assert list(rows) == ["REQ-UNTESTED-001", "REQ-FAILS-001", "REQ-SKIPPED-001", "REQ-OK-001"]
    assert [(r["status"], r["test"]) for r in rows["REQ-UNTESTED-001"]] == [("no test", "")]
    assert [(r["status"], r["test"], r["outcome"]) for r in rows["REQ-FAILS-001"]] == [
        ("failed", "test_user.py::test_fails", "failed")]
    assert rows["REQ-SKIPPED-001"][0]["status"] == "not verified"
    ok = rows["REQ-OK-001"][0]
    assert (ok["status"], ok["test"], ok["outcome"], ok["rig"]) == ("verified", "test_user.py::test_passes",
                                                                    "passed", "mil")
    page = (pytester.path / "out/report.html").read_text()
    section = page[page.index("<h2>Requirements</h2>"):page.index("<h2>Tests</h2>")]
    order = [section.index(rid) for rid in ("REQ-UNTESTED-001", "REQ-FAILS-001", "REQ-SKIPPED-001", "REQ-OK-001")]
    assert order == sorted(order) and "test_user.py::test_passes" in section


def test_without_a_report_the_matrix_goes_next_to_the_junit_file(pytester):
    pytester.makefile(".toml", requirements=REQUIREMENTS)
    pytester.makepyfile(test_user=TESTS)
    outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hil-requirements", "requirements.toml",
                                            "--junitxml", "junit/suite.xml")
    assert outcome.ret == pytest.ExitCode.TESTS_FAILED
    rows = read_matrix(pytester.path / "junit/requirements.csv")
    assert [rows[rid][0]["status"] for rid in rows] == ["no test", "failed", "not verified", "verified"]


def run_hil_test(tmp_path, *args):
    return subprocess.run([*HIL, "test", "--rig", "mil", "--out", str(tmp_path / "runs"), *args],
                          check=False, capture_output=True, text=True, cwd=tmp_path, timeout=100)


@pytest.mark.parametrize("body, fragment", [
    ('[CTRL-TD-001]\ntext = "x"\nsource = \n', "malformed TOML"),
    ('[CTRL-TD-001]\ntext = "x"\n', "CTRL-TD-001: source must be a non-empty string"),
    ('[CTRL-TD-001]\ntext = "x"\nsource = "testbed"\nsauce = "y"\n', "CTRL-TD-001: unknown field sauce"),
    ('title = "reqs"\n', "title must be a table"),
    ('', "no requirements"),
])
def test_a_malformed_requirements_file_is_one_error_line_exit_2(tmp_path, body, fragment):
    path = tmp_path / "requirements.toml"
    path.write_text(body)
    proc = run_hil_test(tmp_path, "--requirements", str(path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr
    assert proc.stderr.startswith(f"hil: error: {path}: ") and fragment in proc.stderr, proc.stderr
    assert not (tmp_path / "runs").exists()


def test_an_unknown_id_in_a_suite_marker_is_one_error_line_exit_2(tmp_path):
    path = tmp_path / "requirements.toml"
    path.write_text('[CTRL-TD-001]\ntext = "x"\nsource = "testbed"\n')   # the suite names many more
    proc = run_hil_test(tmp_path, "--requirements", str(path))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "requirement" in errors[0] and f"is not in {path}" in errors[0], proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_an_unknown_id_under_plain_pytest_is_a_usage_error_naming_the_test(pytester):
    pytester.makefile(".toml", requirements=REQUIREMENTS)
    pytester.makepyfile(test_user='import pytest\n\n@pytest.mark.requirement("REQ-OK-001", "REQ-TYPO-001")\n'
                                  'def test_x():\n    pass\n')
    outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hil-requirements", "requirements.toml")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in outcome.stderr.lines if line.startswith("ERROR:")]
    assert errors == ["ERROR: test_user.py::test_x: requirement REQ-TYPO-001 is not in requirements.toml"]


def test_the_shipped_requirements_file_loads_and_every_scenario_names_known_ids():
    from plant.scenario import list_scenarios, load_scenario
    requirements = load_requirements(ROOT / "docs/requirements.toml")
    assert all(r.text and r.source for r in requirements.values())
    for name, _ in list_scenarios():
        unknown = set(load_scenario(name).requirements) - set(requirements)
        assert not unknown, f"{name}: {unknown}"
