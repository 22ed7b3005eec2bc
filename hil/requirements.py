"""Requirements: the file that states them, and the matrix of which passing test verifies which.

A requirements file (docs/requirements.toml) is TOML with one table per requirement, keyed by
its id, each with a `text` (what must hold) and a `source` (where the number or rule comes from:
a paper or page the facts file cites, a project doc, or "testbed" for the testbed's own verdict
rules). Tests name the ids they verify with `@pytest.mark.requirement(...)`; the pytest plugin
collects each such test's outcome and writes the matrix (`docs/requirements.md`).

Only a passing test verifies: an errored (the rig's trouble), skipped or xfailed test is listed
beside its requirement and counts for nothing, and a failed one says the requirement did not
hold, whatever other tests passed.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from hil.errors import ConfigError

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")   # what the requirement marker accepts
FIELDS = ("text", "source")
NO_TEST, FAILED, NOT_VERIFIED, VERIFIED = "no test", "failed", "not verified", "verified"
STATUSES = (NO_TEST, FAILED, NOT_VERIFIED, VERIFIED)   # the order the matrix lists them in
CSV_COLUMNS = ("requirement", "status", "test", "outcome", "rig", "text", "source")


@dataclass(frozen=True)
class Requirement:
    id: str
    text: str
    source: str


@dataclass(frozen=True)
class MatrixRow:
    """One requirement and the tests that name it: (nodeid, outcome) pairs, in run order."""
    requirement: Requirement
    tests: tuple[tuple[str, str], ...]

    @property
    def passing(self) -> list[str]:
        return [test for test, outcome in self.tests if outcome == "passed"]

    @property
    def status(self) -> str:
        if not self.tests:
            return NO_TEST
        if any(outcome == "failed" for _, outcome in self.tests):
            return FAILED
        return VERIFIED if self.passing else NOT_VERIFIED


def load_requirements(path: str | Path) -> dict[str, Requirement]:
    """The requirements of a file by id, in file order; ConfigError naming the file and id."""
    from hil.run import read_toml
    label = str(path)
    doc = read_toml(path)
    if not doc:
        raise ConfigError(f"{label}: no requirements (expected [ID] tables with text and source)")
    found = {}
    for rid, table in doc.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{label}: {rid} must be a table with text and source, got {table!r}")
        if not ID_PATTERN.match(rid):
            raise ConfigError(f"{label}: requirement id {rid!r} may hold letters, digits and _ . : - only")
        for key in table:
            if key not in FIELDS:
                raise ConfigError(f"{label}: {rid}: unknown field {key} (fields: {', '.join(FIELDS)})")
        for key in FIELDS:
            value = table.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{label}: {rid}: {key} must be a non-empty string")
        found[rid] = Requirement(rid, " ".join(table["text"].split()), " ".join(table["source"].split()))
    return found


def build_matrix(requirements: dict[str, Requirement], tests: list[tuple[str, str, list[str]]]) -> list[MatrixRow]:
    """One row per requirement: those with no test first, then those a test failed, those no
    test passed, and the verified ones, each group in file order. `tests`: (nodeid, outcome, requirement ids)."""
    named: dict[str, list[tuple[str, str]]] = {rid: [] for rid in requirements}
    for nodeid, outcome, ids in tests:
        for rid in dict.fromkeys(ids):
            if rid in named:
                named[rid].append((nodeid, outcome))
    rows = [MatrixRow(requirements[rid], tuple(pairs)) for rid, pairs in named.items()]
    return sorted(rows, key=lambda row: STATUSES.index(row.status))   # stable: file order within


def write_matrix_csv(rows: list[MatrixRow], path: str | Path, rig: str) -> Path:
    """The matrix as CSV: one line per requirement and test naming it (one with no test when
    none does); the requirement's status on every line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            req = row.requirement
            for test, outcome in row.tests or (("", ""),):
                writer.writerow((req.id, row.status, test, outcome, rig if test else "", req.text, req.source))
    return path


def phase_outcome(report) -> str:
    """One phase's outcome (a pytest TestReport: setup, call or teardown) for the matrix; only a
    real pass is "passed", and a failure the plugin marked as the rig's trouble is an error."""
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.skipped:
        return "skipped"
    if report.failed:
        rig_trouble = getattr(report, "hil_rig_trouble", False)
        return "failed" if report.when == "call" and not rig_trouble else "error"
    return "passed"


def overall_outcome(phases: list[str]) -> str:
    """A test's outcome over its setup, call and teardown: the worst phase."""
    for outcome in ("error", "failed", "xpassed", "xfailed", "skipped"):
        if outcome in phases:
            return outcome
    return "passed" if phases else "not run"


def summary_line(rows: list[MatrixRow], rig: str) -> str:
    """'12 of 30 requirements verified by a passing test on rig loopback; 10 with no test, 1 failed'."""
    count = {status: sum(row.status == status for row in rows) for status in STATUSES}
    return (f"{count[VERIFIED]} of {len(rows)} requirements verified by a passing test on rig {rig}; "
            f"{count[NO_TEST]} with no test, {count[FAILED]} failed, {count[NOT_VERIFIED]} not verified")
