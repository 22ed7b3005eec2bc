"""pytest plugin: fly landings from any pytest suite and get our verdicts in its results.

Registered through the `pytest11` entry point and dormant unless asked: it adds options and
markers, and does nothing until a test requests one of its fixtures (`land`, `hil_session`,
`hil_rig`, `hil_campaign`) or uses one of its markers.

- `--rig FILE|loopback|mil` (or HIL_RIG, or the `hil_rig` ini value) picks the rig at run time.
- `hil_session` starts the rig's device once per --hil-session-scope; --hil-reset restarts it
  before every test or module. A rig that cannot be reached, built or identified is a pytest
  *error* with one line, never a failed landing.
- `land(scenario, seed=..., controller=..., criteria=..., timing=..., faults=..., expect="PASS")` flies one
  landing and returns its RunResult. A verdict other than `expect` is a *failure* whose message
  is the failing criteria; a run the rig could not complete (verdict ERROR) is an *error*.
- `hil_campaign(scenario, runs=..., target=..., sweeps=..., expect="PASS")` flies a Monte Carlo
  campaign on the chosen rig (--hil-workers N local processes, or --hil-scheduler ADDRESS) and
  checks its verdict (docs/campaigns.md).
- `@pytest.mark.requirement("ID", ...)` writes requirement ids to the JUnit report; with
  --hil-requirements FILE every id must be in that file, and the run writes the requirements
  matrix (which passing test verifies which requirement) as CSV and into --hil-report;
  `@pytest.mark.needs("realtime", ...)` skips, with the reason, where the rig lacks it.
- JUnit properties per test: rig, device identity, image hash, scenario, seed, every metric,
  run folder; suite properties: package version, git revision, rig. `--hil-report FILE` writes
  one self-contained HTML page of every landing, failures first (also after Ctrl-C).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from hil import __version__, metrics
from hil.errors import HilError
from hil.rig import CAPABILITIES, Rig, resolve_rig
from plant.scenario import ScenarioError

RIG_ENV = "HIL_RIG"
_REQUIREMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_rig_key = pytest.StashKey[Rig]()
_state_key = pytest.StashKey["_PluginState"]()
_results_key = pytest.StashKey[list]()
_requirements_problem_key = pytest.StashKey[str]()


class RigTrouble(Exception):
    """The rig, the wire or the machine made a landing an invalid test (reported as an error)."""


class _PluginState:
    """What the plugin keeps for one pytest run, and the hooks that need it (registered in
    pytest_configure as a plugin object)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.out_root: Path | None = None
        self.entries: list[dict] = []     # one per test that flew or tried to, for the HTML report
        self.identity: dict = {}
        self.last_module: str | None = None
        self.provenance_written = False
        self.requirements = None          # {id: Requirement} with --hil-requirements
        self.requirement_tests: dict[str, dict] = {}   # nodeid -> {"ids": [...], "phases": [...]}
        self.summary_lines: list[str] = []   # for the terminal summary
        self.coverage = None              # the rig's coverage recorder (a rig with coverage = true)

    def pytest_report_header(self, config: pytest.Config) -> str | None:
        if not (config.getoption("rig") or os.environ.get(RIG_ENV) or config.getini("hil_rig")):
            return None
        rig = config.stash[_rig_key]
        return f"hil: rig {rig.name} ({rig.kind}, {rig.timing}) from {rig.source}"

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        _check_markers(config, items)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        if call.when == "call" and call.excinfo is not None and call.excinfo.errisinstance(RigTrouble):
            report.longrepr = str(call.excinfo.value)
            report.hil_rig_trouble = True
        ids = [a for m in item.iter_markers("requirement") for a in m.args]
        if ids and self.requirements is not None:
            noted = self.requirement_tests.setdefault(item.nodeid, {"ids": ids, "phases": []})
            from hil.requirements import phase_outcome
            noted["phases"].append(phase_outcome(report))
        flew = item.stash.get(_results_key, None) is not None or "land" in getattr(item, "fixturenames", ())
        if flew and (call.when == "call" or (call.when == "setup" and not report.passed)):
            self._note_entry(item, report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report, config):
        if getattr(report, "hil_rig_trouble", False):
            return "error", "E", "ERROR"
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report) -> None:
        """JUnit counts a failed call as a failure; a rig problem in the call is an error there too."""
        if not getattr(report, "hil_rig_trouble", False):
            return
        from _pytest.junitxml import xml_key
        xml = self.config.stash.get(xml_key, None)
        if xml is None:
            return
        try:  # pytest's junitxml keeps the element list and the counters on these objects
            reporter = xml.node_reporter(report)
            for node in reporter.nodes:
                if node.tag == "failure":
                    node.tag = "error"
            xml.stats["failure"] -= 1
            xml.stats["error"] += 1
        except (AttributeError, KeyError):
            pass  # another pytest layout: the JUnit entry stays a failure; its message still says why

    def _note_entry(self, item: pytest.Item, report) -> None:
        skipped = report.skipped and report.when == "setup"
        error = (report.when == "setup" and report.failed) or getattr(report, "hil_rig_trouble", False)
        outcome = "skipped" if skipped else ("error" if error else report.outcome)
        self.entries.append({"nodeid": item.nodeid, "outcome": outcome,
                             "message": "" if report.passed else _report_text(report),
                             "duration_s": report.duration,
                             "requirements": [a for m in item.iter_markers("requirement") for a in m.args],
                             "results": list(item.stash.get(_results_key, []))})

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        """The requirements matrix, coverage over every landing (a coverage rig), then the HTML
        report of every landing so far: after a clean end, a failure or Ctrl-C. The devices have
        stopped by now (fixture teardown), so a coverage SIL has written its counts."""
        lines = self.summary_lines
        matrix = self._requirements_matrix(lines)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        coverage_summary = self._write_coverage(reporter)
        path = self.config.getoption("hil_report")
        if path:
            from hil.report import write_suite_report
            provenance = _provenance(self.config.stash[_rig_key], self.identity)
            provenance["pytest_exit"] = str(int(exitstatus))
            provenance["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
            coverage = None
            if coverage_summary is not None:
                from hil.coverage import HTML_FILE
                coverage = (coverage_summary, self.out_root / HTML_FILE)
            written = write_suite_report(self.entries, Path(path), provenance, requirements=matrix, coverage=coverage)
            lines.append(f"hil: report {written} ({len(self.entries)} tests with landings)")

    def pytest_terminal_summary(self, terminalreporter) -> None:
        """What sessionfinish wrote, once pytest's progress line has ended."""
        for line in self.summary_lines:
            terminalreporter.write_line(line)

    def _requirements_matrix(self, lines: list[str]):
        """With --hil-requirements (and markers that checked out): the matrix rows, written as
        CSV to --hil-requirements-csv or next to the HTML report or the JUnit file."""
        if self.requirements is None or _requirements_problem_key in self.config.stash:
            return None
        from hil import requirements
        tests = [(nodeid, requirements.overall_outcome(noted["phases"]), noted["ids"])
                 for nodeid, noted in self.requirement_tests.items()]
        rows = requirements.build_matrix(self.requirements, tests)
        rig = self.config.stash[_rig_key].name
        beside = self.config.getoption("hil_report") or getattr(self.config.option, "xmlpath", None)
        csv_path = self.config.getoption("hil_requirements_csv") or (
            Path(beside).parent / "requirements.csv" if beside else None)
        written = f" ({requirements.write_matrix_csv(rows, csv_path, rig)})" if csv_path else ""
        lines.append(f"hil: {requirements.summary_line(rows, rig)}{written}")
        return rows

    def _write_coverage(self, reporter) -> dict | None:
        """coverage.json and coverage.html in the run folders' root, and the summary printed."""
        if self.coverage is None:
            return None
        from hil import coverage
        try:
            summary = coverage.write(self.coverage, self.out_root)
        except HilError as exc:
            if reporter is not None:
                reporter.write_line(f"hil: coverage: {exc}")
            return None
        if reporter is not None:
            reporter.ensure_newline()
            for text in (coverage.text_summary(summary), coverage.concept_table(summary)):
                for line in text.splitlines():
                    reporter.write_line(line)
            reporter.write_line(f"hil: coverage {self.out_root / coverage.JSON_FILE}, "
                                f"{self.out_root / coverage.HTML_FILE}")
        return summary


def _report_text(report) -> str:
    text = report.longrepr if isinstance(report.longrepr, str) else report.longreprtext
    if report.skipped and isinstance(report.longrepr, tuple):
        text = report.longrepr[2]
    return text.strip()[-2000:]


# -- options and configuration ---------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "skycrane-hil landings")
    group.addoption("--rig", default=None,
                    help=f"rig for the land fixture: a rig file, 'loopback' or 'mil' (also ${RIG_ENV}; "
                         "default loopback)")
    group.addoption("--hil-session-scope", default="session", choices=("session", "package", "module", "function"),
                    help="how long one started device lives (default: the whole session)")
    group.addoption("--hil-reset", default="never", choices=("never", "module", "test"),
                    help="restart the device before each module or test (default never: a config write "
                         "starts each run on the device)")
    group.addoption("--hil-out", default=None,
                    help="folder for the run folders (default: a folder in pytest's temporary directory)")
    group.addoption("--hil-outputs", default="all", choices=("all", "none"),
                    help="files per landing: all (telemetry, summary, plots, report) or none (in memory)")
    group.addoption("--hil-criteria", default=None, help="criteria file for every landing that names none")
    group.addoption("--hil-report", default=None, help="write one self-contained HTML report of the landings")
    group.addoption("--hil-requirements", default=None,
                    help="requirements file (docs/requirements.toml): check every requirement marker's ids "
                         "against it and write the requirements matrix (also the hil_requirements ini value)")
    group.addoption("--hil-requirements-csv", default=None,
                    help="where to write the requirements matrix as CSV (default: requirements.csv next to "
                         "--hil-report, else next to --junitxml)")
    group.addoption("--hil-seeds", default=1, type=int,
                    help="seeds per scenario in suites that parametrise over seeds (the acceptance suite)")
    group.addoption("--hil-scenario", action="append", default=[],
                    help="scenario name or file for suites that parametrise over scenarios (repeatable; "
                         "default: every shipped scenario)")
    group.addoption("--hil-workers", default=None, type=int,
                    help="local worker processes for the hil_campaign fixture (default: one per CPU)")
    group.addoption("--hil-scheduler", default=None,
                    help="Dask scheduler address for the hil_campaign fixture (instead of local workers)")
    parser.addini("hil_rig", "rig for the land fixture when --rig and $HIL_RIG are not given", default="")
    parser.addini("hil_requirements", "requirements file when --hil-requirements is not given (relative "
                  "to the rootdir)", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): requirement ids this test verifies (JUnit property)")
    config.addinivalue_line("markers", "needs(*capabilities): skip unless the rig has them "
                                       f"({', '.join(CAPABILITIES)})")
    spec = config.getoption("rig") or os.environ.get(RIG_ENV) or config.getini("hil_rig") or "loopback"
    try:
        config.stash[_rig_key] = resolve_rig(spec)
    except HilError as exc:
        raise pytest.UsageError(f"--rig {spec}: {exc}") from None
    if config.getoption("hil_seeds") < 1:
        raise pytest.UsageError(f"--hil-seeds must be at least 1, got {config.getoption('hil_seeds')}")
    for scenario in config.getoption("hil_scenario"):
        try:
            from plant.scenario import load_scenario
            load_scenario(scenario)
        except ScenarioError as exc:
            raise pytest.UsageError(f"--hil-scenario {scenario}: {exc}") from None
    criteria = config.getoption("hil_criteria")
    if criteria:
        try:
            from hil.verdict import load_criteria
            load_criteria(criteria)
        except HilError as exc:
            raise pytest.UsageError(f"--hil-criteria: {exc}") from None
    state = config.stash[_state_key] = _PluginState(config)
    state.requirements = _load_requirements(config)
    config.pluginmanager.register(state, "hil-state")


def _load_requirements(config: pytest.Config):
    """The --hil-requirements file (or the ini value, relative to the rootdir), or None."""
    path = config.getoption("hil_requirements")
    if not path and config.getini("hil_requirements"):
        path = config.rootpath / config.getini("hil_requirements")
    if not path:
        return None
    from hil.requirements import load_requirements
    try:
        return load_requirements(path)
    except HilError as exc:
        raise pytest.UsageError(f"--hil-requirements: {exc}") from None


def requirements_problem(config: pytest.Config) -> str | None:
    """Why the run stopped at collection over a requirement marker naming an unknown id, or None."""
    return config.stash.get(_requirements_problem_key, None)


def _check_markers(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Check every requirement and needs marker; skip what the rig cannot do."""
    rig = config.stash[_rig_key]
    known = config.stash[_state_key].requirements
    for item in items:
        for mark in item.iter_markers("requirement"):
            if not mark.args or mark.kwargs or not all(isinstance(a, str) and _REQUIREMENT_ID.match(a)
                                                      for a in mark.args):
                raise pytest.UsageError(f"{item.nodeid}: requirement marker needs one or more ids "
                                        f"(letters, digits, _ . : -), got {_marker_args(mark)}")
            unknown = [a for a in mark.args if known is not None and a not in known]
            if unknown:
                source = config.getoption("hil_requirements") or config.getini("hil_requirements")
                problem = config.stash[_requirements_problem_key] = (
                    f"{item.nodeid}: requirement {unknown[0]} is not in {source}")
                raise pytest.UsageError(problem)
            item.user_properties += [("requirement", requirement) for requirement in mark.args]
        for mark in item.iter_markers("needs"):
            unknown = [a for a in mark.args if a not in CAPABILITIES]
            if not mark.args or mark.kwargs or unknown:
                raise pytest.UsageError(f"{item.nodeid}: needs marker takes capabilities from "
                                        f"{', '.join(CAPABILITIES)}, got {_marker_args(mark)}")
            missing = [a for a in mark.args if a not in rig.capabilities]
            if missing:
                item.add_marker(pytest.mark.skip(reason=f"rig {rig.name} lacks {', '.join(missing)}"))


def _marker_args(mark) -> str:
    parts = [repr(a) for a in mark.args] + [f"{k}={v!r}" for k, v in mark.kwargs.items()]
    return "(" + ", ".join(parts) + ")" if parts else "nothing"


# -- fixtures ----------------------------------------------------------------------------------

def _session_scope(fixture_name: str, config: pytest.Config) -> str:
    return config.getoption("hil_session_scope")


@pytest.fixture(scope="session")
def hil_rig(pytestconfig: pytest.Config) -> Rig:
    """The rig chosen with --rig (or $HIL_RIG, or the hil_rig ini value; default loopback)."""
    return pytestconfig.stash[_rig_key]


@pytest.fixture(scope=_session_scope)
def hil_session(request: pytest.FixtureRequest, hil_rig: Rig, pytestconfig: pytest.Config):
    """A started device on the chosen rig, its open link and identity (hil.session.Session)."""
    from hil.session import Session
    state = pytestconfig.stash[_state_key]
    if hil_rig.coverage and state.coverage is None:   # one recorder for every session of the run
        from hil.coverage import recorder_for
        recorder = recorder_for(hil_rig, _out_root(state, request))
        problem = _attempt(recorder.begin)
        if problem:
            pytest.fail(f"rig {hil_rig.name} ({hil_rig.source}): {problem}", pytrace=False)
        state.coverage = recorder
    session = Session(hil_rig, coverage=state.coverage)
    problem = _attempt(session.start)
    if problem:  # outside the except block, so pytest shows this one line and no exception chain
        pytest.fail(f"rig {hil_rig.name} ({hil_rig.source}) could not be started: {problem}", pytrace=False)
    state.identity = dict(session.identity)
    _write_suite_properties(state, hil_rig)
    yield session
    session.close()


@pytest.fixture
def land(request: pytest.FixtureRequest, hil_session, hil_rig: Rig, pytestconfig: pytest.Config):
    """Fly one landing: land(scenario="nominal", seed=None, controller=None, criteria=None,
    timing=None, faults=(), expect="PASS") -> RunResult. expect=None returns any verdict unchecked;
    faults: [[faults]] tables as dicts, or a faults file (plant/faults.py)."""
    from hil.run import NO_FILES, Outputs, Run

    state = pytestconfig.stash[_state_key]
    _reset_if_asked(request, hil_session, state)
    results = request.node.stash.setdefault(_results_key, [])
    out_root = _out_root(state, request)
    default_criteria = pytestconfig.getoption("hil_criteria")
    files = pytestconfig.getoption("hil_outputs") == "all"

    def fly(scenario="nominal", *, seed: int | None = None, controller: dict | None = None, criteria=None,
            timing: str | None = None, faults=(), expect: str | None = "PASS"):
        folder = out_root / _folder_name(request.node.nodeid, len(results))
        try:
            run = Run.create(scenario, seed=seed, controller=controller, timing=timing, faults=faults,
                             criteria=criteria if criteria is not None else default_criteria,
                             outputs=Outputs(folder, replace=True) if files else NO_FILES)
            result = hil_session.fly(run)
        except (HilError, ScenarioError) as exc:
            raise RigTrouble(f"land({scenario!r}): {exc}") from None  # an error, not a verdict
        results.append(result)
        _record_properties(request.node, result, len(results))
        if result.interrupted:
            raise KeyboardInterrupt
        if result.verdict in ("ERROR", "INCONCLUSIVE"):
            raise RigTrouble(f"{result.describe()} (not a verdict on the controller)")
        if expect is not None and result.verdict != expect.upper():
            lines = result.failure_lines() or [f"verdict {result.verdict}"]
            head = f"{run.scenario.name} (seed {result.seed}) on {hil_rig.name}: {result.verdict}, expected {expect.upper()}"
            pytest.fail("\n".join([head] + [f"  {line}" for line in lines]), pytrace=False)
        return result
    return fly


@pytest.fixture
def hil_campaign(request: pytest.FixtureRequest, hil_rig: Rig, pytestconfig: pytest.Config):
    """Fly a Monte Carlo campaign on the chosen rig: hil_campaign(scenario="nominal", runs=None,
    target=0.99, confidence=0.95, sweeps=(), controller=None, seed=0, expect="PASS", **more)
    -> CampaignResult (more: hil.campaign.fly_campaign's keywords). A campaign verdict other than
    `expect` fails the test with its why line; INCONCLUSIVE or ERROR (the rig, not the
    controller) is an error. Workers: --hil-workers N or --hil-scheduler ADDRESS."""
    from hil.campaign import fly_campaign

    state = pytestconfig.stash[_state_key]
    out_root = _out_root(state, request)
    count = [0]

    def fly(scenario="nominal", *, expect: str | None = "PASS", **kwargs):
        folder = out_root / (_folder_name(request.node.nodeid, count[0]) + "-campaign")
        count[0] += 1
        scheduler = pytestconfig.getoption("hil_scheduler")
        kwargs.setdefault("workers", None if scheduler else pytestconfig.getoption("hil_workers"))
        kwargs.setdefault("scheduler", scheduler)
        kwargs.setdefault("quiet", True)
        rig = hil_rig.source if hil_rig.source != "built-in" else hil_rig.name
        try:
            result = fly_campaign(scenario, rig=rig, out=folder, **kwargs)
        except (HilError, ScenarioError) as exc:
            raise RigTrouble(f"hil_campaign({scenario!r}): {exc}") from None
        summary = result.summary
        for name in ("verdict", "lower_bound", "cases", "passes", "failures", "invalid", "target", "confidence"):
            request.node.user_properties.append((f"campaign.{name}", summary[name]))
        request.node.user_properties.append(("campaign.folder", str(result.folder)))
        if summary["verdict"] in ("ERROR", "INCONCLUSIVE"):
            raise RigTrouble(f"campaign {summary['name']}: {summary['verdict']}: {summary['why']}")
        if expect is not None and summary["verdict"] != expect.upper():
            pytest.fail(f"campaign {summary['name']} on {hil_rig.name}: {summary['verdict']}, expected "
                        f"{expect.upper()}: {summary['why']}", pytrace=False)
        return result
    return fly


def _reset_if_asked(request, session, state: _PluginState) -> None:
    """--hil-reset: restart the device before this test (in setup, so a failure is an error)."""
    policy = request.config.getoption("hil_reset")
    module = request.node.module.__name__ if request.node.module else ""
    due = policy == "test" or (policy == "module" and state.last_module not in (None, module))
    state.last_module = module
    if due and session.runs:
        problem = _attempt(session.reset)
        if problem:
            pytest.fail(f"rig {session.rig.name}: restarting the device failed: {problem}", pytrace=False)


def _attempt(action) -> str | None:
    """Run a device action; the one-line reason it failed, or None."""
    try:
        action()
    except HilError as exc:
        return str(exc)
    return None


def _out_root(state: _PluginState, request) -> Path:
    if state.out_root is None:
        chosen = request.config.getoption("hil_out")
        if chosen:
            state.out_root = Path(chosen)
        else:
            state.out_root = request.getfixturevalue("tmp_path_factory").mktemp("hil-runs", numbered=False)
    return state.out_root


def _folder_name(nodeid: str, index: int) -> str:
    name = re.sub(r"[^A-Za-z0-9_.+-]+", "_", nodeid.split("/")[-1]).strip("._")[:120]
    return name if index == 0 else f"{name}-{index + 1}"


# -- JUnit properties ----------------------------------------------------------------------------

def _record_properties(item: pytest.Item, result, count: int) -> None:
    """Per landing: where and what it flew, and every metric (prefixed from the second landing on)."""
    prefix = "" if count == 1 else f"landing{count}."
    identity = result.identity
    props = {
        "rig": result.rig.name, "rig_file": result.rig.source, "timing": result.rig.timing,
        "device_kind": identity.get("device_kind_name", ""), "device_build": identity.get("build_id", ""),
        "icd_version": identity.get("icd_version", ""),
        "layout_hash": f"0x{identity['layout_hash']:08X}" if "layout_hash" in identity else "",
        "image_sha256": identity.get("image_sha256", ""),
        "scenario": result.run.scenario.name, "seed": result.seed, "verdict": result.verdict,
        "run_folder": "" if result.out_dir is None else str(result.out_dir),
    }
    props.update({name: result.metrics[name] for name in metrics.NAMES if name in result.metrics})
    for name, value in props.items():
        if value != "":
            item.user_properties.append((prefix + name, value))


def _write_suite_properties(state: _PluginState, rig: Rig) -> None:
    from _pytest.junitxml import xml_key
    xml = state.config.stash.get(xml_key, None)
    if xml is None or state.provenance_written:
        return
    for name, value in _provenance(rig, state.identity).items():
        xml.add_global_property(name, value)
    state.provenance_written = True


def _provenance(rig: Rig, identity: dict) -> dict[str, str]:
    from hil.report.provenance import git_revision
    prov = {"skycrane_hil_version": __version__, "git_revision": git_revision(), "rig": rig.name,
            "rig_file": rig.source, "rig_kind": rig.kind, "timing": rig.timing}
    if identity:
        prov.update({"device_kind": identity.get("device_kind_name", ""),
                     "device_build": str(identity.get("build_id", "")),
                     "icd_version": str(identity.get("icd_version", "")),
                     "layout_hash": f"0x{identity.get('layout_hash', 0):08X}"})
        if identity.get("image_sha256"):
            prov["image_sha256"] = identity["image_sha256"]
    return prov


def rig_for(config: pytest.Config) -> Rig:
    """The run's rig, for code that runs before fixtures (pytest_generate_tests)."""
    return config.stash[_rig_key]


def suite_dir() -> Path:
    """The acceptance suite shipped with the package (`hil test` runs it)."""
    return Path(__file__).resolve().parent / "suite"


def scenarios_for(config: pytest.Config) -> list[str]:
    """--hil-scenario values, or every shipped scenario."""
    from plant.scenario import list_scenarios
    return list(config.getoption("hil_scenario")) or [name for name, _ in list_scenarios()]


def seeds_for(config: pytest.Config, first_seed: int) -> list[int]:
    return [first_seed + k for k in range(config.getoption("hil_seeds"))]


