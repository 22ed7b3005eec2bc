"""A run as data: what to fly (Run), which files to keep (Outputs), and what it gave (RunResult).

A Run is the one way any caller (`hil land`, `hil compare`, `hil bench`, the pytest plugin, a
campaign worker) asks for a landing. It is frozen and picklable, so it can be logged, sent to a
worker and flown again; a Session (hil/session.py) flies it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from hil import icd, metrics
from hil.errors import ConfigError
from hil.record import Record
from hil.rig import Rig, check_controller_table, resolve_rig
from hil.verdict import Criterion, load_criteria
from plant.faults import Fault, FaultError, parse_faults
from plant.scenario import Scenario, load_scenario

RUNS_ROOT = Path("runs")


@dataclass(frozen=True)
class Outputs:
    """Which files a run writes into its folder, and whether the result keeps the cycle record.

    `folder` None: runs/<time>-<scenario>-seed<N>, made only when some file is written.
    """

    folder: Path | None = None
    telemetry: bool = True   # telemetry.csv (and timing.csv in real time), streamed while flying
    summary: bool = True     # summary.json
    plots: bool = True       # landing.png (and timing.png)
    report: bool = True      # report.html, the run's one self-contained page
    record: bool = True      # result.record: every cycle's columns as arrays, in memory
    replace: bool = False    # a folder holding an earlier run's files is emptied, not refused

    @property
    def writes_files(self) -> bool:
        return self.telemetry or self.summary or self.plots or self.report


NO_FILES = Outputs(telemetry=False, summary=False, plots=False, report=False)
NOTHING = replace(NO_FILES, record=False)   # campaign workers: the verdict and metrics only


@dataclass(frozen=True)
class Run:
    """One landing, fully described. Build one with Run.create() from names and paths.

    `rig` None: whatever rig the session that flies it is on. `controller` holds config register
    overrides (name, value) that have the last word over the ICD defaults, the scenario's
    [controller] table and the rig's. `timing` None: the rig's. `faults` is a fault schedule added
    to the scenario's own (plant/faults.py): Faults, or [[faults]] tables as dicts.
    """

    scenario: Scenario
    seed: int | None = None                       # None: the scenario's
    rig: Rig | None = None
    criteria: tuple[Criterion, ...] = field(default_factory=lambda: tuple(load_criteria()))
    controller: tuple[tuple[str, float], ...] = ()
    timing: str | None = None
    faults: tuple = ()
    outputs: Outputs = Outputs()

    def __post_init__(self) -> None:
        if isinstance(self.controller, dict):
            object.__setattr__(self, "controller", tuple(sorted(self.controller.items())))
        object.__setattr__(self, "criteria", tuple(self.criteria))
        check_controller_table(dict(self.controller), "run controller overrides")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)
                                      or self.seed < 0):
            raise ConfigError(f"seed must be a whole number >= 0, got {self.seed!r}")
        if self.timing not in (None, "lockstep", "realtime"):
            raise ConfigError(f"timing must be 'lockstep' or 'realtime', got {self.timing!r}")
        object.__setattr__(self, "faults", parse_run_faults(self.faults))

    @classmethod
    def create(cls, scenario: str | Scenario = "nominal", *, rig: str | Path | Rig | None = None,
               seed: int | None = None, criteria: str | Path | list[Criterion] | None = None,
               controller: dict[str, float] | None = None, timing: str | None = None,
               outputs: Outputs | None = None, out: str | Path | None = None,
               replace_folder: bool = False, faults: list | tuple | str | Path = ()) -> Run:
        """A Run from names and paths: a scenario name or .toml file, a rig file, 'loopback' or
        'mil', a criteria file; `out` is the run folder (shorthand for outputs.folder), `replace_folder`
        allows it to hold an earlier run's files; `faults` is a list of [[faults]] tables or Faults,
        or a faults file (TOML with [[faults]] tables)."""
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(str(scenario))
        if rig is not None and not isinstance(rig, Rig):
            rig = resolve_rig(str(rig))
        if criteria is None:
            criteria = criteria_for(scenario)
        elif isinstance(criteria, (str, Path)):
            criteria = load_criteria(criteria)
        outputs = outputs or Outputs()
        if out is not None:
            outputs = replace(outputs, folder=Path(out))
        if replace_folder:
            outputs = replace(outputs, replace=True)
        if isinstance(faults, (str, Path)):
            faults = load_faults_file(faults, scenario.max_time_s)
        return cls(scenario, seed, rig, tuple(criteria), tuple(sorted((controller or {}).items())), timing,
                   tuple(faults), outputs)

    @property
    def flown_seed(self) -> int:
        return self.scenario.seed if self.seed is None else self.seed

    def rig_for(self, session_rig: Rig) -> Rig:
        """The rig this run flies on a session's device, with the run's timing applied."""
        rig = self.rig or session_rig
        if not session_rig.same_device(rig):
            raise ConfigError(f"run asks for rig {rig.name!r} ({rig.source}) but the session is on "
                              f"{session_rig.name!r} ({session_rig.source})")
        timing = self.timing or self.scenario.timing      # a scenario that tests the watchdog needs real time
        return replace(rig, timing=timing) if timing else rig

    def config(self, rig: Rig) -> dict:
        """The config block written at run start: ICD defaults, then the scenario's [controller]
        table, then the rig's, then this run's overrides; timing and rate from the rig."""
        values = icd.config_defaults()
        values.update(check_controller_table(self.scenario.controller, f"scenario {self.scenario.name}: controller"))
        values.update(rig.controller)
        values.update(self.controller)
        values["timing_mode"] = int(icd.TimingMode.REALTIME if rig.timing == "realtime" else icd.TimingMode.LOCKSTEP)
        values["control_rate_hz"] = rig.control_rate_hz
        return values

    def folder(self) -> Path | None:
        """The run folder, or None when the output policy writes no file."""
        if not self.outputs.writes_files:
            return None
        if self.outputs.folder is not None:
            return Path(self.outputs.folder)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        folder = RUNS_ROOT / f"{stamp}-{safe_name(self.scenario.name)}-seed{self.flown_seed}"
        n = 1
        while folder.exists():   # two runs in the same second
            n += 1
            folder = RUNS_ROOT / f"{stamp}-{safe_name(self.scenario.name)}-seed{self.flown_seed}-{n}"
        return folder


def safe_name(name: str) -> str:
    """A scenario name as one path component: no separators, no '..', nothing hidden."""
    cleaned = re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("._") or "scenario"
    return cleaned[:80]


# PASS and FAIL judge the controller. INCONCLUSIVE: the run was not a valid test (the rig could
# not hold real time within its budget, the link policy gave up, the device's watchdog tripped
# on a bad link). ERROR: the run could not be flown (the device died or refused, Ctrl-C).
PASS, FAIL, INCONCLUSIVE, ERROR = "PASS", "FAIL", "INCONCLUSIVE", "ERROR"


@dataclass
class RunResult:
    """What a flown Run gave. `error` is set when it stopped before the landing was complete,
    `invalid` when it was not a valid test of the controller (verdict INCONCLUSIVE); `record`
    holds every cycle (None when the output policy drops it)."""

    run: Run
    rig: Rig
    out_dir: Path | None
    verdict: str = ERROR
    metrics: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    record: Record | None = None
    identity: dict = field(default_factory=dict)
    error: str | None = None
    invalid: str | None = None
    interrupted: int = 0            # the signal that stopped it (SIGINT for Ctrl-C), or 0
    link_lost: dict | None = None   # plant time, flight phase and frame when the controller was lost
    faults: list = field(default_factory=list)   # each fault: applied or not, when, in which phase
    plant_params: object = None     # the PlantParams and InitialConditions the plant flew (read back
    plant_initial: object = None    # by a campaign: did every dispersed value reach the plant?)

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    @property
    def seed(self) -> int:
        return self.run.flown_seed

    def failed_criteria(self) -> list[dict]:
        return [row for row in self.checks if row["applies"] and not row["passed"]]

    def failure_lines(self) -> list[str]:
        """One line per criterion the landing failed: label, value, criterion."""
        lines = []
        for row in self.failed_criteria():
            label, unit = metrics.label(row["metric"])
            lines.append(f"{label} {metrics.format_value(row['value'], unit)}, criterion {row['criterion']}")
        return lines

    def describe(self) -> str:
        """One line: scenario, seed, rig and verdict, with the reason when it is not PASS."""
        head = f"{self.run.scenario.name} (seed {self.seed}) on {self.rig.name}: {self.verdict}"
        if self.invalid or self.error:
            return f"{head}: {self.invalid or self.error}"
        if self.verdict == FAIL:
            return f"{head}: " + "; ".join(self.failure_lines())
        return head


def parse_run_faults(faults) -> tuple[Fault, ...]:
    """A run's extra faults: Faults as they are, dicts validated as [[faults]] tables."""
    if isinstance(faults, (str, bytes, dict)) or not isinstance(faults, (list, tuple)):
        raise ConfigError(f"faults must be a list of fault tables, got {type(faults).__name__}")
    if all(isinstance(f, Fault) for f in faults):
        return tuple(faults)
    try:
        return parse_faults([f for f in faults], "run faults")
    except FaultError as exc:
        raise ConfigError(str(exc)) from None


