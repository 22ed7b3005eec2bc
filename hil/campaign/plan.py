"""A campaign as data, and its case table: generated in full before anything flies.

A case is one landing: a sweep point (one value of each swept parameter) and a draw (one value
of each dispersed parameter). Its seed comes from the campaign seed and the draw index, never
from the worker that flies it, and every value it flies is in the table, so a case re-flies alone
(`hil land --campaign DIR --case N`) and gives the same landing. Every sweep point flies the same
draws (common random numbers): two points differ by the swept values, not by luck.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np

from hil import icd
from hil.errors import ConfigError
from hil.rig import check_controller_table
from hil.run import NOTHING, Outputs, Run, criteria_for
from hil.verdict import Criterion
from plant import dispersion
from plant.dispersion import Dispersion, DispersionError
from plant.params import ParamError
from plant.scenario import Scenario

DISPERSION_STREAM = 0xD15B   # the case's dispersion draws: generator seeded by (case seed, this)
CONTROLLER = "controller."   # a swept config register: "controller.kp_vz" (on the command line "kp_vz")
MAX_CASES = 1_000_000


@dataclass(frozen=True)
class Sweep:
    """A grid axis: a plant or initial-state path, or a controller config register."""

    path: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Case:
    index: int
    point: int       # which sweep point (0 without sweeps)
    draw: int        # which dispersion draw; the same draw at every sweep point
    seed: int
    inputs: tuple[tuple[str, float], ...]   # every dispersed and swept value, by path

    def value(self, path: str) -> float:
        return dict(self.inputs)[path]


@dataclass(frozen=True)
class Campaign:
    """What to fly: a scenario's dispersions (and the extra ones given), `runs` draws at each
    sweep point, judged against `target` P(pass) at `confidence`."""

    scenario: Scenario
    runs: int
    seed: int = 0
    sweeps: tuple[Sweep, ...] = ()
    target: float = 0.99
    confidence: float = 0.95
    controller: tuple[tuple[str, float], ...] = ()     # fixed config overrides of every case
    criteria: tuple[Criterion, ...] | None = None       # None: the scenario's (hil.run.criteria_for)
    sprt: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.runs, bool) or not isinstance(self.runs, int) or self.runs < 1:
            raise ConfigError(f"runs must be a whole number >= 1, got {self.runs!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"campaign seed must be a whole number >= 0, got {self.seed!r}")
        for what in ("target", "confidence"):
            value = getattr(self, what)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 < value < 1.0:
                raise ConfigError(f"{what} must be a probability strictly between 0 and 1, got {value!r}")
        if isinstance(self.controller, dict):
            object.__setattr__(self, "controller", tuple(sorted(self.controller.items())))
        check_controller_table(dict(self.controller), "campaign controller overrides")
        if not self.name:
            object.__setattr__(self, "name", self.scenario.name)
        if self.size > MAX_CASES:
            raise ConfigError(f"{self.size} cases is more than a campaign holds ({MAX_CASES})")

    @property
    def points(self) -> int:
        return math.prod(len(s.values) for s in self.sweeps)

    @property
    def size(self) -> int:
        return self.points * self.runs

    def judged_by(self) -> tuple[Criterion, ...]:
        return tuple(self.criteria) if self.criteria is not None else tuple(criteria_for(self.scenario))

    def run_for(self, case: Case, outputs: Outputs = NOTHING) -> Run:
        """The Run that flies one case: its values set in the scenario and the config block."""
        scenario, controller = apply_inputs(self.scenario, case.inputs)
        overrides = dict(self.controller)
        overrides.update(controller)
        return Run(scenario, case.seed, None, self.judged_by(), tuple(sorted(overrides.items())), None, (), outputs)


def case_seed(campaign_seed: int, draw: int) -> int:
    """The seed of a draw: from the campaign seed and the draw index alone (a 32-bit number)."""
    return int(np.random.SeedSequence([campaign_seed, draw]).generate_state(1)[0])


def cases(campaign: Campaign) -> list[Case]:
    """The whole case table, in case order: sweep points outermost, draws inside."""
    draws = [draw_values(campaign, d) for d in range(campaign.runs)]
    grid = list(itertools.product(*(s.values for s in campaign.sweeps))) or [()]
    table = []
    for point, values in enumerate(grid):
        swept = tuple((s.path, float(v)) for s, v in zip(campaign.sweeps, values))
        for d, (seed, drawn) in enumerate(draws):
            table.append(Case(len(table), point, d, seed, drawn + swept))
    return table


def draw_values(campaign: Campaign, draw: int) -> tuple[int, tuple[tuple[str, float], ...]]:
    """A draw's seed and its dispersed values, in sorted path order (one generator call each).
    A draw its parameter refuses (a negative mass from a wide normal) is refused here, before
    anything flies, rather than silently redrawn."""
    scenario = campaign.scenario
    seed = case_seed(campaign.seed, draw)
    rng = np.random.default_rng([seed, DISPERSION_STREAM])
    roots = {"plant": scenario.params, "initial": scenario.initial}
    values = []
    for path in sorted(scenario.dispersions):
        value = scenario.dispersions[path].sample(rng)
        try:
            dispersion.replaced(roots, path, value)
        except ParamError as exc:
            raise ConfigError(f"campaign {campaign.name}: draw {draw} (seed {seed}) gives {path} = {value!r}, "
                              f"which is out of range ({exc.reason}); narrow the dispersion") from None
        values.append((path, value))
    return seed, tuple(values)


def apply_inputs(scenario: Scenario, inputs) -> tuple[Scenario, dict[str, float]]:
    """The scenario with the plant and initial values set, and the controller values apart."""
    roots = {"plant": scenario.params, "initial": scenario.initial}
    controller = {}
    for path, value in inputs:
        if path.startswith(CONTROLLER):
            controller[path[len(CONTROLLER):]] = value
            continue
        try:
            roots[path.split(".")[0]] = dispersion.replaced(roots, path, value)
        except ParamError as exc:
            raise ConfigError(f"{path} = {value!r} is out of range: {exc.reason}") from None
    return replace(scenario, params=roots["plant"], initial=roots["initial"]), controller


def read_back(result, path: str) -> float:
    """The value a flown landing actually used: from the plant it flew (plant.*, initial.*) or
    from the config block written to the device and read back (controller.*)."""
    if path.startswith(CONTROLLER):
        return float(result.summary["controller_config"][path[len(CONTROLLER):]])
    root, *parts = path.split(".")
    obj = result.plant_params if root == "plant" else result.plant_initial
    for part in parts:
        obj = getattr(obj, part)
    return float(obj)


# -- parsing what the command line and files give ---------------------------------------------------

def parse_sweep(text: str, scenario: Scenario) -> Sweep:
    """`NAME=START:STOP:COUNT` (COUNT evenly spaced values) or `NAME=V1,V2,...`. NAME is a config
    register (kp_vz) or a plant or initial-state path (plant.engine.thrust_bias). Each value must
    be one the parameter accepts."""
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    where = f"--sweep {text!r}"
    if not sep or not name or not spec:
        raise ConfigError(f"{where}: give NAME=START:STOP:COUNT or NAME=V1,V2,... (e.g. kp_vz=2:6:5)")
    try:
        if ":" in spec:
            start, stop, count = spec.split(":")
            start, stop, n = float(start), float(stop), int(count)
        else:
            values = tuple(float(v) for v in spec.split(","))
    except ValueError:
        raise ConfigError(f"{where}: {spec!r} is not START:STOP:COUNT or a comma-separated list of numbers") from None
    if ":" in spec:
        if n < 1 or stop < start or (n == 1 and stop != start):
            raise ConfigError(f"{where}: the range is empty (START <= STOP and COUNT >= 1, "
                              "COUNT 1 only when START = STOP)")
        values = tuple(float(v) for v in np.linspace(start, stop, n))
    if not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{where}: values must be finite numbers")
    if len(set(values)) != len(values):
        raise ConfigError(f"{where}: a value appears twice")
    path = name if name.startswith(("plant.", "initial.")) else CONTROLLER + name.removeprefix(CONTROLLER)
    check_values(path, values, scenario, where)
    return Sweep(path, values)


def check_values(path: str, values, scenario: Scenario, where: str) -> None:
    """Every value is one the named parameter accepts (a config register's ICD limits, a plant
    parameter's checks); ConfigError naming what is wrong otherwise."""
    if path.startswith(CONTROLLER):
        register = path[len(CONTROLLER):]
        if register not in icd.CONFIG.names:
            raise ConfigError(f"{where}: {register!r} is no controller config register or plant parameter "
                              f"(plant and initial-state paths start with 'plant.' or 'initial.')")
        for value in values:
            check_controller_table({register: value}, where)
        return
    roots = {"plant": scenario.params, "initial": scenario.initial}
    try:
        dispersion.nominal_value(path, roots)
    except DispersionError as exc:
        raise ConfigError(f"{where}: {exc.reason}") from None
    for value in values:
        try:
            dispersion.replaced(roots, path, value)
        except ParamError as exc:
            raise ConfigError(f"{where}: {path} = {value!r} is out of range: {exc.reason}") from None


def with_dispersions(scenario: Scenario, table: dict, label: str) -> Scenario:
    """The scenario with a [dispersions] table merged over its own (a campaign's --dispersions
    file): each entry is checked as the scenario loader checks its own."""
    roots = {"plant": scenario.params, "initial": scenario.initial}
    merged = dict(scenario.dispersions)
    for path, spec in table.items():
        try:
            merged[path] = dispersion.parse(path, spec, roots)
        except DispersionError as exc:
            raise ConfigError(f"{label}: {exc}") from None
    return replace(scenario, dispersions=merged)


def describe(d: Dispersion) -> str:
    """One dispersion as a short text: normal(mean, sigma) or uniform(low, high)."""
    if d.dist == "normal":
        return f"normal(mean {d.mean:g}, sigma {d.sigma:g})"
    return f"uniform({d.low:g}, {d.high:g})"


def controller_overrides(pairs: list[str]) -> dict[str, float]:
    """--controller NAME=VALUE, repeatable."""
    table = {}
    for text in pairs:
        name, sep, value = text.partition("=")
        try:
            table[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--controller {text!r}: give NAME=VALUE with a number") from None
        if not sep:
            raise ConfigError(f"--controller {text!r}: give NAME=VALUE")
    return check_controller_table(table, "--controller")


__all__ = ["Campaign", "Case", "Sweep", "apply_inputs", "case_seed", "cases", "check_values", "controller_overrides",
           "describe", "parse_sweep", "read_back", "with_dispersions"]
