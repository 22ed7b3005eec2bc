"""Scenario files: load and validate a TOML scenario into frozen parameter dataclasses."""
import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from plant import dispersion
from plant.dispersion import Dispersion, DispersionError
from plant.faults import Fault, FaultError, parse_faults
from plant.params import InitialConditions, ParamError, PlantParams

_TOP_LEVEL = ("name", "description", "seed", "max_time_s", "timing", "expect", "expect_why", "expect_within_s",
              "requirements", "initial", "plant", "controller", "dispersions", "faults")
# What a sound controller does: lands within the criteria ("pass"); fails them, for the reason in
# expect_why ("fail"); enters the LINK_LOST safe state within expect_within_s of the link fault's
# onset and stays there ("safe_state", real time); whatever else, never cuts the bridles before
# the rover touches the ground ("no_early_cut").
EXPECTATIONS = ("pass", "fail", "safe_state", "no_early_cut")
MAX_TIME_S = 3600.0  # a landing takes under two minutes; an hour of real time is a typo


class ScenarioError(ValueError):
    """A scenario is missing or malformed; the message is one line naming the file and field."""


@dataclass(frozen=True)
class Scenario:
    """A complete run description: plant, initial state, seed, time limit, controller overrides."""

    name: str
    description: str
    params: PlantParams = field(default_factory=PlantParams)
    initial: InitialConditions = field(default_factory=InitialConditions)
    seed: int = 1
    max_time_s: float = 200.0
    # Tuning overrides for the flight software, passed through; the host checks the names.
    controller: dict[str, float] = field(default_factory=dict)
    # What the catalogue expects of a sound controller: "pass" or "fail" (then expect_why says why).
    expect: str = "pass"
    expect_why: str = ""
    expect_within_s: float | None = None    # safe_state: the longest wait for LINK_LOST
    # "realtime" when the scenario tests what only real time has (the device's watchdog); None: the rig's.
    timing: str | None = None
    # Monte Carlo distributions by dotted path ("plant.engine.thrust_bias"), for disperse().
    dispersions: dict[str, Dispersion] = field(default_factory=dict)
    # What goes wrong and when: the scenario's [[faults]] tables (plant/faults.py).
    faults: tuple[Fault, ...] = ()
    # Requirement ids (docs/requirements.toml) a landing that meets `expect` verifies, beyond
    # those of the criteria it is judged on; the acceptance suite marks its test with them.
    requirements: tuple[str, ...] = ()

    @property
    def expected_verdict(self) -> str:
        """The verdict a sound controller gets: FAIL only for expect = "fail"; the other
        expectations are met by passing their criteria (hil/run.py criteria_for)."""
        return "FAIL" if self.expect == "fail" else "PASS"


def disperse(scenario: Scenario, rng: np.random.Generator) -> Scenario:
    """A copy of the scenario with every dispersed parameter replaced by one draw from rng.

    Draws in sorted path order, one rng call each, so a seed gives the same sample. A draw the
    parameter checks reject (a negative mass from a wide normal) raises ScenarioError."""
    roots = {"plant": scenario.params, "initial": scenario.initial}
    for path in sorted(scenario.dispersions):
        value = scenario.dispersions[path].sample(rng)
        try:
            roots[path.split(".")[0]] = dispersion.replaced(roots, path, value)
        except ParamError as exc:
            raise ScenarioError(f"{scenario.name}: dispersed {path} = {value!r} is out of range: "
                                f"{exc.reason}") from None
    return dataclasses.replace(scenario, params=roots["plant"], initial=roots["initial"])


def load_scenario(name_or_path: str) -> Scenario:
    """Load a packaged scenario by bare name, or a file when given a .toml name or a path."""
    if name_or_path.endswith(".toml") or "/" in name_or_path or os.sep in name_or_path:
        path = Path(name_or_path)
        label = name_or_path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ScenarioError(f"{label}: file not found") from None
        except OSError as exc:
            raise ScenarioError(f"{label}: cannot read ({exc.strerror})") from None
        stem = path.stem
    else:
        resource = _packaged_dir().joinpath(f"{name_or_path}.toml")
        if not resource.is_file():
            known = ", ".join(name for name, _ in list_scenarios()) or "none"
            raise ScenarioError(f"unknown scenario {name_or_path!r} (known: {known})")
        raw = resource.read_bytes()
        label = f"{name_or_path}.toml"
        stem = name_or_path
    return _parse(raw, label, stem)


def list_scenarios() -> list[tuple[str, str]]:
    """(name, description) of every packaged scenario, sorted by name."""
    found = []
    for entry in _packaged_dir().iterdir():
        if entry.name.endswith(".toml") and entry.is_file():
            stem = entry.name[:-len(".toml")]
            found.append((stem, _parse(entry.read_bytes(), entry.name, stem).description))
    return sorted(found)


def _packaged_dir():
    return resources.files("plant").joinpath("scenarios")