def criteria_for(scenario: Scenario) -> list[Criterion]:
    """The criteria that judge a scenario's expectation: the landing criteria, or for a fault
    scenario that cannot land, what a sound controller must still do."""
    landing = load_criteria()
    validity = [c for c in landing if c.metric in metrics.RIG_JUDGED]   # the rig's pacing: always judged
    if scenario.expect == "safe_state":
        # The device times its own watchdog; a few late physics ticks on the host do not spoil
        # that measurement (a stalled plant would: lateness p99 still judges the rig).
        return [Criterion("link_lost_after_s", maximum=scenario.expect_within_s,
                          why="the device's watchdog must take the LINK_LOST safe state this soon"),
                Criterion("link_lost_left", equals=False, why="LINK_LOST is latched: it holds until a new run"),
                *(c for c in validity if c.metric == "lateness_p99_ms")]
    if scenario.expect == "no_early_cut":
        return [c for c in landing if c.metric == "cut_before_contact"] + validity
    return landing


def load_faults_file(path: str | Path, max_time_s: float | None = None) -> tuple[Fault, ...]:
    """A faults file: TOML whose [[faults]] tables are a schedule (hil land --faults FILE)."""
    label = str(path)
    doc = read_toml(path)
    unknown = [k for k in doc if k != "faults"]
    if unknown:
        raise ConfigError(f"{label}: unknown field {unknown[0]} (a faults file holds [[faults]] tables)")
    try:
        return parse_faults(doc.get("faults", []), label, max_time_s=max_time_s)
    except FaultError as exc:
        raise ConfigError(str(exc)) from None


def read_toml(path: str | Path) -> dict:
    """A TOML file's document; ConfigError naming the file when it is missing, unreadable or malformed."""
    import tomllib
    label = str(path)
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{label}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{label}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: malformed TOML: {exc}") from None