def _parse(raw: bytes, label: str, stem: str) -> Scenario:
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ScenarioError(f"{label}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{label}: malformed TOML: {exc}") from None
    for key in doc:
        if key not in _TOP_LEVEL:
            raise ScenarioError(f"{label}: unknown field {key}")

    name = _typed(doc.get("name", stem), "", "name", label)
    description = _typed(doc.get("description", ""), "", "description", label)
    seed = _typed(doc.get("seed", 1), 0, "seed", label)
    if seed < 0:
        raise ScenarioError(f"{label}: seed must be >= 0, got {seed!r}")
    max_time_s = _typed(doc.get("max_time_s", 200.0), 0.0, "max_time_s", label)
    if not 0 < max_time_s <= MAX_TIME_S:  # also refuses nan and inf
        raise ScenarioError(f"{label}: max_time_s must be in (0, {MAX_TIME_S:g}] s, got {max_time_s!r}")
    initial = _build(InitialConditions, doc.get("initial", {}), "initial", label)
    params = _build(PlantParams, doc.get("plant", {}), "plant", label)
    controller = {}
    for key, value in _table(doc.get("controller", {}), "controller", label).items():
        controller[key] = _typed(value, 0.0, f"controller.{key}", label)
    expect = _typed(doc.get("expect", "pass"), "", "expect", label)
    if expect not in EXPECTATIONS:
        raise ScenarioError(f"{label}: expect must be one of {', '.join(EXPECTATIONS)}, got {expect!r}")
    expect_why = _typed(doc.get("expect_why", ""), "", "expect_why", label)
    if expect == "fail" and not expect_why.strip():
        raise ScenarioError(f"{label}: expect_why must say why when expect = 'fail'")
    within = doc.get("expect_within_s")
    if (expect == "safe_state") != (within is not None):
        raise ScenarioError(f"{label}: expect_within_s goes with expect = 'safe_state' (how soon LINK_LOST "
                            "must be entered), and only with it")
    if within is not None:
        within = _typed(within, 0.0, "expect_within_s", label)
        if not 0 < within <= max_time_s:
            raise ScenarioError(f"{label}: expect_within_s must be in (0, max_time_s], got {within!r}")
    requirements = doc.get("requirements", [])
    if not isinstance(requirements, list) or not all(isinstance(r, str) and r.strip() for r in requirements):
        raise ScenarioError(f"{label}: requirements must be a list of requirement ids, got {requirements!r}")
    timing = doc.get("timing")
    if timing not in (None, "lockstep", "realtime"):
        raise ScenarioError(f"{label}: timing must be 'lockstep' or 'realtime', got {timing!r}")
    if expect == "safe_state" and timing != "realtime":
        raise ScenarioError(f"{label}: expect = 'safe_state' needs timing = 'realtime' (the device's watchdog "
                            "runs in real time only)")
    roots = {"plant": params, "initial": initial}
    dispersions = {}
    for path, spec in _table(doc.get("dispersions", {}), "dispersions", label).items():
        try:
            dispersions[path] = dispersion.parse(path, spec, roots)
        except DispersionError as exc:
            raise ScenarioError(f"{label}: {exc.where} {exc.reason}") from None
    try:
        faults = parse_faults(doc.get("faults", []), label, max_time_s=max_time_s)
    except FaultError as exc:
        raise ScenarioError(str(exc)) from None
    return Scenario(name=name, description=description, params=params, initial=initial,
                    seed=seed, max_time_s=max_time_s, controller=controller, expect=expect,
                    expect_why=expect_why, expect_within_s=within, timing=timing, dispersions=dispersions,
                    faults=faults, requirements=tuple(requirements))


def _build(cls: type, table: object, where: str, label: str):
    """Instantiate dataclass cls from a TOML table, checking names, types and ranges."""
    table = _table(table, where, label)
    defaults = cls()
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in table.items():
        if key not in names:
            raise ScenarioError(f"{label}: unknown field {where}.{key}")
        default = getattr(defaults, key)
        if dataclasses.is_dataclass(default):
            kwargs[key] = _build(type(default), value, f"{where}.{key}", label)
        else:
            kwargs[key] = _typed(value, default, f"{where}.{key}", label)
    try:
        return cls(**kwargs)
    except ParamError as exc:
        raise ScenarioError(f"{label}: {where}.{exc.field} {exc.reason}") from None


def _table(value: object, where: str, label: str) -> dict:
    if not isinstance(value, dict):
        raise ScenarioError(f"{label}: {where} must be a table, got {value!r}")
    return value


def _typed(value: object, default: object, where: str, label: str):
    """Check value against the type of its default; ints are accepted for floats, bools never
    count as numbers."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        kind = "true or false"
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        kind = "an integer"
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value):
                return float(value)
            kind = "a finite number"
        else:
            kind = "a number"
    else:
        if isinstance(value, str):
            return value
        kind = "a string"
    raise ScenarioError(f"{label}: {where} must be {kind}, got {value!r}")
